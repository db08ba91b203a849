package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.SessionStore = (*SessionStore)(nil)

// SessionStore persists login sessions and their refresh tokens. A
// refresh token is stored as its hash only; each is spent once, and its
// successor is stored in the same transaction.
type SessionStore struct {
	c conn
}

// sessionsUserFKey is the sessions table's one foreign key.
const sessionsUserFKey = "sessions_user_fkey"

type sessionRow struct {
	OrgID     int64        `db:"organization_id"`
	ID        int64        `db:"id"`
	UserID    int64        `db:"user_id"`
	CreatedAt time.Time    `db:"created_at"`
	ExpiresAt time.Time    `db:"expires_at"`
	RevokedAt sql.NullTime `db:"revoked_at"`
}

const sessionColumns = `organization_id, id, user_id, created_at, expires_at, revoked_at`

func sessionFromRow(r sessionRow) *domain.Session {
	s := &domain.Session{
		ID:        domain.SessionID(r.ID),
		OrgID:     domain.OrgID(r.OrgID),
		UserID:    domain.UserID(r.UserID),
		CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: r.ExpiresAt.UTC(),
	}
	if r.RevokedAt.Valid {
		at := r.RevokedAt.Time.UTC()
		s.RevokedAt = &at
	}
	return s
}

// Create inserts the session and its first refresh token together.
func (s *SessionStore) Create(ctx context.Context, sess *domain.Session, refreshHash string) error {
	sess.CreatedAt, sess.ExpiresAt = dbTime(sess.CreatedAt), dbTime(sess.ExpiresAt)
	err := s.c.scoped(ctx, sess.OrgID, atomically, func(q sqlx.ExtContext) error {
		var id int64
		if err := s.c.get(ctx, q, &id,
			`INSERT INTO sessions (organization_id, user_id, created_at, expires_at)
			 VALUES (?, ?, ?, ?) RETURNING id`,
			sess.OrgID, sess.UserID, sess.CreatedAt, sess.ExpiresAt); err != nil {
			return err
		}
		sess.ID = domain.SessionID(id)
		_, err := s.c.exec(ctx, q,
			`INSERT INTO refresh_tokens (organization_id, session_id, token_hash, created_at) VALUES (?, ?, ?, ?)`,
			sess.OrgID, id, refreshHash, sess.CreatedAt)
		return err
	})
	switch {
	case s.c.violates(err, ViolationForeignKey, sessionsUserFKey, true):
		return domain.ErrUserNotFound
	case err != nil:
		return fmt.Errorf("session store: create: %w", err)
	}
	return nil
}

// Rotate spends oldHash and stores newHash in its session. The spend is a
// conditional update, so of two racing refreshes with one token exactly
// one wins; the other finds the token spent, which is what a replayed
// stolen token looks like, and ends the session.
func (s *SessionStore) Rotate(ctx context.Context, org domain.OrgID, oldHash, newHash string, now time.Time) (*domain.Session, error) {
	now = dbTime(now)
	var sess *domain.Session
	reused := false
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		var tok struct {
			SessionID int64        `db:"session_id"`
			UsedAt    sql.NullTime `db:"used_at"`
		}
		err := s.c.get(ctx, q, &tok,
			s.c.db.lock(`SELECT session_id, used_at FROM refresh_tokens WHERE organization_id = ? AND token_hash = ?`, "UPDATE"),
			org, oldHash)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrRefreshInvalid
		}
		if err != nil {
			return err
		}
		var r sessionRow
		err = s.c.get(ctx, q, &r, `SELECT `+sessionColumns+` FROM sessions WHERE organization_id = ? AND id = ?`, org, tok.SessionID)
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrRefreshInvalid
		}
		if err != nil {
			return err
		}
		sess = sessionFromRow(r)
		if sess.RevokedAt != nil || !now.Before(sess.ExpiresAt) {
			return domain.ErrRefreshInvalid
		}
		if tok.UsedAt.Valid {
			// Reuse: someone holds a token that was already exchanged.
			// End the family; the revocation must commit, so it is
			// reported after the transaction rather than as its error.
			reused = true
			_, err := s.c.exec(ctx, q, `UPDATE sessions SET revoked_at = ? WHERE organization_id = ? AND id = ?`, now, org, tok.SessionID)
			return err
		}
		if _, err := s.c.exec(ctx, q, `UPDATE refresh_tokens SET used_at = ? WHERE organization_id = ? AND token_hash = ?`,
			now, org, oldHash); err != nil {
			return err
		}
		_, err = s.c.exec(ctx, q,
			`INSERT INTO refresh_tokens (organization_id, session_id, token_hash, created_at) VALUES (?, ?, ?, ?)`,
			org, tok.SessionID, newHash, now)
		return err
	})
	switch {
	case err != nil:
		return nil, wrapInfra("session store: rotate", err)
	case reused:
		return nil, domain.ErrRefreshReused
	}
	return sess, nil
}

// Revoke ends one session of a member.
func (s *SessionStore) Revoke(ctx context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, now time.Time) error {
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) error {
		_, err := s.c.exec(ctx, q,
			`UPDATE sessions SET revoked_at = ? WHERE organization_id = ? AND user_id = ? AND id = ? AND revoked_at IS NULL`,
			dbTime(now), org, user, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("session store: revoke: %w", err)
	}
	return nil
}

// RevokeByRefresh ends the member's session that refreshHash belongs to.
func (s *SessionStore) RevokeByRefresh(ctx context.Context, org domain.OrgID, user domain.UserID, refreshHash string, now time.Time) error {
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) error {
		_, err := s.c.exec(ctx, q,
			`UPDATE sessions SET revoked_at = ?
			 WHERE organization_id = ? AND user_id = ? AND revoked_at IS NULL
			   AND id = (SELECT session_id FROM refresh_tokens WHERE organization_id = ? AND token_hash = ?)`,
			dbTime(now), org, user, org, refreshHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("session store: revoke by refresh token: %w", err)
	}
	return nil
}

// RevokeUser ends every session of a member.
func (s *SessionStore) RevokeUser(ctx context.Context, org domain.OrgID, user domain.UserID, now time.Time) error {
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) error {
		_, err := s.c.exec(ctx, q,
			`UPDATE sessions SET revoked_at = ? WHERE organization_id = ? AND user_id = ? AND revoked_at IS NULL`,
			dbTime(now), org, user)
		return err
	})
	if err != nil {
		return fmt.Errorf("session store: revoke user: %w", err)
	}
	return nil
}

// Principal reads the member and checks the session in one query: it
// runs on every authenticated request.
func (s *SessionStore) Principal(ctx context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, now time.Time) (*domain.User, error) {
	var r userRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &r,
			`SELECT u.organization_id, u.id, u.email, u.password_hash, u.role, u.created_at
			 FROM users u JOIN sessions s ON s.organization_id = u.organization_id AND s.user_id = u.id
			 WHERE u.organization_id = ? AND u.id = ? AND s.id = ? AND s.revoked_at IS NULL AND s.expires_at > ?`,
			org, user, id, dbTime(now))
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrUnauthenticated
	case err != nil:
		return nil, fmt.Errorf("session store: principal: %w", err)
	}
	return userFromRow(r), nil
}
