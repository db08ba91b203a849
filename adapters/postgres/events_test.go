package postgres_test

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/storetest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// purgeLockKey is the advisory lock taskflow_purge_events takes
// (migrations/postgres/00015_events.sql).
const purgeLockKey = 8386110886257651575

func TestPurge_OneReplicaAtATime(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	s := newStore(db).Stores()
	ctx := t.Context()
	org, err := domain.NewOrganization("purge lock", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, org); err != nil {
		t.Fatal(err)
	}
	old := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		e := &domain.Event{OrgID: org.ID, Type: domain.EventTaskCreated, OccurredAt: old,
			Subject: domain.EventSubject{Type: domain.SubjectTask, ID: 1}, Data: []byte(`{}`)}
		if err := s.Events.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := old.Add(time.Hour)

	// Another replica's purge holds the lock: this one deletes nothing.
	other, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(purgeLockKey)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Events.Purge(ctx, cutoff, 10); err != nil || n != 0 {
		t.Fatalf("purge while another holds the lock: %d, %v; want 0, nil", n, err)
	}
	if got, _ := s.Events.List(ctx, org.ID, ports.EventFilter{Limit: 10}); len(got) != 3 {
		t.Fatalf("%d events left, want 3", len(got))
	}

	if _, err := other.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(purgeLockKey)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Events.Purge(ctx, cutoff, 10); err != nil || n != 3 {
		t.Fatalf("purge once the lock is free: %d, %v; want 3, nil", n, err)
	}
}

// BenchmarkOutbox: see storetest.BenchmarkOutbox. go test -run '^$'
// -bench Outbox ./adapters/postgres
func BenchmarkOutbox(b *testing.B) {
	store := newStore(open(b, migratedAppURL(b)))
	for _, writers := range []int{1, 8, 32} {
		storetest.BenchmarkOutbox(b, store.Stores(), store, writers)
	}
}
