package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.APIKeyStore = (*APIKeyStore)(nil)

// APIKeyStore persists API keys. The secret is never stored, only its
// hash, the primary key of api_key_lookup: the lookup on every
// key-authenticated request is two primary key probes (the lookup row,
// then the key by its organization and id).
type APIKeyStore struct {
	c conn
}

// apiKeysUserFKey is the api_keys table's one foreign key.
const apiKeysUserFKey = "api_keys_user_fkey" //nolint:gosec // G101: a constraint name, not a credential

const apiKeyColumns = `organization_id, id, user_id, name, prefix, key_hash, read_only, created_at, expires_at, last_used_at`

type apiKeyRow struct {
	OrgID      int64        `db:"organization_id"`
	ID         int64        `db:"id"`
	UserID     int64        `db:"user_id"`
	Name       string       `db:"name"`
	Prefix     string       `db:"prefix"`
	Hash       string       `db:"key_hash"`
	ReadOnly   bool         `db:"read_only"`
	CreatedAt  time.Time    `db:"created_at"`
	ExpiresAt  sql.NullTime `db:"expires_at"`
	LastUsedAt sql.NullTime `db:"last_used_at"`
}

func timeOrNil(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func apiKeyFromRow(r apiKeyRow) *domain.APIKey {
	return &domain.APIKey{
		ID:         domain.APIKeyID(r.ID),
		OrgID:      domain.OrgID(r.OrgID),
		UserID:     domain.UserID(r.UserID),
		Name:       r.Name,
		Prefix:     r.Prefix,
		Hash:       r.Hash,
		ReadOnly:   r.ReadOnly,
		CreatedAt:  r.CreatedAt.UTC(),
		ExpiresAt:  timeOrNil(r.ExpiresAt),
		LastUsedAt: timeOrNil(r.LastUsedAt),
	}
}

// Create inserts k and sets its ID, and its hash's lookup row in the same
// transaction.
func (s *APIKeyStore) Create(ctx context.Context, k *domain.APIKey) error {
	k.CreatedAt = dbTime(k.CreatedAt)
	k.ExpiresAt = dbTimePtr(k.ExpiresAt)
	expires := nullTime(k.ExpiresAt)
	err := s.c.scoped(ctx, k.OrgID, atomically, func(q sqlx.ExtContext) error {
		var id int64
		if err := s.c.get(ctx, q, &id,
			`INSERT INTO api_keys (organization_id, user_id, name, prefix, key_hash, read_only, created_at, expires_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			k.OrgID, k.UserID, k.Name, k.Prefix, k.Hash, k.ReadOnly, k.CreatedAt, expires); err != nil {
			return err
		}
		k.ID = domain.APIKeyID(id)
		return s.c.addLookup(ctx, q, apiKeyLookup, "?", k.Hash, k.OrgID, id)
	})
	switch {
	case s.c.violates(err, ViolationForeignKey, apiKeysUserFKey, true):
		return domain.ErrUserNotFound
	case err != nil:
		return wrapInfra("api key store: create", err)
	}
	return nil
}

// ByHash runs before the tenant is known: the hash's lookup row (see
// lookup.go) names the key's organization and id. Row-level security
// shows no key to a transaction not yet confined to an organization;
// taskflow_api_key_by_hash (migrations/postgres/00012, 00019) is the
// narrow path it opens on purpose: the one lookup row and the one key
// with the given hash, read only.
func (s *APIKeyStore) ByHash(ctx context.Context, hash string) (*domain.APIKey, error) {
	query := `SELECT k.organization_id, k.id, k.user_id, k.name, k.prefix, k.key_hash, k.read_only,
		       k.created_at, k.expires_at, k.last_used_at
		FROM api_key_lookup l JOIN api_keys k ON k.organization_id = l.organization_id AND k.id = l.api_key_id
		WHERE l.key_hash = ?`
	if s.c.db.rls != nil {
		query = `SELECT ` + apiKeyColumns + ` FROM taskflow_api_key_by_hash(?)`
	}
	var r apiKeyRow
	err := s.c.unscoped(ctx, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r, query, hash)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrAPIKeyNotFound
	case err != nil:
		return nil, wrapInfra("api key store: by hash", err)
	}
	return apiKeyFromRow(r), nil
}

// Principal reads the member and checks the key in one query.
func (s *APIKeyStore) Principal(ctx context.Context, org domain.OrgID, id domain.APIKeyID, now time.Time) (*domain.User, error) {
	var r userRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r,
			`SELECT u.organization_id, u.id, u.email, u.password_hash, u.role, u.created_at
			 FROM users u JOIN api_keys k ON k.organization_id = u.organization_id AND k.user_id = u.id
			 WHERE k.organization_id = ? AND k.id = ? AND (k.expires_at IS NULL OR k.expires_at > ?)`,
			org, id, dbTime(now))
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrUnauthenticated
	case err != nil:
		return nil, wrapInfra("api key store: principal", err)
	}
	return userFromRow(r), nil
}

// List returns org's keys, newest first.
func (s *APIKeyStore) List(ctx context.Context, org domain.OrgID, user domain.UserID) ([]*domain.APIKey, error) {
	query := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE organization_id = ?`
	args := []any{org}
	if user > 0 {
		query += ` AND user_id = ?`
		args = append(args, user)
	}
	query += ` ORDER BY id DESC`
	var rows []apiKeyRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &rows, query, args...)
	})
	if err != nil {
		return nil, wrapInfra("api key store: list", err)
	}
	keys := make([]*domain.APIKey, len(rows))
	for i, r := range rows {
		keys[i] = apiKeyFromRow(r)
	}
	return keys, nil
}

// Get returns one key of org.
func (s *APIKeyStore) Get(ctx context.Context, org domain.OrgID, id domain.APIKeyID) (*domain.APIKey, error) {
	var r apiKeyRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r, `SELECT `+apiKeyColumns+` FROM api_keys WHERE organization_id = ? AND id = ?`, org, id)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrAPIKeyNotFound
	case err != nil:
		return nil, wrapInfra("api key store: get", err)
	}
	return apiKeyFromRow(r), nil
}

// Delete removes one key of org, and its hash's lookup row.
func (s *APIKeyStore) Delete(ctx context.Context, org domain.OrgID, id domain.APIKeyID) error {
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		var hash string
		if err := s.c.get(ctx, q, &hash,
			`DELETE FROM api_keys WHERE organization_id = ? AND id = ? RETURNING key_hash`, org, id); err != nil {
			return err
		}
		return s.c.dropLookups(ctx, q, apiKeyLookup, org, []string{hash})
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return domain.ErrAPIKeyNotFound
	case err != nil:
		return wrapInfra("api key store: delete", err)
	}
	return nil
}

// Touch is a conditional update, so that of many replicas using one key
// in the same minute at most one writes.
func (s *APIKeyStore) Touch(ctx context.Context, org domain.OrgID, id domain.APIKeyID, now time.Time) (bool, error) {
	now = dbTime(now)
	var n int64
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) (err error) {
		n, err = s.c.exec(ctx, q,
			`UPDATE api_keys SET last_used_at = ?
			 WHERE organization_id = ? AND id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
			now, org, id, now.Add(-domain.APIKeyLastUsedEvery))
		return err
	})
	if err != nil {
		return false, wrapInfra("api key store: touch", err)
	}
	return n > 0, nil
}
