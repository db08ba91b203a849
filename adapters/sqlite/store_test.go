package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/sqlite"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/adapters/storetest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/migrations"
	"github.com/taskflow/taskflow/ports"
)

// pools is one database file opened as the service opens it.
type pools struct {
	path        string
	read, write *sqlx.DB
}

// open opens the database file at path, closed when t ends.
func open(t testing.TB, path string) pools {
	t.Helper()
	read, write, err := sqlite.Open(t.Context(), path, 4)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _, _ = read.Close(), write.Close() })
	return pools{path: path, read: read, write: write}
}

// openFresh opens a new database file in a directory of t's own.
func openFresh(t testing.TB) pools {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "taskflow.db"))
}

// openMigrated opens a fresh database, migrated up.
func openMigrated(t testing.TB) pools {
	t.Helper()
	p := openFresh(t)
	migrate(t, p.write, "up")
	return p
}

// newStore is the stores over p as bootstrap builds them.
func newStore(p pools) *sqlstore.DB {
	return sqlstore.New(p.read, p.write, sqlite.Dialect{})
}

func TestStores(t *testing.T) {
	t.Parallel()
	store := newStore(openMigrated(t))
	storetest.Run(t, func(*testing.T) (ports.Stores, ports.Transactor) {
		return store.Stores(), store
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()

	t.Run("creates_the_directory_and_the_file_in_WAL_mode_with_foreign_keys_on", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nested", "dir", "taskflow.db")
		p := open(t, path)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("database file: %v", err)
		}
		for pool, db := range map[string]*sqlx.DB{"read": p.read, "write": p.write} {
			var mode string
			var fk, busy int
			if err := db.GetContext(t.Context(), &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
				t.Errorf("%s pool: journal_mode = %q, %v; want wal", pool, mode, err)
			}
			if err := db.GetContext(t.Context(), &fk, "PRAGMA foreign_keys"); err != nil || fk != 1 {
				t.Errorf("%s pool: foreign_keys = %d, %v; want 1", pool, fk, err)
			}
			if err := db.GetContext(t.Context(), &busy, "PRAGMA busy_timeout"); err != nil || busy < 1000 {
				t.Errorf("%s pool: busy_timeout = %d, %v; want a wait of a second or more", pool, busy, err)
			}
		}
		if n := p.write.Stats().MaxOpenConnections; n != 1 {
			t.Errorf("write pool holds up to %d connections, want 1", n)
		}
	})

	t.Run("the_read_pool_refuses_writes", func(t *testing.T) {
		t.Parallel()
		p := openMigrated(t)
		_, err := p.read.ExecContext(t.Context(), `INSERT INTO organizations (name) VALUES ('x')`)
		if err == nil {
			t.Fatal("an insert through the read pool succeeded")
		}
	})

	t.Run("a_path_with_a_query_is_refused", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "taskflow.db?_pragma=foreign_keys(0)")
		if _, _, err := sqlite.Open(t.Context(), path, 1); err == nil {
			t.Fatal("Open accepted a path with a query string")
		}
	})

	t.Run("an_unwritable_directory_is_an_error", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sqlite.Open(t.Context(), filepath.Join(file, "taskflow.db"), 1); err == nil {
			t.Fatal("Open succeeded under a regular file")
		}
	})
}

func TestPing(t *testing.T) {
	t.Parallel()
	p := openFresh(t)
	if err := newStore(p).Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	_ = p.read.Close()
	if err := newStore(p).Ping(t.Context()); err == nil {
		t.Fatal("ping over a closed pool succeeded")
	}
}

// TestStores_DataSurvivesReopening: what one process wrote, the next
// reads, with its times and ids as they were.
func TestStores_DataSurvivesReopening(t *testing.T) {
	t.Parallel()
	first := openMigrated(t)
	o, err := domain.NewOrganization("Acme", testTime)
	if err != nil {
		t.Fatal(err)
	}
	if err := newStore(first).Stores().Orgs.Create(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	_, _ = first.read.Close(), first.write.Close()

	again := open(t, first.path)
	migrate(t, again.write, "up") // as every start does: nothing to do
	got, err := newStore(again).Stores().Orgs.Get(t.Context(), o.ID)
	if err != nil {
		t.Fatalf("get after reopening: %v", err)
	}
	if *got != *o {
		t.Fatalf("after reopening: got %+v, want %+v", got, o)
	}
}

func TestDialect_Violation(t *testing.T) {
	t.Parallel()
	p := openMigrated(t)
	store := newStore(p)
	o, err := domain.NewOrganization("Acme", testTime)
	if err != nil {
		t.Fatal(err)
	}
	wantNoErr(t, store.Stores().Orgs.Create(t.Context(), o))
	exec := func(query string, args ...any) error {
		_, err := p.write.ExecContext(t.Context(), query, args...)
		return err
	}
	insertInvite := `INSERT INTO invites (organization_id, code_hash, role, expires_at) VALUES (?, 'h', 'USER', '2030-01-01 00:00:00+00:00')`
	wantNoErr(t, exec(insertInvite, o.ID))
	for _, c := range []struct {
		name                string
		err                 error
		wantClass, wantName string
	}{
		{"unique_column", exec(insertInvite, o.ID), "unique", "invites_code_hash_key"},
		{"unique_expression_index", func() error {
			// The schema has no unique index on an expression since the
			// email's moved to its lookup table; this throwaway one
			// stands in for any.
			wantNoErr(t, exec(`CREATE UNIQUE INDEX organizations_name_lower_key ON organizations (lower(name))`))
			return exec(`INSERT INTO organizations (name) VALUES ('ACME')`)
		}(), "unique", "organizations_name_lower_key"},
		{"primary_key_without_rowid", func() error {
			q := `INSERT INTO user_email_lookup (email, organization_id, user_id) VALUES (lower(?), ?, 1)`
			wantNoErr(t, exec(q, "a@example.com", o.ID))
			return exec(q, "A@example.com", o.ID)
		}(), "unique", "user_email_lookup_pkey"},
		{"primary_key", exec(`INSERT INTO organizations (id, name) VALUES (?, 'again')`, o.ID), "unique", "organizations_pkey"},
		{"foreign_key", exec(`INSERT INTO users (organization_id, email, password_hash, role) VALUES (?, 'b@example.com', 'x', 'USER')`, o.ID+1000), "foreign_key", ""},
		{"check", exec(`INSERT INTO organizations (name) VALUES ('')`), "", ""},
		{"not_sqlite", errors.New("boom"), "", ""},
	} {
		class, name := sqlite.Dialect{}.Violation(c.err)
		if class != c.wantClass || name != c.wantName {
			t.Errorf("%s: Violation(%v) = %q, %q; want %q, %q", c.name, c.err, class, name, c.wantClass, c.wantName)
		}
	}
}

func migrate(t testing.TB, db *sqlx.DB, command string) string {
	t.Helper()
	var out bytes.Buffer
	if err := sqlite.Migrate(t.Context(), db.DB, command, &out); err != nil {
		t.Fatalf("migrate %s: %v\n%s", command, err, out.String())
	}
	return out.String()
}

func tableExists(t *testing.T, db *sqlx.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.GetContext(t.Context(), &n, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// migrationCount is the number of embedded SQLite migrations.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.SQLite, "sqlite/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v (%d files)", err, len(files))
	}
	return len(files)
}

func TestMigrate(t *testing.T) {
	t.Parallel()

	t.Run("up_status_and_down_step_by_step_to_empty", func(t *testing.T) {
		t.Parallel()
		db := openFresh(t).write

		status := migrate(t, db, "status")
		if strings.Contains(status, "applied") || !strings.Contains(status, "00004_tasks.sql") {
			t.Fatalf("status before up:\n%s", status)
		}

		migrate(t, db, "up")
		for _, table := range []string{"organizations", "users", "invites", "tasks", "installation"} {
			if !tableExists(t, db, table) {
				t.Fatalf("table %s missing after up", table)
			}
		}
		if out := migrate(t, db, "up"); !strings.Contains(out, "no pending migrations") {
			t.Fatalf("second up:\n%s", out)
		}
		status = migrate(t, db, "status")
		if strings.Contains(status, "pending") || strings.Count(status, "applied") != migrationCount(t) {
			t.Fatalf("status after up:\n%s", status)
		}

		// One down per migration, newest first, until none is left.
		for range migrationCount(t) {
			migrate(t, db, "down")
		}
		for _, table := range []string{"refresh_tokens", "sessions", "installation", "tasks", "invites", "users", "organizations"} {
			if tableExists(t, db, table) {
				t.Fatalf("table %s still there after every down", table)
			}
		}
		if out := migrate(t, db, "down"); !strings.Contains(out, "no migration to roll back") {
			t.Fatalf("down at version 0:\n%s", out)
		}

		// Down left nothing behind that would stop a fresh up.
		migrate(t, db, "up")
	})

	t.Run("unknown_command_is_an_error", func(t *testing.T) {
		t.Parallel()
		db := openFresh(t).write
		if err := sqlite.Migrate(t.Context(), db.DB, "sideways", &bytes.Buffer{}); err == nil {
			t.Fatal("Migrate accepted an unknown command")
		}
	})
}

func TestInstallationID_IsStableAndDiffersBetweenDatabases(t *testing.T) {
	t.Parallel()
	a, b := newStore(openMigrated(t)), newStore(openMigrated(t))
	idA, err := a.InstallationID(t.Context())
	if err != nil || len(idA) != 32 {
		t.Fatalf("InstallationID = %q, %v; want 32 hex digits", idA, err)
	}
	again, _ := a.InstallationID(t.Context())
	idB, _ := b.InstallationID(t.Context())
	if again != idA {
		t.Fatalf("id changed between reads: %q then %q", idA, again)
	}
	if idB == idA {
		t.Fatalf("two databases share installation id %q", idA)
	}
}

// TestStores_WritersInTwoProcessesTakeTurns opens the file twice, as two
// processes would: each has its own single writer, so the racing updates
// meet at SQLite's lock rather than in one Go pool. BEGIN IMMEDIATE and
// the busy timeout must still let exactly one transition win.
func TestStores_WritersInTwoProcessesTakeTurns(t *testing.T) {
	t.Parallel()
	a := openMigrated(t)
	b := open(t, a.path)
	sa, sb := newStore(a).Stores(), newStore(b).Stores()
	o, err := domain.NewOrganization("Acme", testTime)
	wantNoErr(t, err)
	wantNoErr(t, sa.Orgs.Create(t.Context(), o))
	u := &domain.User{OrgID: o.ID, Email: "admin@example.com", PasswordHash: "x", Role: domain.RoleAdmin, CreatedAt: testTime}
	wantNoErr(t, sa.Users.Create(t.Context(), u))
	tk, err := domain.NewTask(o.ID, u.ID, "race", "", nil, testTime)
	wantNoErr(t, err)
	wantNoErr(t, sa.Tasks.Create(t.Context(), tk))

	const n = 10
	errs := make(chan error, n)
	for i := range n {
		stores := []ports.Stores{sa, sb}[i%2]
		go func() {
			_, err := stores.Tasks.Update(context.WithoutCancel(t.Context()), o.ID, tk.ID, func(cur *domain.Task) error {
				return cur.Transition(domain.StatusInProgress, testTime)
			})
			errs <- err
		}()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, domain.ErrInvalidTransition):
			t.Fatalf("loser got %v, want an invalid transition", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d transitions won, want 1", won)
	}
}

func wantNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testTime has nanoseconds and a zone: the store keeps UTC microseconds.
var testTime = mustTime("2030-01-02T03:04:05.123456789+01:00")

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func BenchmarkTaskStore_List(b *testing.B) {
	storetest.BenchmarkList(b, newStore(openMigrated(b)).Stores())
}

// TestMigrate_TaskDetailsBackfill proves what 00008_task_details gives the
// tasks that existed before it: MEDIUM, no due date, no labels, and
// completed_at only for COMPLETED ones (their updated_at).
func TestMigrate_TaskDetailsBackfill(t *testing.T) {
	t.Parallel()
	p := openFresh(t)
	migrate(t, p.write, "up")
	for strings.Contains(statusLine(t, p.write, "_task_details.sql"), "applied") {
		migrate(t, p.write, "down")
	}
	if tableExists(t, p.write, "task_labels") {
		t.Fatal("task_labels still there after task_details was rolled back")
	}

	done := "2029-05-06 07:08:09.123456+00:00"
	var org, open, completed int64
	db := p.write
	if err := db.GetContext(t.Context(), &org, `INSERT INTO organizations (name) VALUES ('before') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(t.Context(), &open,
		`INSERT INTO tasks (organization_id, title, status, created_by) VALUES (?, 'open', 'IN_PROGRESS', 1) RETURNING id`, org); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(t.Context(), &completed,
		`INSERT INTO tasks (organization_id, title, status, created_by, updated_at) VALUES (?, 'done', 'COMPLETED', 1, ?) RETURNING id`,
		org, done); err != nil {
		t.Fatal(err)
	}
	migrate(t, db, "up")

	stores := newStore(p).Stores()
	for _, id := range []int64{open, completed} {
		tk, err := stores.Tasks.Get(t.Context(), domain.OrgID(org), domain.TaskID(id))
		if err != nil {
			t.Fatalf("get task %d: %v", id, err)
		}
		if tk.Priority != domain.PriorityMedium || tk.DueAt != nil || tk.Labels == nil || len(tk.Labels) != 0 {
			t.Fatalf("migrated task %+v: want MEDIUM, no due date, labels []", tk)
		}
		switch {
		case id == open && tk.CompletedAt != nil:
			t.Fatalf("open task got completed_at %v", tk.CompletedAt)
		case id == completed && (tk.CompletedAt == nil || !tk.CompletedAt.Equal(tk.UpdatedAt) ||
			tk.CompletedAt.Format("2006-01-02 15:04:05.000000") != done[:26]):
			t.Fatalf("completed task: completed_at %v, updated_at %v; want both %s", tk.CompletedAt, tk.UpdatedAt, done)
		}
	}
}

// statusLine is the line of "migrate status" naming the migration whose
// file name ends in suffix.
func statusLine(t *testing.T, db *sqlx.DB, suffix string) string {
	t.Helper()
	for line := range strings.Lines(migrate(t, db, "status")) {
		if strings.Contains(line, suffix) {
			return line
		}
	}
	t.Fatalf("no migration *%s in status", suffix)
	return ""
}

// BenchmarkOutbox: see storetest.BenchmarkOutbox (SQLite has one writer
// at a time whatever the organization).
func BenchmarkOutbox(b *testing.B) {
	store := newStore(openMigrated(b))
	for _, writers := range []int{1, 8} {
		storetest.BenchmarkOutbox(b, store.Stores(), store, writers)
	}
}
