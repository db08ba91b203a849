package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq/pqerror"

	"github.com/taskflow/taskflow/domain"
)

// UserStore persists the members of organizations.
type UserStore struct {
	c conn
}

// NewUserStore returns a UserStore over the pool db.
func NewUserStore(db *sqlx.DB) *UserStore {
	return &UserStore{c: conn{db: db}}
}

// Constraint names from migrations/postgres, matched on errors.
const (
	usersEmailKey = "users_email_lower_key"
	usersOrgFKey  = "users_organization_id_fkey"
)

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

// Create inserts u and sets its ID. The unique index on lower(email), not
// a prior lookup, decides whether the email is taken: two racing sign-ups
// cannot both pass.
func (s *UserStore) Create(ctx context.Context, u *domain.User) error {
	u.CreatedAt = dbTime(u.CreatedAt)
	err := sqlx.GetContext(ctx, s.c.ext(), &u.ID,
		`INSERT INTO users (organization_id, email, password_hash, role, created_at)
		 VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		u.OrgID, u.Email, u.PasswordHash, u.Role, u.CreatedAt)
	switch {
	case violates(err, pqerror.UniqueViolation, usersEmailKey):
		return domain.ErrEmailTaken
	case violates(err, pqerror.ForeignKeyViolation, usersOrgFKey):
		return domain.ErrOrgNotFound
	case err != nil:
		return fmt.Errorf("user store: create: %w", err)
	}
	return nil
}

// ByEmail finds a user by email in any case. It is the one user query not
// scoped by organization: it serves login, which is how the organization
// becomes known. Emails are unique across the service, so at most one row
// matches.
func (s *UserStore) ByEmail(ctx context.Context, email string) (*domain.User, error) {
	var r userRow
	err := sqlx.GetContext(ctx, s.c.ext(), &r,
		`SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email)
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
	u, err := getUser(ctx, s.c.ext(), org, id, false)
	if err != nil && !errors.Is(err, domain.ErrUserNotFound) {
		return nil, fmt.Errorf("user store: get: %w", err)
	}
	return u, err
}

func getUser(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.UserID, forUpdate bool) (*domain.User, error) {
	query := `SELECT ` + userColumns + ` FROM users WHERE organization_id = $1 AND id = $2`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var r userRow
	err := sqlx.GetContext(ctx, q, &r, query, org, id)
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
	err := sqlx.SelectContext(ctx, s.c.ext(), &rows,
		`SELECT `+userColumns+` FROM users WHERE organization_id = $1 ORDER BY id`, org)
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
	const op = "user store: set role"
	var out *domain.User
	err := s.c.inTx(ctx, func(q sqlx.ExtContext) error {
		u, err := lockMember(ctx, q, org, id)
		if err != nil {
			return err
		}
		if u.Role == domain.RoleAdmin && role != domain.RoleAdmin {
			if err := requireOtherAdmin(ctx, q, org, id); err != nil {
				return err
			}
		}
		var r userRow
		err = sqlx.GetContext(ctx, q, &r,
			`UPDATE users SET role = $3 WHERE organization_id = $1 AND id = $2 RETURNING `+userColumns,
			org, id, role)
		if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		out = userFromRow(r)
		return nil
	})
	if err != nil {
		return nil, wrapInfra(op, err)
	}
	return out, nil
}

// Delete removes a member. Removing the last ADMIN is domain.ErrLastAdmin.
// Their tasks become unassigned. The foreign key's ON DELETE SET NULL would
// do that alone, but it would leave the tasks' version (their ETag) as it
// was although they changed, so a client holding the old ETag could
// overwrite the change unknowingly; the tasks are therefore unassigned
// here first, with their version moved on.
func (s *UserStore) Delete(ctx context.Context, org domain.OrgID, id domain.UserID) error {
	const op = "user store: delete"
	err := s.c.inTx(ctx, func(q sqlx.ExtContext) error {
		u, err := lockMember(ctx, q, org, id)
		if err != nil {
			return err
		}
		if u.Role == domain.RoleAdmin {
			if err := requireOtherAdmin(ctx, q, org, id); err != nil {
				return err
			}
		}
		// updated_at takes the transaction's start time: the store has no
		// clock of its own, and this is the moment the change happened.
		if _, err := q.ExecContext(ctx,
			`UPDATE tasks SET assignee_id = NULL, version = version + 1, updated_at = now()
			 WHERE organization_id = $1 AND assignee_id = $2`, org, id); err != nil {
			return fmt.Errorf("unassign tasks: %w", err)
		}
		if _, err := q.ExecContext(ctx,
			`DELETE FROM users WHERE organization_id = $1 AND id = $2`, org, id); err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return nil
	})
	return wrapInfra(op, err)
}

// lockMember locks the organization (see lockOrg), then the member's row,
// and returns the member. Every change that can remove an ADMIN goes
// through here, so such changes in one organization happen one at a time
// and each sees the roles the previous one left.
func lockMember(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.UserID) (*domain.User, error) {
	found, err := lockOrg(ctx, q, org)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, domain.ErrUserNotFound
	}
	u, err := getUser(ctx, q, org, id, true)
	if err != nil && !errors.Is(err, domain.ErrUserNotFound) {
		return nil, fmt.Errorf("lock user: %w", err)
	}
	return u, err
}

// requireOtherAdmin returns domain.ErrLastAdmin unless the organization has
// an ADMIN other than id. Callers hold the organization lock, so the
// answer stays true until they commit.
func requireOtherAdmin(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.UserID) error {
	var ok bool
	err := sqlx.GetContext(ctx, q, &ok,
		`SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = $1 AND role = 'ADMIN' AND id <> $2)`,
		org, id)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if !ok {
		return domain.ErrLastAdmin
	}
	return nil
}
