package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.IdempotencyStore = (*IdempotencyStore)(nil)

// IdempotencyStore keeps Idempotency-Keys in idempotency_keys, one row per
// (organization, caller, key).
//
// Expired keys are purged lazily: each Begin deletes up to purgeBatch of
// its organization's expired keys (skipping, on Postgres, rows another
// transaction holds, so two purges never wait on each other), and an
// expired key that is sent again is taken over whether purged or not. An
// organization that stops sending keys keeps its last expired ones until
// it sends another; that costs a few rows, never a wrong answer.
type IdempotencyStore struct{ c conn }

// purgeBatch bounds the purge a Begin does, so that a request never pays
// for a backlog.
const purgeBatch = 100

type idempotencyRow struct {
	Fingerprint string    `db:"fingerprint"`
	Token       string    `db:"token"`
	LeaseUntil  time.Time `db:"lease_until"`
	ExpiresAt   time.Time `db:"expires_at"`
	Status      *int      `db:"status"`
	Header      *string   `db:"header"`
	Body        []byte    `db:"body"`
}

// Begin implements ports.IdempotencyStore.
func (s *IdempotencyStore) Begin(ctx context.Context, k ports.IdempotencyKey, fingerprint string, now time.Time,
	lease, ttl time.Duration) (ports.IdempotencyClaim, *ports.StoredResponse, error) {
	now = dbTime(now)
	claim := ports.IdempotencyClaim{IdempotencyKey: k, Fingerprint: fingerprint, Token: newToken()}
	var replay *ports.StoredResponse
	err := s.c.scoped(ctx, k.OrgID, atomically, func(q sqlx.ExtContext) error {
		if _, err := s.c.exec(ctx, q,
			`DELETE FROM idempotency_keys WHERE organization_id = ? AND (caller, key) IN (`+
				s.c.db.lock(`SELECT caller, key FROM idempotency_keys WHERE organization_id = ? AND expires_at <= ? LIMIT `+
					fmt.Sprint(purgeBatch), "UPDATE SKIP LOCKED")+`)`,
			k.OrgID, k.OrgID, now); err != nil {
			return fmt.Errorf("purge expired: %w", err)
		}
		n, err := s.c.exec(ctx, q,
			`INSERT INTO idempotency_keys (organization_id, caller, key, fingerprint, token, lease_until, expires_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			k.OrgID, k.Caller, k.Key, fingerprint, claim.Token, now.Add(lease), now.Add(ttl))
		if err != nil || n == 1 {
			return err
		}
		// The key is there: the first request's, or one that a racing
		// Begin inserted and committed while this insert waited for it.
		var r idempotencyRow
		if err := s.c.get(ctx, q, &r, s.c.db.lock(
			`SELECT fingerprint, token, lease_until, expires_at, status, header, body FROM idempotency_keys
			 WHERE organization_id = ? AND caller = ? AND key = ?`, "UPDATE"),
			k.OrgID, k.Caller, k.Key); err != nil {
			return err
		}
		live := r.ExpiresAt.After(now)
		switch {
		case live && r.Fingerprint != fingerprint:
			return domain.ErrIdempotencyKeyReused
		case live && r.Status != nil:
			replay = &ports.StoredResponse{Status: *r.Status, Body: r.Body}
			if r.Header != nil {
				if err := json.Unmarshal([]byte(*r.Header), &replay.Header); err != nil {
					return fmt.Errorf("stored header: %w", err)
				}
			}
			return nil
		case live && r.LeaseUntil.After(now):
			return domain.ErrIdempotencyKeyInProgress
		}
		// Expired, or in progress past its lease (its request died before
		// completing it: nothing was written with it): start afresh. The
		// old holder's token no longer matches, so it can neither complete
		// nor release the key if it is alive after all.
		n, err = s.c.exec(ctx, q,
			`UPDATE idempotency_keys SET fingerprint = ?, token = ?, lease_until = ?, expires_at = ?,
			     status = NULL, header = NULL, body = NULL
			 WHERE organization_id = ? AND caller = ? AND key = ? AND token = ?`,
			fingerprint, claim.Token, now.Add(lease), now.Add(ttl), k.OrgID, k.Caller, k.Key, r.Token)
		if err == nil && n == 0 {
			return domain.ErrIdempotencyKeyInProgress // another request took it over first
		}
		return err
	})
	if err != nil {
		return ports.IdempotencyClaim{}, nil, wrapInfra("idempotency store: begin", err)
	}
	if replay != nil {
		return ports.IdempotencyClaim{}, replay, nil
	}
	return claim, nil, nil
}

// Complete implements ports.IdempotencyStore.
func (s *IdempotencyStore) Complete(ctx context.Context, c ports.IdempotencyClaim, resp ports.StoredResponse) error {
	header, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("idempotency store: complete: %w", err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	err = s.c.scoped(ctx, c.OrgID, writesOnce, func(q sqlx.ExtContext) error {
		n, err := s.c.exec(ctx, q,
			`UPDATE idempotency_keys SET status = ?, header = ?, body = ?
			 WHERE organization_id = ? AND caller = ? AND key = ? AND token = ? AND status IS NULL`,
			resp.Status, string(header), body, c.OrgID, c.Caller, c.Key, c.Token)
		if err == nil && n == 0 {
			return domain.ErrIdempotencyKeyInProgress
		}
		return err
	})
	return wrapInfra("idempotency store: complete", err)
}

// Release implements ports.IdempotencyStore.
func (s *IdempotencyStore) Release(ctx context.Context, c ports.IdempotencyClaim) error {
	err := s.c.scoped(ctx, c.OrgID, writesOnce, func(q sqlx.ExtContext) error {
		_, err := s.c.exec(ctx, q,
			`DELETE FROM idempotency_keys WHERE organization_id = ? AND caller = ? AND key = ? AND token = ? AND status IS NULL`,
			c.OrgID, c.Caller, c.Key, c.Token)
		return err
	})
	return wrapInfra("idempotency store: release", err)
}

// newToken is a claim's secret: 128 random bits.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}
