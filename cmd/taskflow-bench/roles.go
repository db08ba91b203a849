package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Roles. The service connects as production's application role (README,
// Tenant isolation): a login role that owns nothing, is neither superuser
// nor BYPASSRLS, and is a member of the group role appGroupRole, to which
// the migrations grant what the stores run; the migrations run as the
// schema's owner (MIGRATION_DATABASE_URL). So row-level security binds the
// service as it binds it in production, and the database ceilings connect
// as the same application role, so that it binds them too.
//
// Roles belong to the whole Postgres server, which other runs and tests
// share: each run makes its own login roles, named after its database
// (taskflow_bench_owner_<hex>, taskflow_bench_app_<hex>), and drops them
// after the database. The group role is shared: created when missing, as
// the first migration would, and never dropped (migrations of other
// databases on the server grant to it). A run killed before its clean-up
// leaves its roles behind, as it leaves its database.
//
// The superuser connection (the bench's own, b.db) stays for what no
// service role may do: seeding across organizations, ANALYZE, and the two
// informative ceilings that measure the statement without the policies
// (db_uncached_list_bare, db_uncached_list_norls).

// appGroupRole is the group role the migrations grant the application's
// statements to (migrations/postgres/00006_row_level_security.sql).
const appGroupRole = "taskflow_app"

// ensureGroupRole creates appGroupRole when missing; a concurrent creator
// (another run or test) may win the race, which is fine.
const ensureGroupRole = `DO $$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '` + appGroupRole + `') THEN
		CREATE ROLE ` + appGroupRole + ` NOLOGIN;
	END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`

// setUpRoles creates the run's roles for the database of b.dbURL (the
// superuser's URL) and sets b.appURL and b.migrationURL. With fresh (the
// bench created the database) it makes an owner role, gives it the
// database and runs the migrations as it; otherwise the database is used
// as is and the migrations run with its URL. adminURL is a superuser URL
// that outlives the database, for the drop. The returned drop removes the
// roles; call it after the database is gone.
func (b *bench) setUpRoles(ctx context.Context, adminURL string, fresh bool) (func(), error) {
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return nil, err
	}
	suffix := strings.TrimPrefix(b.dbName, "taskflow_bench_")
	if !fresh || suffix == b.dbName {
		suffix = randomHex(6)
	}
	app := "taskflow_bench_app_" + suffix
	owner := ""
	if fresh {
		owner = "taskflow_bench_owner_" + suffix
	}
	var created []string
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, role := range created {
			if _, err := admin.ExecContext(dctx, "DROP ROLE IF EXISTS "+pq.QuoteIdentifier(role)); err != nil {
				fmt.Fprintf(os.Stderr, "warning: could not drop role %s: %v\n", role, err)
			}
		}
		admin.Close()
	}
	exec := func(stmt string) error {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(stmt, " PASSWORD", 2)[0], err)
		}
		return nil
	}
	fail := func(err error) (func(), error) { drop(); return nil, fmt.Errorf("set up roles: %w", err) }
	if err := exec(ensureGroupRole); err != nil {
		return fail(err)
	}
	appPass := randomHex(16)
	if err := exec("CREATE ROLE " + pq.QuoteIdentifier(app) + " LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD " +
		pq.QuoteLiteral(appPass) + " IN ROLE " + appGroupRole); err != nil {
		return fail(err)
	}
	created = append(created, app)
	if b.appURL, err = withUser(b.dbURL, app, appPass); err != nil {
		return fail(err)
	}
	b.migrationURL = b.dbURL
	if owner != "" {
		ownerPass := randomHex(16)
		if err := exec("CREATE ROLE " + pq.QuoteIdentifier(owner) + " LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD " + pq.QuoteLiteral(ownerPass)); err != nil {
			return fail(err)
		}
		// Dropped after the app role: nothing of the app role's is the
		// owner's, but the database was, until it was dropped.
		created = append(created, owner)
		if err := exec("ALTER DATABASE " + pq.QuoteIdentifier(b.dbName) + " OWNER TO " + pq.QuoteIdentifier(owner)); err != nil {
			return fail(err)
		}
		if b.migrationURL, err = withUser(b.dbURL, owner, ownerPass); err != nil {
			return fail(err)
		}
	}
	return drop, nil
}

// checkAppRole fails unless db (the service's and the ceilings' pool)
// logs in as a role that row-level security binds: not superuser, no
// BYPASSRLS, and a member of the group role the migrations grant to.
func checkAppRole(ctx context.Context, db *sql.DB) (string, error) {
	var name string
	var super, bypass, member bool
	err := db.QueryRowContext(ctx, `SELECT rolname, rolsuper, rolbypassrls, pg_has_role(rolname, $1, 'MEMBER')
		FROM pg_catalog.pg_roles WHERE rolname = current_user`, appGroupRole).Scan(&name, &super, &bypass, &member)
	if err != nil {
		return "", fmt.Errorf("check the service role: %w", err)
	}
	var problems []string
	if super {
		problems = append(problems, "is superuser")
	}
	if bypass {
		problems = append(problems, "has BYPASSRLS")
	}
	if !member {
		problems = append(problems, "is not a member of "+appGroupRole)
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("the service role %s %s: row-level security would not bind it as in production", name, strings.Join(problems, " and "))
	}
	return name, nil
}

// withUser is raw with its user and password replaced.
func withUser(raw, user, password string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("unparsable database url")
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// urlUser is the user a database URL logs in as.
func urlUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return "(default user)"
	}
	return u.User.Username()
}
