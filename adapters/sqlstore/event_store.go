package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.EventStore = (*EventStore)(nil)

// EventStore is the outbox: the events table, numbered per organization
// by the counter event_counters.last_id.
//
// Why a counter and not a sequence: a sequence hands out numbers in the
// order transactions ask, and they commit in another order, so a reader
// paging with "after" could see 8 committed, move past it, and never see
// 7 that committed a moment later. The counter is a row: incrementing it
// takes that row's lock, held until commit, so the next numbering of the
// organization's events gets the next numbers only once the previous one
// has committed or rolled back, and a rollback rolls the counter back
// with it, leaving no hole.
//
// Where the database enforces the scope (Postgres), Append does not take
// the counter: it queues the event (event_queue) in the change's
// transaction, which waits for no other writer, and Number moves the
// queued events into events with their numbers, in a transaction of its
// own, after the change committed (migrations/postgres/00020). Taking the
// counter in the change's transaction would make the writers of one
// organization serialize from their Append to their commit's disk flush.
// On SQLite, whose writers hold the database's one write lock to commit
// anyway, Append numbers at once, as the last statement of the use case.
// The row is not the organization's own, which lockOrg takes before
// members and tasks: see migrations/postgres/00015_events.sql.
type EventStore struct {
	c conn
}

// eventCountersOrgFKey is event_counters' one foreign key.
const eventCountersOrgFKey = "event_counters_organization_id_fkey"

const eventColumns = `organization_id, id, type, occurred_at, actor_user_id, actor_api_key_id,
	request_id, subject_type, subject_id, data`

type eventRow struct {
	OrgID       int64         `db:"organization_id"`
	ID          int64         `db:"id"`
	Type        string        `db:"type"`
	OccurredAt  time.Time     `db:"occurred_at"`
	ActorUser   sql.NullInt64 `db:"actor_user_id"`
	ActorAPIKey sql.NullInt64 `db:"actor_api_key_id"`
	RequestID   string        `db:"request_id"`
	SubjectType string        `db:"subject_type"`
	SubjectID   int64         `db:"subject_id"`
	Data        []byte        `db:"data"`
}

func eventFromRow(r eventRow) domain.Event {
	e := domain.Event{
		ID:         r.ID,
		OrgID:      domain.OrgID(r.OrgID),
		Type:       domain.EventType(r.Type),
		OccurredAt: r.OccurredAt.UTC(),
		RequestID:  r.RequestID,
		Subject:    domain.EventSubject{Type: r.SubjectType, ID: r.SubjectID},
		Data:       append([]byte(nil), r.Data...),
	}
	if r.ActorUser.Valid {
		u := domain.UserID(r.ActorUser.Int64)
		e.Actor.UserID = &u
	}
	if r.ActorAPIKey.Valid {
		k := domain.APIKeyID(r.ActorAPIKey.Int64)
		e.Actor.APIKeyID = &k
	}
	return e
}

// queues reports whether Append queues events for Number, rather than
// numbering them at once: where the database enforces the scope, that is
// Postgres with migrations/postgres/00020.
func (s *EventStore) queues() bool { return s.c.db.rls != nil }

// eventQueueOrgFKey is event_queue's one foreign key.
const eventQueueOrgFKey = "event_queue_organization_id_fkey"

// Append queues the event (Postgres), or takes the organization's next
// number and inserts it (SQLite).
func (s *EventStore) Append(ctx context.Context, e *domain.Event) error {
	e.OccurredAt = dbTime(e.OccurredAt)
	var user, key sql.NullInt64
	if e.Actor.UserID != nil {
		user = sql.NullInt64{Int64: int64(*e.Actor.UserID), Valid: true}
	}
	if e.Actor.APIKeyID != nil {
		key = sql.NullInt64{Int64: int64(*e.Actor.APIKeyID), Valid: true}
	}
	data := string(e.Data)
	if len(e.Data) == 0 {
		data = "{}"
	}
	if s.queues() {
		err := s.c.scoped(ctx, e.OrgID, atomically, func(q sqlx.ExtContext) error {
			// Nothing reads this insert's answer: in a transaction it goes
			// out with COMMIT (or the next statement), in the same round
			// trip.
			return s.c.execLast(ctx, q,
				`INSERT INTO event_queue (organization_id, type, occurred_at, actor_user_id, actor_api_key_id,
				 request_id, subject_type, subject_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				e.OrgID, string(e.Type), e.OccurredAt, user, key, e.RequestID, e.Subject.Type, e.Subject.ID, data)
		})
		if s.c.violates(err, ViolationForeignKey, eventQueueOrgFKey, false) {
			return domain.ErrOrgNotFound
		}
		return wrapInfra("event store: append", err)
	}
	err := s.c.scoped(ctx, e.OrgID, atomically, func(q sqlx.ExtContext) error {
		var id int64
		err := s.c.get(ctx, q, &id,
			`INSERT INTO event_counters (organization_id, last_id) VALUES (?, 1)
			 ON CONFLICT (organization_id) DO UPDATE SET last_id = event_counters.last_id + 1
			 RETURNING last_id`, e.OrgID)
		if s.c.violates(err, ViolationForeignKey, eventCountersOrgFKey, true) {
			return domain.ErrOrgNotFound
		}
		if err != nil {
			return err
		}
		err = s.c.execLast(ctx, q,
			`INSERT INTO events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.OrgID, id, string(e.Type), e.OccurredAt, user, key, e.RequestID, e.Subject.Type, e.Subject.ID, data)
		if err == nil {
			e.ID = id
		}
		return err
	})
	return wrapInfra("event store: append", err)
}

// Number runs taskflow_number_events (migrations/postgres/00020) where
// Append queues; elsewhere it reads the last id.
func (s *EventStore) Number(ctx context.Context, org domain.OrgID) (int64, error) {
	if !s.queues() {
		last, err := s.Last(ctx, org)
		if errors.Is(err, domain.ErrOrgNotFound) {
			return 0, nil
		}
		return last, err
	}
	var last int64
	err := s.c.scoped(ctx, org, writesOnce, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &last, `SELECT taskflow_number_events(?)`, org)
	})
	if err != nil {
		return 0, wrapInfra("event store: number", err)
	}
	return last, nil
}

// Queued is unscoped: under row-level security
// taskflow_queued_organizations (migrations/postgres/00020) is its narrow
// path, which shows organization ids and nothing else.
func (s *EventStore) Queued(ctx context.Context, limit int) ([]domain.OrgID, error) {
	if !s.queues() {
		return nil, nil
	}
	var ids []domain.OrgID
	err := s.c.unscoped(ctx, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &ids, `SELECT taskflow_queued_organizations(?)`, limit)
	})
	if err != nil {
		return nil, wrapInfra("event store: queued", err)
	}
	return ids, nil
}

// List reads one page in id order, through the primary key (or the
// subject index when a subject is given).
func (s *EventStore) List(ctx context.Context, org domain.OrgID, f ports.EventFilter) ([]domain.Event, error) {
	var (
		where = []string{"organization_id = ?", "id > ?"}
		args  = []any{org, f.After}
	)
	if len(f.Types) > 0 && !slices.Contains(f.Types, domain.MatchAll) {
		var or []string
		for _, p := range f.Types {
			if prefix, ok := strings.CutSuffix(p, "*"); ok {
				// substr rather than LIKE: '_' is a LIKE wildcard, and
				// SQLite's LIKE ignores case.
				or = append(or, "substr(type, 1, ?) = ?")
				args = append(args, len(prefix), prefix)
			} else {
				or = append(or, "type = ?")
				args = append(args, p)
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if f.SubjectType != "" {
		where = append(where, "subject_type = ?")
		args = append(args, f.SubjectType)
	}
	if f.SubjectID != nil {
		where = append(where, "subject_id = ?")
		args = append(args, *f.SubjectID)
	}
	args = append(args, f.Limit)
	query := `SELECT ` + eventColumns + ` FROM events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?`
	var rows []eventRow
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.sel(ctx, q, &rows, query, args...)
	})
	if err != nil {
		return nil, wrapInfra("event store: list", err)
	}
	events := make([]domain.Event, len(rows))
	for i, r := range rows {
		events[i] = eventFromRow(r)
	}
	return events, nil
}

// Last reads the counter, which purging leaves alone.
func (s *EventStore) Last(ctx context.Context, org domain.OrgID) (int64, error) {
	var last int64
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		return s.c.get(ctx, q, &last,
			`SELECT COALESCE((SELECT c.last_id FROM event_counters c WHERE c.organization_id = o.id), 0)
			 FROM organizations o WHERE o.id = ?`, org)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, domain.ErrOrgNotFound
	case err != nil:
		return 0, wrapInfra("event store: last", err)
	}
	return last, nil
}

// Purge is unscoped: retention is the same for every organization. Under
// row-level security taskflow_purge_events (migrations/postgres/00015) is
// its narrow path: it can see and delete events older than the cut-off,
// and nothing else.
func (s *EventStore) Purge(ctx context.Context, before time.Time, batch int) (int64, error) {
	before = dbTime(before)
	var n int64
	err := s.c.unscoped(ctx, writesOnce, func(q sqlx.ExtContext) error {
		if s.c.db.rls != nil {
			return s.c.get(ctx, q, &n, `SELECT taskflow_purge_events(?, ?)`, before, batch)
		}
		var err error
		n, err = s.c.exec(ctx, q,
			`DELETE FROM events WHERE (organization_id, id) IN
			 (SELECT organization_id, id FROM events WHERE occurred_at < ? LIMIT ?)`, before, batch)
		return err
	})
	if err != nil {
		return 0, wrapInfra("event store: purge", err)
	}
	return n, nil
}
