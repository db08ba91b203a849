package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/adapters/storetest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/migrations"
	"github.com/taskflow/taskflow/ports"
)

// openMigrated opens a fresh database, migrated up by its owner, as the
// application role (bound by row-level security), as the service runs;
// closed when t ends.
func openMigrated(t testing.TB) *sqlx.DB {
	t.Helper()
	return open(t, migratedAppURL(t))
}

// migratedAppURL makes a fresh database, migrated up by its owner, and
// returns the application role's URL for it.
func migratedAppURL(t testing.TB) string {
	t.Helper()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner := open(t, ownerURL)
	if err := postgres.Migrate(t.Context(), owner.DB, "up", &bytes.Buffer{}); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	_ = owner.Close()
	return appURL
}

func open(t testing.TB, url string) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url, 10)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestStores(t *testing.T) {
	t.Parallel()
	store := newStore(openMigrated(t))
	storetest.Run(t, func(*testing.T) (ports.Stores, ports.Transactor) {
		return store.Stores(), store
	})
}

// TestStores_ThroughPgBouncer runs the contract through PgBouncer in
// transaction pooling with two server connections for the pool's ten:
// every transaction may land on another server connection, and
// statements outside one each may too.
func TestStores_ThroughPgBouncer(t *testing.T) {
	t.Parallel()
	store := newStore(open(t, throughPgBouncer(t, migratedAppURL(t))))
	storetest.Run(t, func(*testing.T) (ports.Stores, ports.Transactor) {
		return store.Stores(), store
	})
}

// throughPgBouncer is url (of the test server) reached through a
// PgBouncer of the test's own in pool_mode = transaction, with
// default_pool_size = 2.
func throughPgBouncer(t testing.TB, url string) string {
	t.Helper()
	return faulttest.StartPgBouncer(t, pgtest.ServerURL()).URL(url)
}

// newStore is the stores over db as bootstrap builds them: one pool for
// reads and writes.
func newStore(db *sqlx.DB) *sqlstore.DB {
	return sqlstore.New(db, db, postgres.Dialect{})
}

func TestPing(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.NewDatabase(t))
	if err := newStore(db).Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	_ = db.Close()
	if err := newStore(db).Ping(t.Context()); err == nil {
		t.Fatal("ping over a closed pool succeeded")
	}
}

func TestOpen_unreachable_server_is_an_error(t *testing.T) {
	t.Parallel()
	// Port 1 on the loopback refuses connections at once.
	_, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", 2)
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
}

func migrate(t *testing.T, db *sql.DB, command string) string {
	t.Helper()
	var out bytes.Buffer
	if err := postgres.Migrate(t.Context(), db, command, &out); err != nil {
		t.Fatalf("migrate %s: %v\n%s", command, err, out.String())
	}
	return out.String()
}

func tableExists(t *testing.T, db *sqlx.DB, name string) bool {
	t.Helper()
	var ok bool
	if err := db.GetContext(t.Context(), &ok, `SELECT to_regclass($1) IS NOT NULL`, name); err != nil {
		t.Fatal(err)
	}
	return ok
}

// migrationCount is the number of embedded Postgres migrations.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.Postgres, "postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v (%d files)", err, len(files))
	}
	return len(files)
}

func TestMigrate(t *testing.T) {
	t.Parallel()

	t.Run("up_status_and_down_step_by_step_to_empty", func(t *testing.T) {
		t.Parallel()
		db := open(t, pgtest.NewDatabase(t))

		status := migrate(t, db.DB, "status")
		if strings.Contains(status, "applied") || !strings.Contains(status, "00004_tasks.sql") {
			t.Fatalf("status before up:\n%s", status)
		}

		migrate(t, db.DB, "up")
		for _, table := range []string{"organizations", "users", "invites", "tasks"} {
			if !tableExists(t, db, table) {
				t.Fatalf("table %s missing after up", table)
			}
		}
		if out := migrate(t, db.DB, "up"); !strings.Contains(out, "no pending migrations") {
			t.Fatalf("second up:\n%s", out)
		}
		status = migrate(t, db.DB, "status")
		if strings.Contains(status, "pending") || strings.Count(status, "applied") != migrationCount(t) {
			t.Fatalf("status after up:\n%s", status)
		}

		// One down per migration, newest first, until none is left.
		for range migrationCount(t) {
			migrate(t, db.DB, "down")
		}
		for _, table := range []string{"refresh_tokens", "sessions", "installation", "tasks", "invites", "users", "organizations"} {
			if tableExists(t, db, table) {
				t.Fatalf("table %s still there after every down", table)
			}
		}
		if out := migrate(t, db.DB, "down"); !strings.Contains(out, "no migration to roll back") {
			t.Fatalf("down at version 0:\n%s", out)
		}

		// Down left nothing behind that would stop a fresh up.
		migrate(t, db.DB, "up")
	})

	t.Run("unknown_command_is_an_error", func(t *testing.T) {
		t.Parallel()
		db := open(t, pgtest.NewDatabase(t))
		if err := postgres.Migrate(t.Context(), db.DB, "sideways", &bytes.Buffer{}); err == nil {
			t.Fatal("Migrate accepted an unknown command")
		}
	})

	t.Run("concurrent_ups_both_succeed", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		// Two pools, as two replicas starting at once would have.
		dbs := []*sqlx.DB{open(t, url), open(t, url)}
		errs := make(chan error, len(dbs))
		for _, db := range dbs {
			go func() {
				errs <- postgres.Migrate(context.WithoutCancel(t.Context()), db.DB, "up", &bytes.Buffer{})
			}()
		}
		for range dbs {
			if err := <-errs; err != nil {
				t.Fatalf("migrate up: %v", err)
			}
		}
		status := migrate(t, dbs[0].DB, "status")
		if strings.Count(status, "applied") != migrationCount(t) {
			t.Fatalf("status after concurrent ups:\n%s", status)
		}
	})
}

func TestInstallationID_IsStableAndDiffersBetweenDatabases(t *testing.T) {
	t.Parallel()
	a, b := openMigrated(t), openMigrated(t)
	idA, err := newStore(a).InstallationID(t.Context())
	if err != nil || idA == "" {
		t.Fatalf("InstallationID = %q, %v", idA, err)
	}
	again, _ := newStore(a).InstallationID(t.Context())
	idB, _ := newStore(b).InstallationID(t.Context())
	if again != idA {
		t.Fatalf("id changed between reads: %q then %q", idA, again)
	}
	if idB == idA {
		t.Fatalf("two databases share installation id %q", idA)
	}
}

// TestMigrate_TaskDetailsBackfill proves what 00009_task_details gives the
// tasks that existed before it: MEDIUM, no due date, no labels, and
// completed_at only for COMPLETED ones (their updated_at).
func TestMigrate_TaskDetailsBackfill(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.NewDatabase(t))
	migrate(t, db.DB, "up")
	for strings.Contains(statusLine(t, db.DB, "_task_details.sql"), "applied") {
		migrate(t, db.DB, "down")
	}
	if tableExists(t, db, "task_labels") {
		t.Fatal("task_labels still there after task_details was rolled back")
	}

	done := time.Date(2029, 5, 6, 7, 8, 9, 123456000, time.UTC)
	var org, open, completed int64
	if err := db.GetContext(t.Context(), &org, `INSERT INTO organizations (name) VALUES ('before') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(t.Context(), &open,
		`INSERT INTO tasks (organization_id, title, status, created_by) VALUES ($1, 'open', 'IN_PROGRESS', 1) RETURNING id`, org); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(t.Context(), &completed,
		`INSERT INTO tasks (organization_id, title, status, created_by, updated_at) VALUES ($1, 'done', 'COMPLETED', 1, $2) RETURNING id`,
		org, done); err != nil {
		t.Fatal(err)
	}
	migrate(t, db.DB, "up")

	stores := newStore(db).Stores()
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
		case id == completed && (tk.CompletedAt == nil || !tk.CompletedAt.Equal(done)):
			t.Fatalf("completed task: completed_at %v; want %v", tk.CompletedAt, done)
		}
	}
}

// statusLine is the line of "migrate status" naming the migration whose
// file name ends in suffix.
func statusLine(t *testing.T, db *sql.DB, suffix string) string {
	t.Helper()
	for line := range strings.Lines(migrate(t, db, "status")) {
		if strings.Contains(line, suffix) {
			return line
		}
	}
	t.Fatalf("no migration *%s in status", suffix)
	return ""
}

// Why the migrations need a direct connection (MIGRATION_DATABASE_URL):
// they hold a session-level advisory lock across statements so that two
// replicas never migrate at once, and through PgBouncer in transaction
// pooling a session is one statement long. Here the connection that took
// the lock finds, while another client holds that server connection in a
// transaction, that its next statement runs on another backend, which
// holds no lock to release: the lock would exclude nobody and outlive the
// migration.
func TestMigrate_SessionAdvisoryLockDoesNotHoldThroughTransactionPooling(t *testing.T) {
	t.Parallel()
	_, ownerURL := pgtest.NewAppDatabase(t)
	pooled := throughPgBouncer(t, ownerURL)
	ctx := t.Context()
	locker, other := open(t, pooled), open(t, pooled)
	conn, err := locker.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var lockedOn int
	if err := conn.GetContext(ctx, &lockedOn, `SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock(4242)) l`); err != nil {
		t.Fatal(err)
	}
	// The other client's transaction takes the free server connection
	// that just took the lock (PgBouncer reuses the last one freed).
	tx, err := other.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var busy int
	if err := tx.GetContext(ctx, &busy, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	if busy != lockedOn {
		t.Fatalf("the other client's transaction runs on backend %d, not %d, which holds the lock; PgBouncer did not hand it on", busy, lockedOn)
	}
	var now struct {
		PID      int  `db:"pid"`
		Unlocked bool `db:"unlocked"`
	}
	if err := conn.GetContext(ctx, &now, `SELECT pg_backend_pid() AS pid, pg_advisory_unlock(4242) AS unlocked`); err != nil {
		t.Fatal(err)
	}
	if now.PID == lockedOn || now.Unlocked {
		t.Fatalf("the locking connection's next statement ran on backend %d (unlocked: %v); transaction pooling would have moved it off %d", now.PID, now.Unlocked, lockedOn)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
}
