package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/sqlite"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// holdWriteLock takes the database's write lock at path from a connection
// of its own (as another process would), until t ends or release is
// called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sqlx.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_, _ = conn.ExecContext(context.Background(), `ROLLBACK`)
		_, _ = conn.Close(), db.Close()
	}
	t.Cleanup(release)
	return release
}

// TestDialect_Unavailable holds the classification to errors the SQLite
// driver really returns, each made by doing what causes it.
func TestDialect_Unavailable(t *testing.T) {
	t.Parallel()
	p := openMigrated(t)
	exec := func(db *sqlx.DB, query string) error {
		_, err := db.ExecContext(t.Context(), query)
		return err
	}
	cases := []struct {
		name string
		want bool
		err  func(t *testing.T) error
	}{
		{"busy_write_lock_held_by_another_connection", true, func(t *testing.T) error {
			path := filepath.Join(t.TempDir(), "busy.db")
			holdWriteLock(t, path)
			other, err := sqlx.Open("sqlite", path+"?_pragma=busy_timeout(0)")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			return exec(other, `BEGIN IMMEDIATE`)
		}},
		{"cannot_open_a_file_in_a_missing_directory", true, func(t *testing.T) error {
			db, err := sqlx.Open("sqlite", filepath.Join(t.TempDir(), "missing", "dir", "x.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			return db.PingContext(t.Context())
		}},
		{"syntax_error", false, func(*testing.T) error { return exec(p.write, `SELEC 1`) }},
		{"unique_violation", false, func(*testing.T) error {
			return exec(p.write, `INSERT INTO organizations (id, name) VALUES (1, 'a'), (1, 'b')`)
		}},
		{"write_on_a_query_only_reader_is_our_bug", false, func(*testing.T) error {
			return exec(p.read, `INSERT INTO organizations (name) VALUES ('x')`)
		}},
		{"no_rows", false, func(*testing.T) error {
			var one int
			return p.read.QueryRowContext(t.Context(), `SELECT 1 WHERE 0`).Scan(&one)
		}},
		{"nil", false, func(*testing.T) error { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if tc.want && err == nil {
				t.Fatal("the case produced no error")
			}
			if got := (sqlite.Dialect{}).Unavailable(err); got != tc.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

// TestStores_WriteLockHeldPastTheBusyTimeout_IsUnavailable: while another
// process holds the database's write lock longer than the busy timeout
// (5 s), a write, whether one statement or a transaction, fails as
// unavailable (a 503), not as an internal error; reads go on (WAL); and
// once the lock is free the same stores write again. It waits out the
// busy timeout twice, some ten seconds.
func TestStores_WriteLockHeldPastTheBusyTimeout_IsUnavailable(t *testing.T) {
	t.Parallel()
	p := openMigrated(t)
	store := newStore(p)
	s := store.Stores()
	o, err := domain.NewOrganization("Acme", testTime)
	wantNoErr(t, err)
	wantNoErr(t, s.Orgs.Create(t.Context(), o))
	u := &domain.User{OrgID: o.ID, Email: "admin@example.com", PasswordHash: "x", Role: domain.RoleAdmin, CreatedAt: testTime}
	wantNoErr(t, s.Users.Create(t.Context(), u))
	newTask := func() *domain.Task {
		tk, err := domain.NewTask(o.ID, u.ID, "write", "", nil, testTime)
		wantNoErr(t, err)
		return tk
	}

	release := holdWriteLock(t, p.path)
	for name, write := range map[string]func() error{
		"one_statement": func() error { return s.Tasks.Create(t.Context(), newTask()) },
		"transaction": func() error {
			return store.InTx(t.Context(), func(s ports.Stores) error { return s.Tasks.Create(t.Context(), newTask()) })
		},
	} {
		began := time.Now()
		err := write()
		if !errors.Is(err, domain.ErrDatabaseUnavailable) || domain.KindOf(err) != domain.KindUnavailable {
			t.Errorf("%s with the write lock held elsewhere: got %v after %v, want domain.ErrDatabaseUnavailable",
				name, err, time.Since(began).Round(time.Millisecond))
		}
	}
	if _, err := s.Users.Get(t.Context(), o.ID, u.ID); err != nil {
		t.Fatalf("a read while the write lock is held elsewhere: %v", err)
	}
	release()
	wantNoErr(t, s.Tasks.Create(t.Context(), newTask()))
	page, err := s.Tasks.List(t.Context(), o.ID, ports.TaskFilter{Limit: 10})
	wantNoErr(t, err)
	if len(page.Tasks) != 1 {
		t.Fatalf("%d tasks after the lock was released, want the 1 written since", len(page.Tasks))
	}
}
