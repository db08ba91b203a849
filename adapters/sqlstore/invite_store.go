package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
)

// InviteStore persists invites, found by the hash of their code.
type InviteStore struct {
	c conn
}

// invitesOrgFKey is the invites table's foreign key to its organization.
// (The one to its creator cannot fail: Create checks the creator first,
// under a lock.)
const invitesOrgFKey = "invites_organization_id_fkey"

const inviteColumns = `organization_id, id, code_hash, role, email, expires_at, created_at, used_at, created_by`

type inviteRow struct {
	OrgID     int64          `db:"organization_id"`
	ID        int64          `db:"id"`
	CodeHash  string         `db:"code_hash"`
	Role      string         `db:"role"`
	Email     sql.NullString `db:"email"`
	ExpiresAt time.Time      `db:"expires_at"`
	CreatedAt time.Time      `db:"created_at"`
	UsedAt    sql.NullTime   `db:"used_at"`
	CreatedBy sql.NullInt64  `db:"created_by"`
}

// inviteFromRow rebuilds an invite from its stored row. A NULL email is
// the domain's empty one (anyone may use the code).
func inviteFromRow(r inviteRow) *domain.Invite {
	inv := &domain.Invite{
		ID:        r.ID,
		OrgID:     domain.OrgID(r.OrgID),
		CodeHash:  r.CodeHash,
		Role:      domain.Role(r.Role),
		Email:     r.Email.String,
		ExpiresAt: r.ExpiresAt.UTC(),
		CreatedAt: r.CreatedAt.UTC(),
	}
	if r.UsedAt.Valid {
		at := r.UsedAt.Time.UTC()
		inv.UsedAt = &at
	}
	if r.CreatedBy.Valid {
		by := domain.UserID(r.CreatedBy.Int64)
		inv.CreatedBy = &by
	}
	return inv
}

// Create inserts inv and sets its ID, and its code's lookup row in the
// same transaction. An invite with a creator is made
// only while the creator is an ADMIN of its organization: the check reads
// the member's row under a share lock held until the transaction ends, so
// a demotion or a removal (which lock that row to change it) either comes
// after the invite and revokes it, or before and is seen here. A creator
// who is no ADMIN is domain.ErrForbidden; no member, domain.ErrUserNotFound.
func (s *InviteStore) Create(ctx context.Context, inv *domain.Invite) error {
	inv.ExpiresAt = dbTime(inv.ExpiresAt)
	inv.CreatedAt = dbTime(inv.CreatedAt)
	var usedAt *time.Time
	if inv.UsedAt != nil {
		at := dbTime(*inv.UsedAt)
		inv.UsedAt, usedAt = &at, &at
	}
	var createdBy sql.NullInt64
	if inv.CreatedBy != nil {
		createdBy = sql.NullInt64{Int64: int64(*inv.CreatedBy), Valid: true}
	}
	err := s.c.scoped(ctx, inv.OrgID, atomically, func(q sqlx.ExtContext) error {
		if inv.CreatedBy != nil {
			if err := s.c.requireAdmin(ctx, q, inv.OrgID, *inv.CreatedBy); err != nil {
				return err
			}
		}
		if err := s.c.get(ctx, q, &inv.ID,
			`INSERT INTO invites (organization_id, code_hash, role, email, expires_at, created_at, used_at, created_by)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			inv.OrgID, inv.CodeHash, inv.Role, sql.NullString{String: inv.Email, Valid: inv.Email != ""},
			inv.ExpiresAt, inv.CreatedAt, usedAt, createdBy); err != nil {
			return err
		}
		return s.c.addLookup(ctx, q, inviteCodeLookup, "?", inv.CodeHash, inv.OrgID, inv.ID)
	})
	switch {
	case s.c.violates(err, ViolationForeignKey, invitesOrgFKey, true):
		return domain.ErrOrgNotFound
	case err != nil:
		return wrapInfra("invite store: create", err)
	}
	return nil
}

// requireAdmin returns nil when member is an ADMIN of org, holding a share
// lock on their row until the transaction ends.
func (c conn) requireAdmin(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, member domain.UserID) error {
	var role string
	err := c.get(ctx, q, &role,
		c.db.lock(`SELECT role FROM users WHERE organization_id = ? AND id = ?`, "SHARE"), org, member)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return domain.ErrUserNotFound
	case err != nil:
		return fmt.Errorf("check the creator's role: %w", err)
	case domain.Role(role) != domain.RoleAdmin:
		return domain.ErrForbidden
	}
	return nil
}

// ByCodeHash finds an invite, used or not, by the hash of its code. It is
// not scoped by organization: sign-up learns the organization from the
// invite itself. The hash of a random code identifies one invite only.
// The code's lookup row (see lookup.go) names the invite's organization
// and id. Row-level security shows no invite to a transaction not yet
// confined to an organization; taskflow_invite_by_code_hash
// (migrations/postgres/00006, 00019) is the narrow path it opens on
// purpose for sign-up: the one lookup row and the one invite with that
// hash, read only. Redeeming it
// (MarkUsed, and creating the user) is scoped to the invite's
// organization.
func (s *InviteStore) ByCodeHash(ctx context.Context, codeHash string) (*domain.Invite, error) {
	query := `SELECT i.organization_id, i.id, i.code_hash, i.role, i.email, i.expires_at, i.created_at, i.used_at, i.created_by
		FROM invite_code_lookup l JOIN invites i ON i.organization_id = l.organization_id AND i.id = l.invite_id
		WHERE l.code_hash = ?`
	if s.c.db.rls != nil {
		query = `SELECT ` + inviteColumns + ` FROM taskflow_invite_by_code_hash(?)`
	}
	var r inviteRow
	err := s.c.unscoped(ctx, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r, query, codeHash)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrInviteNotFound
	case err != nil:
		return nil, fmt.Errorf("invite store: by code hash: %w", err)
	}
	return inviteFromRow(r), nil
}

// MarkUsed marks an unused invite used at at. The used_at IS NULL guard
// makes this the single point where two racing sign-ups with one code are
// told apart: only one UPDATE matches. An invite already used, absent, or
// of another organization is domain.ErrInviteInvalid.
func (s *InviteStore) MarkUsed(ctx context.Context, org domain.OrgID, id int64, at time.Time) error {
	var n int64
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) (err error) {
		n, err = s.c.exec(ctx, q,
			`UPDATE invites SET used_at = ? WHERE organization_id = ? AND id = ? AND used_at IS NULL`,
			dbTime(at), org, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("invite store: mark used: %w", err)
	}
	if n == 0 {
		return domain.ErrInviteInvalid
	}
	return nil
}

// ListUsable returns the organization's unused invites that expire after
// now, oldest first.
func (s *InviteStore) ListUsable(ctx context.Context, org domain.OrgID, now time.Time) ([]domain.Invite, error) {
	var rows []inviteRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &rows,
			`SELECT `+inviteColumns+` FROM invites
			 WHERE organization_id = ? AND used_at IS NULL AND expires_at > ? ORDER BY id`,
			org, dbTime(now))
	})
	if err != nil {
		return nil, fmt.Errorf("invite store: list usable: %w", err)
	}
	out := make([]domain.Invite, len(rows))
	for i, r := range rows {
		out[i] = *inviteFromRow(r)
	}
	return out, nil
}

// Delete removes an unused invite of org, and its code's lookup row. A used one stays, as the record
// of a sign-up, and is domain.ErrInviteNotFound like an absent one.
func (s *InviteStore) Delete(ctx context.Context, org domain.OrgID, id int64) (*domain.Invite, error) {
	var r inviteRow
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		if err := s.c.get(ctx, q, &r,
			`DELETE FROM invites WHERE organization_id = ? AND id = ? AND used_at IS NULL RETURNING `+inviteColumns, org, id); err != nil {
			return err
		}
		return s.c.dropLookups(ctx, q, inviteCodeLookup, org, []string{r.CodeHash})
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrInviteNotFound
	case err != nil:
		return nil, fmt.Errorf("invite store: delete: %w", err)
	}
	return inviteFromRow(r), nil
}

// DeleteUnusedBy removes the unused invites member made in org, and their
// codes' lookup rows.
func (s *InviteStore) DeleteUnusedBy(ctx context.Context, org domain.OrgID, member domain.UserID) error {
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		var codes []string
		if err := s.c.sel(ctx, q, &codes,
			`DELETE FROM invites WHERE organization_id = ? AND created_by = ? AND used_at IS NULL RETURNING code_hash`,
			org, member); err != nil {
			return err
		}
		return s.c.dropLookups(ctx, q, inviteCodeLookup, org, codes)
	})
	if err != nil {
		return fmt.Errorf("invite store: delete unused by member: %w", err)
	}
	return nil
}
