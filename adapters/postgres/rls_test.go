package postgres_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The second wall: these tests write SQL the stores never would (no
// organization filter, another organization's id) and check that
// row-level security alone keeps tenants apart, for the role the service
// connects as.

// rlsDB is one migrated database seen as the application role, with two
// organizations, each with a member, an invite and a task.
type rlsDB struct {
	url   string
	app   *sqlx.DB
	store *sqlstore.DB
	a, b  tenantRows
}

type tenantRows struct {
	org    domain.OrgID
	user   *domain.User
	invite *domain.Invite
	task   *domain.Task
}

// newRLSDB makes the database; the application connects to
// through(its URL).
func newRLSDB(t *testing.T, through func(testing.TB, string) string) *rlsDB {
	t.Helper()
	db := &rlsDB{url: through(t, migratedAppURL(t))}
	db.app = open(t, db.url)
	db.store = newStore(db.app)
	db.a, db.b = db.seed(t, "a"), db.seed(t, "b")
	return db
}

// seed makes an organization and its rows through the stores, which are
// the one sanctioned way in.
func (db *rlsDB) seed(t *testing.T, name string) tenantRows {
	t.Helper()
	ctx, s := t.Context(), db.store.Stores()
	now := time.Now()
	org, err := domain.NewOrganization("rls "+name, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, org); err != nil {
		t.Fatalf("create organization: %v", err)
	}
	u := &domain.User{OrgID: org.ID, Email: "admin-" + name + "-" + strings.ToLower(t.Name()) + "@example.test",
		PasswordHash: "$2a$10$hash", Role: domain.RoleAdmin, CreatedAt: now}
	u.Email = strings.NewReplacer("/", "-", "_", "-").Replace(u.Email)
	if err := s.Users.Create(ctx, u); err != nil {
		t.Fatalf("create user: %v", err)
	}
	inv := &domain.Invite{OrgID: org.ID, CodeHash: "hash-" + name + "-" + u.Email, Role: domain.RoleUser,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.Invites.Create(ctx, inv); err != nil {
		t.Fatalf("create invite: %v", err)
	}
	tk, err := domain.NewTask(org.ID, u.ID, "task of "+name, "", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tasks.Create(ctx, tk); err != nil {
		t.Fatalf("create task: %v", err)
	}
	// An old event, which only the retention purge may delete across
	// tenants, and its counter row.
	ev := &domain.Event{OrgID: org.ID, Type: domain.EventTaskCreated, OccurredAt: now.Add(-24 * time.Hour),
		Subject: domain.EventSubject{Type: domain.SubjectTask, ID: int64(tk.ID)}, Data: []byte(`{}`)}
	if err := s.Events.Append(ctx, ev); err != nil {
		t.Fatalf("append event: %v", err)
	}
	if _, err := s.Events.Number(ctx, org.ID); err != nil {
		t.Fatalf("number events: %v", err)
	}
	return tenantRows{org: org.ID, user: u, invite: inv, task: tk}
}

// asTenant runs fn in a transaction confined to org exactly as the stores
// confine theirs, rolled back afterwards.
func (db *rlsDB) asTenant(t *testing.T, org domain.OrgID, fn func(tx *sqlx.Tx)) {
	t.Helper()
	tx, err := db.app.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), postgres.Dialect{}.ScopeSQL(int64(org))); err != nil {
		t.Fatalf("confine to %d: %v", org, err)
	}
	fn(tx)
}

// tenantTables lists every table of the public schema with an
// organization_id column: whatever a later migration adds is covered
// without being named here. It reads pg_catalog, which shows every table
// to every role (information_schema hides those the role has no right on).
func tenantTables(t *testing.T, q sqlx.QueryerContext) []string {
	t.Helper()
	var tables []string
	err := sqlx.SelectContext(t.Context(), q, &tables, `
		SELECT c.relname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
		  AND a.attname = 'organization_id' AND NOT a.attisdropped
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"invites", "tasks", "users"} {
		if !contains(tables, want) {
			t.Fatalf("tenant tables %v miss %s: the discovery query is broken", tables, want)
		}
	}
	return tables
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func count(t *testing.T, q sqlx.QueryerContext, query string, args ...any) int {
	t.Helper()
	var n int
	if err := sqlx.GetContext(t.Context(), q, &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// refusedByPolicy reports whether err is Postgres refusing a row under
// row-level security (insufficient_privilege, 42501).
func refusedByPolicy(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42501"
}

func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	testRowLevelSecurity(t, newRLSDB(t, func(_ testing.TB, url string) string { return url }))
}

// TestRowLevelSecurity_ThroughPgBouncer is the same wall with the
// application behind PgBouncer in transaction pooling, two server
// connections shared by every pool of the suite.
func TestRowLevelSecurity_ThroughPgBouncer(t *testing.T) {
	t.Parallel()
	testRowLevelSecurity(t, newRLSDB(t, throughPgBouncer))
}

func testRowLevelSecurity(t *testing.T, db *rlsDB) {

	t.Run("the_application_role_is_neither_superuser_nor_bypassrls_and_owns_nothing", func(t *testing.T) {
		t.Parallel()
		role, err := postgres.CurrentRole(t.Context(), db.app)
		if err != nil {
			t.Fatal(err)
		}
		if role.Superuser || role.BypassRLS || role.OwnerRights || role.Bypasses() {
			t.Fatalf("application role %+v: want no SUPERUSER, no BYPASSRLS, no owner rights", role)
		}
		if n := count(t, db.app, `SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)`); n != 0 {
			t.Fatalf("application role %s owns %d relations", role.Name, n)
		}
	})

	t.Run("every_tenant_table_has_row_level_security_enabled_and_forced_with_a_tenant_policy", func(t *testing.T) {
		t.Parallel()
		for _, table := range append(tenantTables(t, db.app), "organizations") {
			var rls struct {
				Enabled bool `db:"relrowsecurity"`
				Forced  bool `db:"relforcerowsecurity"`
			}
			if err := db.app.GetContext(t.Context(), &rls,
				`SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass('public.' || $1)`, table); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			if !rls.Enabled || !rls.Forced {
				t.Errorf("table %s: row level security enabled=%v forced=%v, want both", table, rls.Enabled, rls.Forced)
			}
			// Granted, too: else the stores fail on it, not the wall.
			if n := count(t, db.app, `SELECT count(*) WHERE has_table_privilege('public.' || $1, 'SELECT')`, table); n != 1 {
				t.Errorf("table %s: the application role may not read it (GRANT ... TO taskflow_app)", table)
			}
			// One policy for every command, on the tenant setting both
			// for the rows seen and the rows written.
			n := count(t, db.app, `SELECT count(*) FROM pg_policies
				WHERE schemaname = 'public' AND tablename = $1 AND cmd = 'ALL' AND permissive = 'PERMISSIVE'
				  AND qual LIKE '%app.organization_id%' AND with_check LIKE '%app.organization_id%'`, table)
			if n != 1 {
				t.Errorf("table %s has %d tenant policies for ALL commands, want 1", table, n)
			}
		}
	})

	t.Run("a_query_without_the_organization_filter_returns_only_the_current_tenants_rows", func(t *testing.T) {
		t.Parallel()
		for _, tn := range []tenantRows{db.a, db.b} {
			db.asTenant(t, tn.org, func(tx *sqlx.Tx) {
				for _, table := range tenantTables(t, tx) {
					var orgs []int64
					if err := tx.SelectContext(t.Context(), &orgs, `SELECT DISTINCT organization_id FROM `+pq.QuoteIdentifier(table)); err != nil {
						t.Fatalf("%s: %v", table, err)
					}
					if len(orgs) > 1 || (len(orgs) == 1 && orgs[0] != int64(tn.org)) {
						t.Errorf("as organization %d, table %s shows organizations %v", tn.org, table, orgs)
					}
				}
				for _, table := range []string{"users", "invites", "tasks", "events", "event_counters"} {
					if n := count(t, tx, `SELECT count(*) FROM `+table); n != 1 {
						t.Errorf("as organization %d, %s has %d rows, want its own 1", tn.org, table, n)
					}
				}
				var ids []int64
				if err := tx.SelectContext(t.Context(), &ids, `SELECT id FROM organizations`); err != nil {
					t.Fatal(err)
				}
				if len(ids) != 1 || ids[0] != int64(tn.org) {
					t.Errorf("as organization %d, organizations shows %v", tn.org, ids)
				}
				// A write aimed at the other tenant's row finds nothing.
				other := db.b.task.ID
				if tn.org == db.b.org {
					other = db.a.task.ID
				}
				res, err := tx.ExecContext(t.Context(), `UPDATE tasks SET title = 'stolen' WHERE id = $1`, other)
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := res.RowsAffected(); n != 0 {
					t.Errorf("as organization %d, updated %d rows of another organization", tn.org, n)
				}
			})
		}
	})

	t.Run("without_the_purge_function_no_tenant_deletes_another_tenants_events", func(t *testing.T) {
		t.Parallel()
		db.asTenant(t, db.a.org, func(tx *sqlx.Tx) {
			res, err := tx.ExecContext(t.Context(), `DELETE FROM events WHERE organization_id = $1`, db.b.org)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 0 {
				t.Errorf("as organization %d, deleted %d events of another organization", db.a.org, n)
			}
			// The purge's own policies are keyed on a setting only its
			// function sets; a plain DELETE of old events is scoped.
			if n := count(t, tx, `SELECT count(*) FROM events WHERE occurred_at < now()`); n != 1 {
				t.Errorf("as organization %d, %d old events are visible, want its own 1", db.a.org, n)
			}
		})
	})

	t.Run("with_no_tenant_set_a_query_returns_no_rows_and_no_error", func(t *testing.T) {
		t.Parallel()
		// Never set on this connection, then set and ended by a
		// transaction (Postgres leaves it as '' then): both fail closed.
		conn, err := db.app.Connx(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		check := func(when string) {
			for _, table := range append(tenantTables(t, conn), "organizations") {
				if n := count(t, conn, `SELECT count(*) FROM `+pq.QuoteIdentifier(table)); n != 0 {
					t.Errorf("%s: %s shows %d rows with no tenant set", when, table, n)
				}
			}
		}
		check("fresh connection")
		tx, err := conn.BeginTxx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(t.Context(), postgres.Dialect{}.ScopeSQL(int64(db.a.org))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		check("after a confined transaction")
	})

	t.Run("an_insert_naming_another_organization_is_refused_by_the_policy", func(t *testing.T) {
		t.Parallel()
		inserts := map[string]string{
			"tasks": `INSERT INTO tasks (organization_id, title, status, created_by) VALUES ($1, 'planted', 'CREATED', 1)`,
			"users": `INSERT INTO users (organization_id, email, password_hash, role) VALUES ($1, 'planted-` +
				strings.ToLower(randomSuffix()) + `@example.test', 'x', 'USER')`,
			"invites": `INSERT INTO invites (organization_id, code_hash, role, expires_at) VALUES ($1, 'planted-` +
				randomSuffix() + `', 'USER', now())`,
			// A lookup row pointing login at another tenant's member.
			"user_email_lookup": `INSERT INTO user_email_lookup (email, organization_id, user_id) VALUES ('planted-` +
				strings.ToLower(randomSuffix()) + `@example.test', $1, 1)`,
		}
		for table, insert := range inserts {
			db.asTenant(t, db.a.org, func(tx *sqlx.Tx) {
				_, err := tx.ExecContext(t.Context(), insert, db.b.org)
				if !refusedByPolicy(err) {
					t.Errorf("as organization %d, insert into %s for organization %d: err %v, want a row-level security refusal (42501)",
						db.a.org, table, db.b.org, err)
				}
			})
			// And with no tenant at all.
			_, err := db.app.ExecContext(t.Context(), insert, db.b.org)
			if !refusedByPolicy(err) {
				t.Errorf("with no tenant, insert into %s: err %v, want 42501", table, err)
			}
		}
		// An update may not move a row to another organization either.
		db.asTenant(t, db.a.org, func(tx *sqlx.Tx) {
			_, err := tx.ExecContext(t.Context(), `UPDATE invites SET organization_id = $1 WHERE id = $2`, db.b.org, db.a.invite.ID)
			if !refusedByPolicy(err) {
				t.Errorf("moving an invite to another organization: err %v, want 42501", err)
			}
		})
	})

	t.Run("the_narrow_paths_work_as_the_application_role_and_open_nothing_else", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), db.store.Stores()
		u, err := s.Users.ByEmail(ctx, strings.ToUpper(db.a.user.Email))
		if err != nil || u.ID != db.a.user.ID || u.OrgID != db.a.org || u.PasswordHash != db.a.user.PasswordHash {
			t.Fatalf("login lookup = %+v, %v; want %+v", u, err, db.a.user)
		}
		if _, err := s.Users.ByEmail(ctx, "nobody@example.test"); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("login lookup of an unknown email: %v", err)
		}
		inv, err := s.Invites.ByCodeHash(ctx, db.b.invite.CodeHash)
		if err != nil || inv.ID != db.b.invite.ID || inv.OrgID != db.b.org {
			t.Fatalf("sign-up lookup = %+v, %v; want %+v", inv, err, db.b.invite)
		}
		if id, err := db.store.InstallationID(ctx); err != nil || id == "" {
			t.Fatalf("installation id = %q, %v", id, err)
		}
		// Organization creation, then its first invite, in one
		// transaction, as the application does it.
		var created domain.OrgID
		err = db.store.InTx(ctx, func(tx ports.Stores) error {
			org, err := domain.NewOrganization("rls narrow", time.Now())
			if err != nil {
				return err
			}
			if err := tx.Orgs.Create(ctx, org); err != nil {
				return err
			}
			created = org.ID
			return tx.Invites.Create(ctx, &domain.Invite{OrgID: org.ID, CodeHash: "hash-narrow-" + randomSuffix(),
				Role: domain.RoleAdmin, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
		})
		if err != nil || created == 0 {
			t.Fatalf("create organization and invite: %v", err)
		}
		if got, err := s.Orgs.Get(ctx, created); err != nil || got.Name != "rls narrow" {
			t.Fatalf("get the new organization: %+v, %v", got, err)
		}

		// The lookups leave nothing open behind them in the transaction.
		conn, err := db.app.Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		var email string
		if err := tx.GetContext(ctx, &email, `SELECT email FROM taskflow_user_by_email($1)`, db.a.user.Email); err != nil {
			t.Fatal(err)
		}
		var code string
		if err := tx.GetContext(ctx, &code, `SELECT code_hash FROM taskflow_invite_by_code_hash($1)`, db.a.invite.CodeHash); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"users", "invites", "organizations", "user_email_lookup", "invite_code_lookup"} {
			if n := count(t, tx, `SELECT count(*) FROM `+table); n != 0 {
				t.Errorf("after the narrow lookups, %s shows %d rows in the same transaction", table, n)
			}
		}
		_ = tx.Rollback()

		// No way in but the function: the role may not insert an
		// organization itself.
		_, err = db.app.ExecContext(ctx, `INSERT INTO organizations (name) VALUES ('direct')`)
		if !refusedByPolicy(err) {
			t.Fatalf("direct insert into organizations: err %v, want permission denied (42501)", err)
		}
	})

	t.Run("nothing_is_set_at_session_level", func(t *testing.T) {
		t.Parallel()
		// One connection, so the statement after the scoped calls runs on
		// the very connection they used.
		pool := open(t, db.url)
		pool.SetMaxOpenConns(1)
		store := newStore(pool)
		ctx := t.Context()
		if _, err := store.Stores().Tasks.Get(ctx, db.a.org, db.a.task.ID); err != nil {
			t.Fatal(err)
		}
		if err := store.InTx(ctx, func(s ports.Stores) error {
			_, err := s.Users.List(ctx, db.a.org)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var setting *string
		if err := pool.GetContext(ctx, &setting, `SELECT NULLIF(current_setting('app.organization_id', true), '')`); err != nil {
			t.Fatal(err)
		}
		if setting != nil {
			t.Fatalf("after scoped calls the connection carries tenant %q", *setting)
		}
		if n := count(t, pool, `SELECT count(*) FROM tasks`); n != 0 {
			t.Fatalf("after scoped calls an unscoped statement sees %d tasks", n)
		}
	})
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestMigrate_AsTheOwnerThroughSetRoleOnTheApplicationLogin is the README's
// second way to run migrations: one login, a member of the owner role, and
// a MIGRATION_DATABASE_URL that is its URL with options=-c role=<owner>,
// so the migration connections act as the owner. A login that inherits
// the owner's rights is what the start-up warning is about.
func TestMigrate_AsTheOwnerThroughSetRoleOnTheApplicationLogin(t *testing.T) {
	t.Parallel()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	app, owner := userOf(t, appURL), userOf(t, ownerURL)
	admin := open(t, pgtest.ServerURL())
	if _, err := admin.ExecContext(t.Context(), "GRANT "+pq.QuoteIdentifier(owner)+" TO "+pq.QuoteIdentifier(app)); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-c role="+owner)
	u.RawQuery = q.Encode()
	migrator := open(t, u.String())
	migrate(t, migrator.DB, "up")
	_ = migrator.Close()

	db := open(t, appURL)
	var tableOwner string
	if err := db.GetContext(t.Context(), &tableOwner, `SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'tasks'`); err != nil {
		t.Fatal(err)
	}
	if tableOwner != owner {
		t.Fatalf("tasks is owned by %q, want the owner role %q", tableOwner, owner)
	}
	role, err := postgres.CurrentRole(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if role.Name != app || !role.OwnerRights || role.Bypasses() {
		t.Fatalf("CurrentRole = %+v; want %s, with the owner's rights, bound by row-level security", role, app)
	}
}

func userOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		t.Fatalf("no user in %q: %v", raw, err)
	}
	return u.User.Username()
}

// TestRowLevelSecurity_ThroughPgBouncer_NoTenantPassesToTheNextClient: with
// one server connection behind PgBouncer in transaction pooling, another
// client (another replica, say) runs on the very backend the stores just
// used for a tenant, and must see nothing of it. The control half shows
// that the check can fail: a session-level setting does reach it.
func TestRowLevelSecurity_ThroughPgBouncer_NoTenantPassesToTheNextClient(t *testing.T) {
	t.Parallel()
	appURL := migratedAppURL(t)
	seeded := newRLSDB(t, func(testing.TB, string) string { return appURL })
	b := faulttest.StartPgBouncerPool(t, pgtest.ServerURL(), 1)
	first, next := open(t, b.URL(appURL)), open(t, b.URL(appURL))
	ctx := t.Context()
	backend := func(db *sqlx.DB) (pid int, tenant string, tasks int) {
		t.Helper()
		var row struct {
			PID    int    `db:"pid"`
			Tenant string `db:"tenant"`
			Tasks  int    `db:"tasks"`
		}
		if err := db.GetContext(ctx, &row, `SELECT pg_backend_pid() AS pid,
			coalesce(current_setting('app.organization_id', true), '') AS tenant,
			(SELECT count(*) FROM tasks) AS tasks`); err != nil {
			t.Fatal(err)
		}
		return row.PID, row.Tenant, row.Tasks
	}

	store := newStore(first)
	if _, err := store.Stores().Tasks.Get(ctx, seeded.a.org, seeded.a.task.ID); err != nil {
		t.Fatal(err)
	}
	if err := store.InTx(ctx, func(s ports.Stores) error {
		_, err := s.Tasks.Get(ctx, seeded.a.org, seeded.a.task.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	firstPID, _, _ := backend(first)
	pid, tenant, tasks := backend(next)
	if pid != firstPID {
		t.Fatalf("the next client runs on backend %d, not the first's %d: the pool is not shared", pid, firstPID)
	}
	if tenant != "" || tasks != 0 {
		t.Fatalf("after the first client's scoped transactions, the next client on the same backend sees tenant %q and %d tasks", tenant, tasks)
	}

	// Control: a tenant set for the session (never done by the service)
	// does pass to the next client through the pooler.
	if _, err := first.ExecContext(ctx, `SELECT set_config('app.organization_id', $1, false)`, strconv.FormatInt(int64(seeded.a.org), 10)); err != nil {
		t.Fatal(err)
	}
	if _, tenant, tasks := backend(next); tenant != strconv.FormatInt(int64(seeded.a.org), 10) || tasks != 1 {
		t.Fatalf("control: a session-level tenant did not reach the next client (tenant %q, %d tasks); the check above proves nothing", tenant, tasks)
	}
}

// The numbering function runs under the caller's tenant: aimed at another
// organization it sees none of its queue and numbers nothing. The sweep
// function shows which organizations have queued events and nothing
// else, and closes its policy again.
func TestRowLevelSecurity_NumberingAndTheSweepStayInTheirLanes(t *testing.T) {
	t.Parallel()
	db := newRLSDB(t, func(_ testing.TB, url string) string { return url })
	ev := &domain.Event{OrgID: db.b.org, Type: domain.EventTaskUpdated, OccurredAt: time.Now(),
		Subject: domain.EventSubject{Type: domain.SubjectTask, ID: int64(db.b.task.ID)}, Data: []byte(`{}`)}
	if err := db.store.Stores().Events.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	db.asTenant(t, db.a.org, func(tx *sqlx.Tx) {
		var last int64
		if err := tx.GetContext(t.Context(), &last, `SELECT taskflow_number_events($1)`, db.b.org); err != nil {
			t.Fatal(err)
		}
		if last != 0 {
			t.Errorf("as organization %d, numbering %d's events says %d, want 0 (none visible)", db.a.org, db.b.org, last)
		}
		if n := count(t, tx, `SELECT count(*) FROM event_queue`); n != 0 {
			t.Errorf("as organization %d, %d queued events are visible", db.a.org, n)
		}
	})
	db.asTenant(t, db.b.org, func(tx *sqlx.Tx) {
		if n := count(t, tx, `SELECT count(*) FROM event_queue`); n != 1 {
			t.Errorf("as organization %d, %d queued events, want its own 1 still queued", db.b.org, n)
		}
		if n := count(t, tx, `SELECT count(*) FROM events`); n != 1 {
			t.Errorf("as organization %d, %d events, want the seeded 1 only", db.b.org, n)
		}
	})

	tx, err := db.app.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var orgs []int64
	if err := tx.SelectContext(t.Context(), &orgs, `SELECT taskflow_queued_organizations(100)`); err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 1 || orgs[0] != int64(db.b.org) {
		t.Errorf("the sweep names %v, want [%d]", orgs, db.b.org)
	}
	if n := count(t, tx, `SELECT count(*) FROM event_queue`); n != 0 {
		t.Errorf("after the sweep, with no tenant, %d queued events are visible", n)
	}
}
