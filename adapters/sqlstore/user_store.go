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

// UserStore persists the members of organizations.
type UserStore struct {
	c conn
}

// usersOrgFKey is the users table's one foreign key, matched on errors.
const usersOrgFKey = "users_organization_id_fkey"

const userColumns = `organization_id, id, email, password_hash, role, created_at`

type userRow struct {
	OrgID        int64     `db:"organization_id"`
	ID           int64     `db:"id"`
	Email        string    `db:"email"`
	PasswordHash string    `db:"password_hash"`
	Role         string    `db:"role"`
	CreatedAt    time.Time `db:"created_at"`
}

// userFromRow rebuilds a user from its stored row, without re-running
// validation: stored rows are trusted.
func userFromRow(r userRow) *domain.User {
	return &domain.User{
		ID:           domain.UserID(r.ID),
		OrgID:        domain.OrgID(r.OrgID),
		Email:        r.Email,
		PasswordHash: r.PasswordHash,
		Role:         domain.Role(r.Role),
		CreatedAt:    r.CreatedAt.UTC(),
	}
}

// Create inserts u and sets its ID, and its email's lookup row in the
// same transaction. The lookup table's primary key on the lower-cased
// email, not a prior lookup, decides whether the email is taken in any
// organization: of two racing sign-ups with one email, the second insert
// waits for the first to commit and then fails.
func (s *UserStore) Create(ctx context.Context, u *domain.User) error {
	u.CreatedAt = dbTime(u.CreatedAt)
	err := s.c.scoped(ctx, u.OrgID, atomically, func(q sqlx.ExtContext) error {
		if err := s.c.get(ctx, q, &u.ID,
			`INSERT INTO users (organization_id, email, password_hash, role, created_at)
			 VALUES (?, ?, ?, ?, ?) RETURNING id`,
			u.OrgID, u.Email, u.PasswordHash, u.Role, u.CreatedAt); err != nil {
			return err
		}
		return s.c.addLookup(ctx, q, userEmailLookup, "lower(?)", u.Email, u.OrgID, int64(u.ID))
	})
	switch {
	case s.c.violates(err, ViolationUnique, userEmailLookupPKey, false):
		return domain.ErrEmailTaken
	case s.c.violates(err, ViolationForeignKey, usersOrgFKey, true):
		return domain.ErrOrgNotFound
	case err != nil:
		return fmt.Errorf("user store: create: %w", err)
	}
	return nil
}

// ByEmail finds a user by email in any case. It is the one user query not
// scoped by organization: it serves login, which is how the organization
// becomes known. The email's lookup row (see lookup.go) names the user's
// organization and id, and the user is read by its primary key. Row-level
// security shows no user to a transaction not yet confined to an
// organization; taskflow_user_by_email (migrations/postgres/00006, 00019)
// is the narrow path it opens on purpose for login: the one lookup row
// and the one user with the given email, read only.
func (s *UserStore) ByEmail(ctx context.Context, email string) (*domain.User, error) {
	query := `SELECT u.organization_id, u.id, u.email, u.password_hash, u.role, u.created_at
		FROM user_email_lookup l JOIN users u ON u.organization_id = l.organization_id AND u.id = l.user_id
		WHERE l.email = lower(?)`
	if s.c.db.rls != nil {
		query = `SELECT ` + userColumns + ` FROM taskflow_user_by_email(?)`
	}
	var r userRow
	err := s.c.unscoped(ctx, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r, query, email)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrUserNotFound
	case err != nil:
		return nil, fmt.Errorf("user store: by email: %w", err)
	}
	return userFromRow(r), nil
}

// Get returns a member of org; a user of another organization is
// domain.ErrUserNotFound.
func (s *UserStore) Get(ctx context.Context, org domain.OrgID, id domain.UserID) (*domain.User, error) {
	var u *domain.User
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) (err error) {
		u, err = s.c.getUser(ctx, q, org, id, false)
		return err
	})
	if err != nil {
		return nil, wrapInfra("user store: get", err)
	}
	return u, nil
}

func (c conn) getUser(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.UserID, forUpdate bool) (*domain.User, error) {
	query := `SELECT ` + userColumns + ` FROM users WHERE organization_id = ? AND id = ?`
	if forUpdate {
		query = c.db.lock(query, "UPDATE")
	}
	var r userRow
	err := c.get(ctx, q, &r, query, org, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrUserNotFound
	case err != nil:
		return nil, err
	}
	return userFromRow(r), nil
}

// List returns the organization's members, oldest first (ids grow with
// every insert).
func (s *UserStore) List(ctx context.Context, org domain.OrgID) ([]domain.User, error) {
	var rows []userRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &rows, `SELECT `+userColumns+` FROM users WHERE organization_id = ? ORDER BY id`, org)
	})
	if err != nil {
		return nil, fmt.Errorf("user store: list: %w", err)
	}
	users := make([]domain.User, 0, len(rows))
	for _, r := range rows {
		users = append(users, *userFromRow(r))
	}
	return users, nil
}

// SetRole changes a member's role. Demoting the last ADMIN is
// domain.ErrLastAdmin.
func (s *UserStore) SetRole(ctx context.Context, org domain.OrgID, id domain.UserID, role domain.Role) (*domain.User, error) {
	var out *domain.User
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		u, err := s.c.lockMember(ctx, q, org, id)
		if err != nil {
			return err
		}
		if u.Role == domain.RoleAdmin && role != domain.RoleAdmin {
			if err := s.c.requireOtherAdmin(ctx, q, org, id); err != nil {
				return err
			}
		}
		var r userRow
		err = s.c.get(ctx, q, &r,
			`UPDATE users SET role = ? WHERE organization_id = ? AND id = ? RETURNING `+userColumns,
			role, org, id)
		if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		out = userFromRow(r)
		return nil
	})
	if err != nil {
		return nil, wrapInfra("user store: set role", err)
	}
	return out, nil
}

// Delete removes a member. Removing the last ADMIN is domain.ErrLastAdmin.
// Their tasks become unassigned. On Postgres the foreign key's ON DELETE
// SET NULL would do that alone, but it would leave the tasks' version
// (their ETag) as it was although they changed, so a client holding the
// old ETag could overwrite the change unknowingly; the tasks are therefore
// unassigned here first, with their version moved on. (On SQLite the
// foreign key has no ON DELETE action and relies on this.)
func (s *UserStore) Delete(ctx context.Context, org domain.OrgID, id domain.UserID) (*domain.User, []domain.Task, error) {
	var (
		removed    *domain.User
		unassigned []domain.Task
	)
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		u, err := s.c.lockMember(ctx, q, org, id)
		if err != nil {
			return err
		}
		if u.Role == domain.RoleAdmin {
			if err := s.c.requireOtherAdmin(ctx, q, org, id); err != nil {
				return err
			}
		}
		// updated_at is the database's current time (on Postgres, the
		// transaction's start): the store has no clock of its own, and
		// this is the moment the change happened.
		var ids []int64
		if err := s.c.sel(ctx, q, &ids,
			`UPDATE tasks SET assignee_id = NULL, version = version + 1, updated_at = `+s.c.db.d.Now()+`
			 WHERE organization_id = ? AND assignee_id = ? RETURNING id`, org, id); err != nil {
			return fmt.Errorf("unassign tasks: %w", err)
		}
		if unassigned, err = s.c.tasksByID(ctx, q, org, ids); err != nil {
			return fmt.Errorf("read unassigned tasks: %w", err)
		}
		if err := s.c.dropMemberLookups(ctx, q, u); err != nil {
			return err
		}
		if _, err := s.c.exec(ctx, q, `DELETE FROM users WHERE organization_id = ? AND id = ?`, org, id); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		removed = u
		return nil
	})
	if err != nil {
		return nil, nil, wrapInfra("user store: delete", err)
	}
	return removed, unassigned, nil
}

// dropMemberLookups deletes the lookup rows of a member about to be
// removed: their email's, which frees the email for a new sign-up, and
// those of the invites and API keys their removal takes along (the
// foreign keys cascade to the rows, never to a lookup table).
func (c conn) dropMemberLookups(ctx context.Context, q sqlx.ExtContext, u *domain.User) error {
	if _, err := c.exec(ctx, q,
		`DELETE FROM user_email_lookup WHERE email = lower(?) AND organization_id = ? AND user_id = ?`,
		u.Email, u.OrgID, u.ID); err != nil {
		return fmt.Errorf("delete the email lookup: %w", err)
	}
	var codes, keys []string
	if err := c.sel(ctx, q, &codes,
		`SELECT code_hash FROM invites WHERE organization_id = ? AND created_by = ?`, u.OrgID, u.ID); err != nil {
		return fmt.Errorf("read the member's invites: %w", err)
	}
	if err := c.dropLookups(ctx, q, inviteCodeLookup, u.OrgID, codes); err != nil {
		return fmt.Errorf("delete the invite lookups: %w", err)
	}
	if err := c.sel(ctx, q, &keys,
		`SELECT key_hash FROM api_keys WHERE organization_id = ? AND user_id = ?`, u.OrgID, u.ID); err != nil {
		return fmt.Errorf("read the member's api keys: %w", err)
	}
	if err := c.dropLookups(ctx, q, apiKeyLookup, u.OrgID, keys); err != nil {
		return fmt.Errorf("delete the api key lookups: %w", err)
	}
	return nil
}

// lockMember locks the organization (see lockOrg), then the member's row,
// and returns the member. Every change that can remove an ADMIN goes
// through here, so such changes in one organization happen one at a time
// and each sees the roles the previous one left.
func (c conn) lockMember(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.UserID) (*domain.User, error) {
	found, err := c.lockOrg(ctx, q, org)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, domain.ErrUserNotFound
	}
	u, err := c.getUser(ctx, q, org, id, true)
	if err != nil && !errors.Is(err, domain.ErrUserNotFound) {
		return nil, fmt.Errorf("lock user: %w", err)
	}
	return u, err
}

// requireOtherAdmin returns domain.ErrLastAdmin unless the organization has
// an ADMIN other than id. Callers hold the organization lock, so the
// answer stays true until they commit.
func (c conn) requireOtherAdmin(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.UserID) error {
	var ok bool
	err := c.get(ctx, q, &ok,
		`SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = ? AND role = 'ADMIN' AND id <> ?)`,
		org, id)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if !ok {
		return domain.ErrLastAdmin
	}
	return nil
}

// SetPassword replaces a member's password hash.
func (s *UserStore) SetPassword(ctx context.Context, org domain.OrgID, id domain.UserID, hash string) error {
	var n int64
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) (err error) {
		n, err = s.c.exec(ctx, q, `UPDATE users SET password_hash = ? WHERE organization_id = ? AND id = ?`, hash, org, id)
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("user store: set password: %w", err)
	case n == 0:
		return domain.ErrUserNotFound
	}
	return nil
}

// ReplacePasswordHash stores newHash while the stored hash is oldHash. The
// condition is in the UPDATE itself: a password change that commits
// between the login's check and this write is never overwritten with the
// old password's hash.
func (s *UserStore) ReplacePasswordHash(ctx context.Context, org domain.OrgID, id domain.UserID, oldHash, newHash string) error {
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) error {
		_, err := s.c.exec(ctx, q,
			`UPDATE users SET password_hash = ? WHERE organization_id = ? AND id = ? AND password_hash = ?`,
			newHash, org, id, oldHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("user store: replace password hash: %w", err)
	}
	return nil
}
