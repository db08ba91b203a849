package postgres_test

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/migrations"
)

// The rule that lets Citus distribute the tenant tables by organization
// (docs/SCALING.md): Citus enforces a primary key, a unique constraint, a
// unique index or an exclusion constraint of a distributed table only if
// it contains the distribution column. Every table with an
// organization_id column is a tenant table, distributed by that column,
// whatever migration added it; organizations is distributed by its id.
// Citus is not installed here: these tests prove the key rule on the
// schema the migrations build, not a run on Citus.

// lookupTables are the one exception, and not tenant tables: the
// reference tables (copied whole to every node, never distributed) that
// find a row's organization before the tenant is known
// (migrations/postgres/00019_citus_ready.sql). Each holds only its key,
// the organization and the row's id; its key is the primary key, alone,
// because it must be unique across every organization (an email is one
// account in the whole service). Nothing else belongs on this list.
var lookupTables = map[string][]string{
	// login by email; the primary key makes an email taken everywhere
	"user_email_lookup": {"email", "organization_id", "user_id"},
	// sign-up by invite code
	"invite_code_lookup": {"code_hash", "organization_id", "invite_id"},
	// a request signed with an API key
	"api_key_lookup": {"key_hash", "organization_id", "api_key_id"},
}

// keysWithoutTenant lists, as "table.name", every primary key, unique
// constraint, exclusion constraint (pg_constraint) and unique index
// (pg_index: those behind constraints and those made by CREATE UNIQUE
// INDEX, on columns or expressions) of a tenant table whose key columns
// leave out the distribution column: organization_id, or id for
// organizations. A column that appears only inside an expression, or
// only in an INCLUDE list, does not count: Citus would not accept it.
func keysWithoutTenant(t *testing.T, q sqlx.QueryerContext) []string {
	t.Helper()
	var keys []string
	err := sqlx.SelectContext(t.Context(), q, &keys, `
		WITH dist AS (
			SELECT c.oid AS relid, c.relname, a.attnum
			FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
			WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
			  AND (a.attname = 'organization_id' OR (c.relname = 'organizations' AND a.attname = 'id'))
		)
		SELECT d.relname || '.' || con.conname
		FROM dist d JOIN pg_catalog.pg_constraint con ON con.conrelid = d.relid
		WHERE con.contype IN ('p', 'u', 'x') AND NOT (d.attnum = ANY (con.conkey))
		UNION
		SELECT d.relname || '.' || ic.relname
		FROM dist d
		JOIN pg_catalog.pg_index x ON x.indrelid = d.relid
		JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
		WHERE (x.indisunique OR x.indisprimary OR x.indisexclusion)
		  AND NOT (d.attnum = ANY ((x.indkey::int2[])[0:x.indnkeyatts - 1]))
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// notAllowed drops the lookup tables' keys from keys.
func notAllowed(keys []string) []string {
	var out []string
	for _, k := range keys {
		table, _, _ := strings.Cut(k, ".")
		if _, ok := lookupTables[table]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func TestSchema_EveryUniqueKeyOfATenantTableIncludesOrganizationID(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	// Seen as the application role: pg_catalog shows every table to it.
	if bad := notAllowed(keysWithoutTenant(t, db)); len(bad) > 0 {
		t.Fatalf("unique keys of tenant tables without organization_id (Citus could not distribute these tables; "+
			"key them by organization_id, or find the row through a lookup table): %v", bad)
	}
	// The discovery is not blind: it covers the tables of every era.
	tables := tenantTables(t, db)
	for _, want := range []string{"users", "sessions", "refresh_tokens", "api_keys", "task_words", "events", "event_counters"} {
		if !slices.Contains(tables, want) {
			t.Errorf("tenant tables %v miss %s", tables, want)
		}
	}

	// The allow-list stays true: each lookup table exists, holds only
	// (key, organization_id, id), and its primary key is its key alone.
	for table, cols := range lookupTables {
		var got []string
		if err := db.SelectContext(t.Context(), &got, `
			SELECT a.attname FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = to_regclass('public.' || $1) AND a.attnum > 0 AND NOT a.attisdropped
			ORDER BY a.attnum`, table); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, cols) {
			t.Errorf("lookup table %s has columns %v, want only %v", table, got, cols)
		}
		var pk []string
		if err := db.SelectContext(t.Context(), &pk, `
			SELECT a.attname FROM pg_catalog.pg_constraint con
			JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
			WHERE con.conrelid = to_regclass('public.' || $1) AND con.contype = 'p'`, table); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pk, cols[:1]) {
			t.Errorf("lookup table %s has primary key %v, want %v", table, pk, cols[:1])
		}
		// And no foreign key: Citus allows none from a reference table
		// to a distributed one.
		if n := count(t, db, `SELECT count(*) FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass('public.' || $1) AND contype = 'f'`, table); n != 0 {
			t.Errorf("lookup table %s has %d foreign keys", table, n)
		}
	}
}

// TestSchema_TheKeyCheckFindsTheKeysBeforeTheMigration runs the check on
// the schema as it was before 00019: it must find the keys that migration
// removes, or it could not fail at all.
func TestSchema_TheKeyCheckFindsTheKeysBeforeTheMigration(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.NewDatabase(t))
	upTo(t, db, citusReadyVersion-1)
	got := keysWithoutTenant(t, db)
	for _, want := range []string{
		"users.users_id_key", "users.users_email_lower_key", "invites.invites_code_hash_key",
		"sessions.sessions_id_key", "refresh_tokens.refresh_tokens_token_hash_key",
		"api_keys.api_keys_id_key", "api_keys.api_keys_key_hash_key",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("before 00019 the check found %v, not %s", got, want)
		}
	}
	// An exclusion constraint and an INCLUDE column are caught too.
	if _, err := db.ExecContext(t.Context(), `
		ALTER TABLE tasks ADD CONSTRAINT tasks_title_excl EXCLUDE USING gist (tstzrange(created_at, updated_at) WITH &&);
		CREATE UNIQUE INDEX tasks_title_incl_key ON tasks (title) INCLUDE (organization_id)`); err != nil {
		t.Fatal(err)
	}
	got = keysWithoutTenant(t, db)
	for _, want := range []string{"tasks.tasks_title_excl", "tasks.tasks_title_incl_key"} {
		if !slices.Contains(got, want) {
			t.Errorf("the check found %v, not %s", got, want)
		}
	}
}

// citusReadyVersion is migrations/postgres/00019_citus_ready.sql's.
const citusReadyVersion = 19

// upTo migrates db up to version (inclusive), as its connection's role.
func upTo(t *testing.T, db *sqlx.DB, version int64) {
	t.Helper()
	fsys, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), version); err != nil {
		t.Fatalf("migrate up to %d: %v", version, err)
	}
}

// TestMigrate_CitusReadyBackfillsTheLookupsAsANonSuperuserOwner migrates a
// database holding rows of two organizations, written before 00019, by
// its owner, which FORCE ROW LEVEL SECURITY binds: the lookup tables must
// be filled from every tenant's rows, and the service must find them.
func TestMigrate_CitusReadyBackfillsTheLookupsAsANonSuperuserOwner(t *testing.T) {
	t.Parallel()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner := open(t, ownerURL)
	upTo(t, owner, citusReadyVersion-1)

	// The rows, written as each tenant would write them (the owner is
	// bound by the policies too).
	type tenant struct {
		org, user, invite, key, session int64
		email, code, keyHash, refresh   string
	}
	tenants := []*tenant{
		{email: "Ann@Example.com", code: "code-a", keyHash: "key-a", refresh: "refresh-a"},
		{email: "bob@example.com", code: "code-b", keyHash: "key-b", refresh: "refresh-b"},
	}
	for i, tn := range tenants {
		tx := owner.MustBeginTx(t.Context(), nil)
		err := tx.GetContext(t.Context(), &tn.org, `SELECT taskflow_create_organization($1, now())`, "before "+tn.code)
		if err == nil {
			_, err = tx.ExecContext(t.Context(), `SELECT set_config('app.organization_id', $1::text, true)`, tn.org)
		}
		if err == nil {
			err = tx.GetContext(t.Context(), &tn.user, `INSERT INTO users (organization_id, email, password_hash, role)
				VALUES ($1, $2, 'hash', 'ADMIN') RETURNING id`, tn.org, tn.email)
		}
		if err == nil {
			err = tx.GetContext(t.Context(), &tn.invite, `INSERT INTO invites (organization_id, code_hash, role, expires_at, created_by)
				VALUES ($1, $2, 'USER', now() + interval '1 day', $3) RETURNING id`, tn.org, tn.code, tn.user)
		}
		if err == nil {
			err = tx.GetContext(t.Context(), &tn.key, `INSERT INTO api_keys (organization_id, user_id, name, prefix, key_hash)
				VALUES ($1, $2, 'k', 'tf_', $3) RETURNING id`, tn.org, tn.user, tn.keyHash)
		}
		if err == nil {
			err = tx.GetContext(t.Context(), &tn.session, `INSERT INTO sessions (organization_id, user_id, expires_at)
				VALUES ($1, $2, now() + interval '1 day') RETURNING id`, tn.org, tn.user)
		}
		if err == nil {
			_, err = tx.ExecContext(t.Context(), `INSERT INTO refresh_tokens (organization_id, session_id, token_hash)
				VALUES ($1, $2, $3)`, tn.org, tn.session, tn.refresh)
		}
		if err != nil {
			t.Fatalf("tenant %d: %v", i, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	migrate(t, owner.DB, "up")
	if n := count(t, owner, `SELECT count(*) FROM user_email_lookup`); n != 0 {
		t.Fatalf("after the migration the owner sees %d lookup rows with no tenant set: FORCE was not restored", n)
	}
	var forced []string
	if err := owner.SelectContext(t.Context(), &forced, `SELECT relname FROM pg_class
		WHERE relname IN ('users', 'invites', 'api_keys', 'user_email_lookup', 'invite_code_lookup', 'api_key_lookup')
		  AND relnamespace = 'public'::regnamespace AND relforcerowsecurity ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(forced) != 6 {
		t.Fatalf("tables with FORCE ROW LEVEL SECURITY after the migration: %v, want all 6", forced)
	}

	store := newStore(open(t, appURL))
	ctx, s := t.Context(), store.Stores()
	for _, tn := range tenants {
		u, err := s.Users.ByEmail(ctx, strings.ToUpper(tn.email))
		if err != nil || int64(u.OrgID) != tn.org || int64(u.ID) != tn.user {
			t.Fatalf("login by %s after the migration: %+v, %v; want user %d of %d", tn.email, u, err, tn.user, tn.org)
		}
		inv, err := s.Invites.ByCodeHash(ctx, tn.code)
		if err != nil || int64(inv.OrgID) != tn.org || inv.ID != tn.invite {
			t.Fatalf("invite %s after the migration: %+v, %v", tn.code, inv, err)
		}
		k, err := s.APIKeys.ByHash(ctx, tn.keyHash)
		if err != nil || int64(k.OrgID) != tn.org || int64(k.ID) != tn.key {
			t.Fatalf("api key %s after the migration: %+v, %v", tn.keyHash, k, err)
		}
		sess, err := s.Sessions.Rotate(ctx, domain.OrgID(tn.org), tn.refresh, tn.refresh+"-next", time.Now())
		if err != nil || int64(sess.ID) != tn.session {
			t.Fatalf("refresh %s after the migration: %+v, %v", tn.refresh, sess, err)
		}
	}
	// The backfilled email is taken, in any case, in another organization.
	dup := &domain.User{OrgID: domain.OrgID(tenants[1].org), Email: "ann@example.com", PasswordHash: "x",
		Role: domain.RoleUser, CreatedAt: time.Now()}
	if err := s.Users.Create(ctx, dup); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("sign-up with a backfilled email elsewhere: %v, want ErrEmailTaken", err)
	}
}

// TestNarrowLookups_AreServedByPrimaryKeys: the two statements of each
// narrow function (the lookup row by its key, then the row by its
// organization and id), run as the application role with the function's
// setting as the function sets it, are each one probe of a primary key,
// row-level security notwithstanding (an index condition under a policy
// needs a leakproof operator: text and bigint equality are).
func TestNarrowLookups_AreServedByPrimaryKeys(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	for _, c := range []struct {
		setting, lookup, lookupKey, lookupIndex string
		row, rowIndex                           string
	}{
		{"app.login_email", `SELECT organization_id, user_id FROM user_email_lookup WHERE email = $1`, "email", "user_email_lookup_pkey",
			`SELECT id FROM users WHERE organization_id = 1 AND id = 2 AND lower(email) = $1`, "users_pkey"},
		{"app.invite_code_hash", `SELECT organization_id, invite_id FROM invite_code_lookup WHERE code_hash = $1`, "code_hash", "invite_code_lookup_pkey",
			`SELECT id FROM invites WHERE organization_id = 1 AND id = 2 AND code_hash = $1`, "invites_pkey"},
		{"app.api_key_hash", `SELECT organization_id, api_key_id FROM api_key_lookup WHERE key_hash = $1`, "key_hash", "api_key_lookup_pkey",
			`SELECT id FROM api_keys WHERE organization_id = 1 AND id = 2 AND key_hash = $1`, "api_keys_pkey"},
	} {
		for _, q := range []struct{ query, index, col string }{
			{c.lookup, c.lookupIndex, c.lookupKey},
			{c.row, c.rowIndex, "organization_id"},
		} {
			// As explain does: the question is which index serves the
			// statement, not how the planner weighs an empty table.
			tx := db.MustBeginTx(t.Context(), nil)
			if _, err := tx.ExecContext(t.Context(), "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(t.Context(), `SELECT set_config($1, 'k', true)`, c.setting); err != nil {
				t.Fatal(err)
			}
			var lines []string
			if err := tx.SelectContext(t.Context(), &lines, "EXPLAIN "+q.query, "k"); err != nil {
				t.Fatal(err)
			}
			_ = tx.Rollback()
			plan := strings.Join(lines, "\n")
			if !scansIndex(plan, q.index) || !indexCondHas(plan, q.col, "") {
				t.Errorf("with %s set, %s is not a probe of %s:\n%s", c.setting, q.query, q.index, plan)
			}
		}
	}
}
