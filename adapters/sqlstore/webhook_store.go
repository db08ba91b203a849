package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.WebhookStore = (*WebhookStore)(nil)

// WebhookStore persists webhooks, their delivery state and their
// deliveries log. The hook row is also the dispatcher's work item: a
// claim (claim_token, claimed_until) is a lease that lets one dispatcher
// make one attempt with no transaction open during the HTTP call.
type WebhookStore struct {
	c conn
}

const webhookColumns = `organization_id, id, url, events, description, active, disabled_reason,
	secret, previous_secret, previous_expires_at, event_cursor, attempt, next_attempt_at, failures,
	created_at, updated_at`

type webhookRow struct {
	OrgID             int64        `db:"organization_id"`
	ID                int64        `db:"id"`
	URL               string       `db:"url"`
	Events            string       `db:"events"`
	Description       string       `db:"description"`
	Active            bool         `db:"active"`
	DisabledReason    string       `db:"disabled_reason"`
	Secret            []byte       `db:"secret"`
	PreviousSecret    []byte       `db:"previous_secret"`
	PreviousExpiresAt sql.NullTime `db:"previous_expires_at"`
	Cursor            int64        `db:"event_cursor"`
	Attempt           int          `db:"attempt"`
	NextAttemptAt     time.Time    `db:"next_attempt_at"`
	Failures          int          `db:"failures"`
	CreatedAt         time.Time    `db:"created_at"`
	UpdatedAt         time.Time    `db:"updated_at"`
}

func webhookFromRow(r webhookRow) (*domain.Webhook, error) {
	var events []string
	if err := json.Unmarshal([]byte(r.Events), &events); err != nil {
		return nil, fmt.Errorf("webhook %d: events column: %w", r.ID, err)
	}
	w := &domain.Webhook{
		ID: domain.WebhookID(r.ID), OrgID: domain.OrgID(r.OrgID), URL: r.URL, Events: events,
		Description: r.Description, Active: r.Active, DisabledReason: r.DisabledReason,
		Secret: append([]byte(nil), r.Secret...), PreviousExpiresAt: timeOrNil(r.PreviousExpiresAt),
		Cursor: r.Cursor, Attempt: r.Attempt, NextAttemptAt: r.NextAttemptAt.UTC(), Failures: r.Failures,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.PreviousSecret != nil {
		w.PreviousSecret = append([]byte(nil), r.PreviousSecret...)
	}
	return w, nil
}

func webhooksFromRows(rows []webhookRow) ([]*domain.Webhook, error) {
	out := make([]*domain.Webhook, len(rows))
	for i, r := range rows {
		w, err := webhookFromRow(r)
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

func eventsJSON(events []string) (string, error) {
	if events == nil {
		events = []string{}
	}
	b, err := json.Marshal(events)
	return string(b), err
}

// Create inserts w and sets its ID.
func (s *WebhookStore) Create(ctx context.Context, w *domain.Webhook) error {
	w.CreatedAt, w.UpdatedAt, w.NextAttemptAt = dbTime(w.CreatedAt), dbTime(w.UpdatedAt), dbTime(w.NextAttemptAt)
	w.PreviousExpiresAt = dbTimePtr(w.PreviousExpiresAt)
	events, err := eventsJSON(w.Events)
	if err != nil {
		return err
	}
	err = s.c.scoped(ctx, w.OrgID, writesOnce, func(q sqlx.ExtContext) error {
		var id int64
		err := s.c.get(ctx, q, &id,
			`INSERT INTO webhooks (organization_id, url, events, description, active, disabled_reason, secret,
			     previous_secret, previous_expires_at, event_cursor, attempt, next_attempt_at, failures,
			     created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			w.OrgID, w.URL, events, w.Description, w.Active, w.DisabledReason, w.Secret,
			w.PreviousSecret, nullTime(w.PreviousExpiresAt), w.Cursor, w.Attempt, w.NextAttemptAt, w.Failures,
			w.CreatedAt, w.UpdatedAt)
		w.ID = domain.WebhookID(id)
		return err
	})
	if err != nil {
		return wrapInfra("webhook store: create", err)
	}
	return nil
}

func (c conn) getWebhook(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.WebhookID, lock bool) (*domain.Webhook, error) {
	query := `SELECT ` + webhookColumns + ` FROM webhooks WHERE organization_id = ? AND id = ?`
	if lock {
		query = c.db.lock(query, "UPDATE")
	}
	var r webhookRow
	err := c.get(ctx, q, &r, query, org, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrWebhookNotFound
	}
	if err != nil {
		return nil, err
	}
	return webhookFromRow(r)
}

// Get returns one hook of org.
func (s *WebhookStore) Get(ctx context.Context, org domain.OrgID, id domain.WebhookID) (*domain.Webhook, error) {
	var w *domain.Webhook
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) (err error) {
		w, err = s.c.getWebhook(ctx, q, org, id, false)
		return err
	})
	if err != nil {
		return nil, wrapInfra("webhook store: get", err)
	}
	return w, nil
}

// List returns org's hooks, oldest first.
func (s *WebhookStore) List(ctx context.Context, org domain.OrgID) ([]*domain.Webhook, error) {
	var rows []webhookRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &rows, `SELECT `+webhookColumns+` FROM webhooks WHERE organization_id = ? ORDER BY id`, org)
	})
	if err != nil {
		return nil, wrapInfra("webhook store: list", err)
	}
	return webhooksFromRows(rows)
}

// Update is the update-function shape: load locked, apply fn, write.
func (s *WebhookStore) Update(ctx context.Context, org domain.OrgID, id domain.WebhookID, releaseClaim bool,
	fn func(*domain.Webhook) error) (*domain.Webhook, error) {
	var out *domain.Webhook
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		w, err := s.c.getWebhook(ctx, q, org, id, true)
		if err != nil {
			return wrapInfra("load", err)
		}
		if err := fn(w); err != nil {
			return fnError{err}
		}
		w.UpdatedAt, w.NextAttemptAt = dbTime(w.UpdatedAt), dbTime(w.NextAttemptAt)
		w.PreviousExpiresAt = dbTimePtr(w.PreviousExpiresAt)
		events, err := eventsJSON(w.Events)
		if err != nil {
			return err
		}
		claim := ``
		if releaseClaim {
			claim = `, claim_token = '', claimed_until = NULL`
		}
		_, err = s.c.exec(ctx, q,
			`UPDATE webhooks SET url = ?, events = ?, description = ?, active = ?, disabled_reason = ?,
			     secret = ?, previous_secret = ?, previous_expires_at = ?, event_cursor = ?, attempt = ?,
			     next_attempt_at = ?, failures = ?, updated_at = ?`+claim+`
			 WHERE organization_id = ? AND id = ?`,
			w.URL, events, w.Description, w.Active, w.DisabledReason, w.Secret, w.PreviousSecret,
			nullTime(w.PreviousExpiresAt), w.Cursor, w.Attempt, w.NextAttemptAt, w.Failures, w.UpdatedAt, org, id)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		out = w
		return nil
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	if err != nil {
		return nil, wrapInfra("webhook store: update", err)
	}
	return out, nil
}

// Delete removes one hook of org; its deliveries go with it (ON DELETE
// CASCADE).
func (s *WebhookStore) Delete(ctx context.Context, org domain.OrgID, id domain.WebhookID) error {
	var n int64
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) (err error) {
		n, err = s.c.exec(ctx, q, `DELETE FROM webhooks WHERE organization_id = ? AND id = ?`, org, id)
		return err
	})
	switch {
	case err != nil:
		return wrapInfra("webhook store: delete", err)
	case n == 0:
		return domain.ErrWebhookNotFound
	}
	return nil
}

// ClaimDue runs across organizations. A hook has work when an event of
// its organization follows its cursor: one probe of the events' primary
// key (organization_id, id). Under row-level security
// taskflow_claim_webhooks (migrations/postgres/00016) is its narrow path:
// one UPDATE whose subquery locks the due hooks with FOR UPDATE SKIP
// LOCKED, so that concurrent dispatchers on several replicas each take
// other hooks, and a hook taken a moment ago is seen claimed (Postgres
// re-reads a row it waited for, or skipped it). On SQLite the write
// transaction excludes every other writer, and one process serves the
// file.
func (s *WebhookStore) ClaimDue(ctx context.Context, now, until time.Time, token string, limit int) ([]*domain.Webhook, error) {
	now, until = dbTime(now), dbTime(until)
	var rows []webhookRow
	err := s.c.unscoped(ctx, atomically, func(q sqlx.ExtContext) error {
		if s.c.db.rls != nil {
			return s.c.sel(ctx, q, &rows, `SELECT `+webhookColumns+` FROM taskflow_claim_webhooks(?, ?, ?, ?)`,
				now, until, token, limit)
		}
		if err := s.c.sel(ctx, q, &rows,
			`SELECT `+prefixed("w.", webhookColumns)+`
			 FROM webhooks w
			 WHERE w.active AND w.next_attempt_at <= ?
			   AND (w.claimed_until IS NULL OR w.claimed_until <= ?)
			   AND EXISTS (SELECT 1 FROM events e WHERE e.organization_id = w.organization_id AND e.id > w.event_cursor)
			 ORDER BY w.next_attempt_at LIMIT ?`, now, now, limit); err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := s.c.exec(ctx, q, `UPDATE webhooks SET claim_token = ?, claimed_until = ?
				WHERE organization_id = ? AND id = ?`, token, until, r.OrgID, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrapInfra("webhook store: claim due", err)
	}
	return webhooksFromRows(rows)
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, columns string) string {
	var out []byte
	start := true
	for i := 0; i < len(columns); i++ {
		ch := columns[i]
		if start && ch != ' ' && ch != '\t' && ch != '\n' {
			out = append(out, p...)
			start = false
		}
		out = append(out, ch)
		if ch == ',' {
			start = true
		}
	}
	return string(out)
}

// Settle is conditional on the claim token: a dispatcher whose lease ran
// out (and was taken over), or whose claim an Update dropped, writes
// nothing.
func (s *WebhookStore) Settle(ctx context.Context, org domain.OrgID, id domain.WebhookID, token string,
	st ports.WebhookSettlement, release bool, until time.Time) (bool, error) {
	set := `event_cursor = ?, attempt = ?, next_attempt_at = ?, failures = ?`
	args := []any{st.Cursor, st.Attempt, dbTime(st.NextAttemptAt), st.Failures}
	if st.Disable {
		set += `, active = ?, disabled_reason = ?`
		args = append(args, false, st.DisabledReason)
	}
	if release {
		set += `, claim_token = '', claimed_until = NULL`
	} else {
		set += `, claimed_until = ?`
		args = append(args, dbTime(until))
	}
	args = append(args, org, id, token)
	var n int64
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) (err error) {
		n, err = s.c.exec(ctx, q,
			`UPDATE webhooks SET `+set+` WHERE organization_id = ? AND id = ? AND claim_token = ?`, args...)
		return err
	})
	if err != nil {
		return false, wrapInfra("webhook store: settle", err)
	}
	return n > 0, nil
}

type deliveryRow struct {
	OrgID       int64         `db:"organization_id"`
	WebhookID   int64         `db:"webhook_id"`
	ID          int64         `db:"id"`
	EventID     sql.NullInt64 `db:"event_id"`
	EventType   string        `db:"event_type"`
	Attempt     int           `db:"attempt"`
	StatusCode  sql.NullInt64 `db:"status_code"`
	Error       string        `db:"error"`
	DurationMS  int64         `db:"duration_ms"`
	DeliveredAt time.Time     `db:"delivered_at"`
}

const deliveryColumns = `organization_id, webhook_id, id, event_id, event_type, attempt, status_code, error,
	duration_ms, delivered_at`

// LogDelivery inserts d and trims the hook's log to its newest entries.
func (s *WebhookStore) LogDelivery(ctx context.Context, d *domain.WebhookDelivery) error {
	d.DeliveredAt = dbTime(d.DeliveredAt)
	var event, status sql.NullInt64
	if d.EventID != nil {
		event = sql.NullInt64{Int64: *d.EventID, Valid: true}
	}
	if d.StatusCode != nil {
		status = sql.NullInt64{Int64: int64(*d.StatusCode), Valid: true}
	}
	err := s.c.scoped(ctx, d.OrgID, atomically, func(q sqlx.ExtContext) error {
		var id int64
		if err := s.c.get(ctx, q, &id,
			`INSERT INTO webhook_deliveries (organization_id, webhook_id, event_id, event_type, attempt,
			     status_code, error, duration_ms, delivered_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			d.OrgID, d.WebhookID, event, string(d.EventType), d.Attempt, status, d.Error, d.DurationMS,
			d.DeliveredAt); err != nil {
			return err
		}
		d.ID = id
		// Keep the newest entries: everything at or below the id that
		// the (max+1)-th newest has goes.
		_, err := s.c.exec(ctx, q,
			`DELETE FROM webhook_deliveries WHERE organization_id = ? AND webhook_id = ? AND id <= (
			     SELECT id FROM webhook_deliveries WHERE organization_id = ? AND webhook_id = ?
			     ORDER BY id DESC LIMIT 1 OFFSET ?)`,
			d.OrgID, d.WebhookID, d.OrgID, d.WebhookID, domain.MaxWebhookDeliveries)
		return err
	})
	if s.c.violates(err, ViolationForeignKey, "webhook_deliveries_webhook_fkey", true) {
		return domain.ErrWebhookNotFound
	}
	if err != nil {
		return wrapInfra("webhook store: log delivery", err)
	}
	return nil
}

// Deliveries reads the hook's log, newest first.
func (s *WebhookStore) Deliveries(ctx context.Context, org domain.OrgID, id domain.WebhookID, limit int) ([]domain.WebhookDelivery, error) {
	var rows []deliveryRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &rows,
			`SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE organization_id = ? AND webhook_id = ?
			 ORDER BY id DESC LIMIT ?`, org, id, limit)
	})
	if err != nil {
		return nil, wrapInfra("webhook store: deliveries", err)
	}
	out := make([]domain.WebhookDelivery, len(rows))
	for i, r := range rows {
		d := domain.WebhookDelivery{ID: r.ID, OrgID: domain.OrgID(r.OrgID), WebhookID: domain.WebhookID(r.WebhookID),
			EventType: domain.EventType(r.EventType), Attempt: r.Attempt, Error: r.Error, DurationMS: r.DurationMS,
			DeliveredAt: r.DeliveredAt.UTC()}
		if r.EventID.Valid {
			e := r.EventID.Int64
			d.EventID = &e
		}
		if r.StatusCode.Valid {
			c := int(r.StatusCode.Int64)
			d.StatusCode = &c
		}
		out[i] = d
	}
	return out, nil
}
