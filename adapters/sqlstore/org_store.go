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

// OrgStore persists organizations. An organization is the tenant itself:
// reading one is scoped to it, like any row of its own; creating one is
// the one unscoped call, since the tenant does not exist before it.
type OrgStore struct {
	c conn
}

type orgRow struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
}

// orgFromRow rebuilds an organization from its stored row, without
// re-running the constructor's validation: stored rows are trusted.
func orgFromRow(r orgRow) *domain.Organization {
	return &domain.Organization{ID: domain.OrgID(r.ID), Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

// Create inserts org and sets its ID. Unscoped: no tenant is known before
// its id is. Under row-level security the application role may not
// insert organizations at all; taskflow_create_organization
// (migrations/postgres/00006) is its one narrow way to, inserting one new
// organization and nothing else. Whatever the caller does next in the
// organization (its first invite) is scoped to the id returned here.
func (s *OrgStore) Create(ctx context.Context, org *domain.Organization) error {
	org.CreatedAt = dbTime(org.CreatedAt)
	query := `INSERT INTO organizations (name, created_at) VALUES (?, ?) RETURNING id`
	if s.c.db.rls != nil {
		query = `SELECT taskflow_create_organization(?, ?)`
	}
	err := s.c.unscoped(ctx, writesOnce, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &org.ID, query, org.Name, org.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("org store: create: %w", err)
	}
	return nil
}

// Get returns the organization id, or domain.ErrOrgNotFound.
func (s *OrgStore) Get(ctx context.Context, id domain.OrgID) (*domain.Organization, error) {
	var r orgRow
	err := s.c.scoped(ctx, id, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r, `SELECT id, name, created_at FROM organizations WHERE id = ?`, id)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrOrgNotFound
	case err != nil:
		return nil, fmt.Errorf("org store: get: %w", err)
	}
	return orgFromRow(r), nil
}

// lockOrg takes the organization's row lock that serializes the changes
// able to remove its last ADMIN (demotion, removal). On Postgres it is FOR
// NO KEY UPDATE rather than FOR UPDATE: it conflicts with itself, which is
// all we need, but not with the key-share locks that inserting users and
// tasks takes on the row through their foreign keys, so those keep
// flowing meanwhile. (On SQLite the write transaction holds the whole
// database already.) An absent organization is reported as absent. q is
// the caller's transaction, scoped to org.
func (c conn) lockOrg(ctx context.Context, q sqlx.ExtContext, org domain.OrgID) (found bool, err error) {
	var id int64
	err = c.get(ctx, q, &id, c.db.lock(`SELECT id FROM organizations WHERE id = ?`, "NO KEY UPDATE"), org)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("lock organization: %w", err)
	}
	return true, nil
}
