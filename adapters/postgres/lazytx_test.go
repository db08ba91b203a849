package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The store's transactions on Postgres send BEGIN and the tenant with
// their first statement and COMMIT with their last (sqlstore's lazyTx),
// on a connection they hold themselves. These tests hold them to what
// database/sql's transactions guaranteed: whatever way a transaction
// ends, nothing of it commits unless it succeeded, and the connection
// goes back to the pool outside any transaction and with no tenant.

// onePool is the seeded database seen through a pool of one connection,
// so that the next statement runs on the connection the transaction used.
func onePool(t *testing.T) (*rlsDB, *sqlx.DB) {
	t.Helper()
	db := newRLSDB(t, func(_ testing.TB, url string) string { return url })
	one, err := postgres.Open(t.Context(), db.url, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = one.Close() })
	return db, one
}

// assertClean checks that the pool's one connection is in no transaction
// and has no tenant: database/sql's BeginTx refuses (lib/pq: "unexpected
// transaction status") a connection left inside one.
func assertClean(t *testing.T, one *sqlx.DB) {
	t.Helper()
	tx, err := one.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatalf("the connection came back inside a transaction: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	var tenant sql.NullString
	if err := tx.GetContext(t.Context(), &tenant, `SELECT current_setting('app.organization_id', true)`); err != nil {
		t.Fatal(err)
	}
	if tenant.String != "" {
		t.Fatalf("the connection came back with tenant %q", tenant.String)
	}
}

func newTask(t *testing.T, org domain.OrgID, by domain.UserID, title string) *domain.Task {
	t.Helper()
	tk, err := domain.NewTask(org, by, title, "", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestLazyTx_CommitsWhatSucceeded(t *testing.T) {
	t.Parallel()
	db, one := onePool(t)
	store := newStore(one)
	a := db.a
	tk := newTask(t, a.org, a.user.ID, "committed")
	err := store.InTx(t.Context(), func(s ports.Stores) error {
		if err := s.Tasks.Create(t.Context(), tk); err != nil {
			return err
		}
		got, err := s.Tasks.Get(t.Context(), a.org, tk.ID)
		if err != nil || got.Title != "committed" {
			t.Errorf("read back in the transaction: %v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stores().Tasks.Get(t.Context(), a.org, tk.ID); err != nil {
		t.Fatalf("after commit: %v", err)
	}
	assertClean(t, one)
}

func TestLazyTx_RollsBackOnError(t *testing.T) {
	t.Parallel()
	db, one := onePool(t)
	store := newStore(one)
	a := db.a
	tk := newTask(t, a.org, a.user.ID, "rolled back")
	boom := errors.New("boom")
	err := store.InTx(t.Context(), func(s ports.Stores) error {
		if err := s.Tasks.Create(t.Context(), tk); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v, want boom", err)
	}
	if _, err := store.Stores().Tasks.Get(t.Context(), a.org, tk.ID); !errors.Is(err, domain.ErrTaskNotFound) {
		t.Fatalf("after rollback: %v, want not found", err)
	}
	assertClean(t, one)
}

func TestLazyTx_RollsBackOnPanic(t *testing.T) {
	t.Parallel()
	db, one := onePool(t)
	store := newStore(one)
	a := db.a
	tk := newTask(t, a.org, a.user.ID, "panicked")
	func() {
		defer func() { _ = recover() }()
		_ = store.InTx(t.Context(), func(s ports.Stores) error {
			if err := s.Tasks.Create(t.Context(), tk); err != nil {
				return err
			}
			panic("in the middle")
		})
	}()
	if _, err := store.Stores().Tasks.Get(t.Context(), a.org, tk.ID); !errors.Is(err, domain.ErrTaskNotFound) {
		t.Fatalf("after the panic: %v, want not found", err)
	}
	assertClean(t, one)
}

// A statement failed and the use case went on as if it had not: Postgres
// then answers COMMIT by rolling back, without an error. The store must
// say the transaction failed, not that it committed.
func TestLazyTx_AFailureTheCallerIgnoredFailsTheCommit(t *testing.T) {
	t.Parallel()
	db, one := onePool(t)
	store := newStore(one)
	a := db.a
	tk := newTask(t, a.org, a.user.ID, "after an ignored failure")
	err := store.InTx(t.Context(), func(s ports.Stores) error {
		if err := s.Tasks.Create(t.Context(), tk); err != nil {
			return err
		}
		dup := *a.user
		dup.ID = 0
		if err := s.Users.Create(t.Context(), &dup); err == nil {
			t.Error("a second user with the same email was created")
		}
		return nil // ignored
	})
	if err == nil {
		t.Fatal("InTx succeeded after a statement of it failed")
	}
	if _, err := store.Stores().Tasks.Get(t.Context(), a.org, tk.ID); !errors.Is(err, domain.ErrTaskNotFound) {
		t.Fatalf("the task of the failed transaction: %v, want not found", err)
	}
	assertClean(t, one)
}

// The request's time runs out between two statements: nothing commits,
// and the connection still goes back clean (the rollback does not use
// the request's context).
func TestLazyTx_DeadlineInTheMiddle(t *testing.T) {
	t.Parallel()
	db, one := onePool(t)
	store := newStore(one)
	a := db.a
	tk := newTask(t, a.org, a.user.ID, "deadline")
	ctx, cancel := context.WithCancel(t.Context())
	err := store.InTx(ctx, func(s ports.Stores) error {
		if err := s.Tasks.Create(ctx, tk); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatal("InTx committed with its context cancelled")
	}
	if _, err := store.Stores().Tasks.Get(t.Context(), a.org, tk.ID); !errors.Is(err, domain.ErrTaskNotFound) {
		t.Fatalf("the task: %v, want not found", err)
	}
	assertClean(t, one)
}

// Two organizations in one transaction (a use case that reads one and
// writes another never exists, but the wrapper must not carry the first
// tenant into the second's statements): each statement sees its own.
func TestLazyTx_ConfinesEachScopedCallToItsOrganization(t *testing.T) {
	t.Parallel()
	db, one := onePool(t)
	store := newStore(one)
	err := store.InTx(t.Context(), func(s ports.Stores) error {
		if _, err := s.Tasks.Get(t.Context(), db.a.org, db.a.task.ID); err != nil {
			return err
		}
		if _, err := s.Tasks.Get(t.Context(), db.b.org, db.b.task.ID); err != nil {
			return err
		}
		// b's task, asked as a's: the filter and the policy both refuse.
		if _, err := s.Tasks.Get(t.Context(), db.a.org, db.b.task.ID); !errors.Is(err, domain.ErrTaskNotFound) {
			t.Errorf("b's task read as a's: %v, want not found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertClean(t, one)
}

// A statement sent with COMMIT that fails (an event queued for an absent
// organization: its foreign key) makes Postgres skip the rest of the
// string, COMMIT included, so the transaction BEGIN opened in that same
// string is still open: it must be rolled back, not pooled.
func TestLazyTx_AFailureSentWithCommitLeavesNoTransactionOpen(t *testing.T) {
	t.Parallel()
	_, one := onePool(t)
	store := newStore(one)
	e := &domain.Event{OrgID: 1 << 40, Type: domain.EventTaskCreated, OccurredAt: time.Now(),
		Subject: domain.EventSubject{Type: domain.SubjectTask, ID: 1}, Data: []byte(`{}`)}
	if err := store.Stores().Events.Append(t.Context(), e); !errors.Is(err, domain.ErrOrgNotFound) {
		t.Fatalf("append to an absent organization: %v, want org not found", err)
	}
	assertClean(t, one)
}
