package postgres_test

import (
	"context"
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
	if _, err := s.Events.Number(ctx, org.ID); err != nil {
		t.Fatal(err)
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

// A removal locks the organization, then the member's tasks; an update of
// one of those tasks locks the task, then appends its event. Neither may
// wait for the other's lock in a cycle: the event counter is not the
// organization's row.
func TestAppend_NoDeadlockBetweenARemovalAndAnUpdateOfTheMembersTask(t *testing.T) {
	t.Parallel()
	store := newStore(openMigrated(t))
	s := store.Stores()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	org, err := domain.NewOrganization("deadlock", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, org); err != nil {
		t.Fatal(err)
	}
	admin := &domain.User{OrgID: org.ID, Email: "admin@deadlock.test", PasswordHash: "x", Role: domain.RoleAdmin, CreatedAt: time.Now()}
	member := &domain.User{OrgID: org.ID, Email: "member@deadlock.test", PasswordHash: "x", Role: domain.RoleUser, CreatedAt: time.Now()}
	for _, u := range []*domain.User{admin, member} {
		if err := s.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := domain.NewTask(org.ID, admin.ID, "theirs", "", &member.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tasks.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	event := func(typ domain.EventType) *domain.Event {
		return &domain.Event{OrgID: org.ID, Type: typ, OccurredAt: time.Now(),
			Subject: domain.EventSubject{Type: domain.SubjectTask, ID: int64(tk.ID)}, Data: []byte(`{}`)}
	}

	taskLocked, orgLocked := make(chan struct{}), make(chan struct{})
	updated := make(chan error, 1)
	go func() {
		updated <- store.InTx(ctx, func(s ports.Stores) error {
			if _, err := s.Tasks.Update(ctx, org.ID, tk.ID, func(t *domain.Task) error { t.Title = "renamed"; return nil }); err != nil {
				return err
			}
			close(taskLocked)
			<-orgLocked
			return s.Events.Append(ctx, event(domain.EventTaskUpdated))
		})
	}()
	<-taskLocked
	err = store.InTx(ctx, func(s ports.Stores) error {
		// Setting a member's role locks the organization, as the
		// removal below does first.
		if _, err := s.Users.SetRole(ctx, org.ID, admin.ID, domain.RoleAdmin); err != nil {
			return err
		}
		close(orgLocked)
		if _, _, err := s.Users.Delete(ctx, org.ID, member.ID); err != nil {
			return err
		}
		return s.Events.Append(ctx, event(domain.EventMemberRemoved))
	})
	if err != nil {
		t.Fatalf("removal: %v", err)
	}
	if err := <-updated; err != nil {
		t.Fatalf("update: %v", err)
	}
}
