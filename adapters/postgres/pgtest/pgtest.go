// Package pgtest gives tests a fresh, empty PostgreSQL database of their
// own on a real server, dropped when the test ends, and, for tests that
// must run as the service runs, the two roles of a production deployment
// (an owner for the migrations, an application role bound by row-level
// security). It is imported by tests only; it depends on the standard
// library and lib/pq.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

// DefaultURL is the server tests use when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the test server's maintenance database:
// TEST_DATABASE_URL, else DefaultURL.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Require returns the server URL when the server answers. Otherwise it
// fails the test when CI=true (a CI run must not pass by skipping) and
// skips it elsewhere, so a laptop without Postgres can still run the rest.
func Require(t testing.TB) string {
	t.Helper()
	u := ServerURL()
	db, err := sql.Open("postgres", u)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		_ = db.Close()
	}
	if err != nil {
		unreachable(t, "postgres at %s is unreachable: %v", redact(u), err)
	}
	return u
}

func unreachable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (set CI=true to fail instead of skipping)", args...)
}

// NewDatabase creates an empty database named taskflow_test_<random> on
// the test server and returns its URL; the database is dropped, with any
// connection still open to it, when the test and its subtests end.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server, admin := openAdmin(t)
	name := "taskflow_test_" + randomHex(8)
	createDatabase(t, admin, name, "")
	return withDatabase(t, server, name)
}

// openAdmin connects to the test server as given (its superuser), and
// closes the connection when t ends.
func openAdmin(t testing.TB) (server string, admin *sql.DB) {
	t.Helper()
	server = Require(t)
	admin, err := sql.Open("postgres", server)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", redact(server), err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return server, admin
}

// createDatabase creates the database name, owned by owner unless owner
// is empty, and drops it, with any connection still open to it, when t
// ends: registered after openAdmin's cleanup, the drop runs before it.
func createDatabase(t testing.TB, admin *sql.DB, name, owner string) {
	t.Helper()
	stmt := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if owner != "" {
		stmt += " OWNER " + pq.QuoteIdentifier(owner)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
}

// withDatabase is server's URL pointed at the database name.
func withDatabase(t testing.TB, server, name string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", redact(server), err)
	}
	u.Path = "/" + name
	return u.String()
}

// AppGroupRole is the group role the migrations grant the application's
// statements to (migrations/postgres/00006_row_level_security.sql).
const AppGroupRole = "taskflow_app"

// NewAppDatabase is NewDatabase with the roles a production deployment
// has: the database belongs to a new login role, ownerURL, that is neither
// superuser nor BYPASSRLS (so FORCE ROW LEVEL SECURITY binds it too), for
// the migrations; appURL logs in as another new role, a member of
// AppGroupRole that owns nothing, as the service connects. Both roles get
// random passwords (ignored under trust authentication) and are dropped,
// after the database, when the test ends. Roles belong to the whole
// server, so each test makes its own; AppGroupRole is shared and created
// when missing, as the migration would.
func NewAppDatabase(t testing.TB) (appURL, ownerURL string) {
	t.Helper()
	server, admin := openAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	suffix := randomHex(8)
	name := "taskflow_test_" + suffix
	owner, app := "taskflow_test_owner_"+suffix, "taskflow_test_app_"+suffix
	ownerPass, appPass := randomHex(16), randomHex(16)
	// Concurrent tests (in other processes too) may create the shared
	// group role at the same moment: whoever loses finds it there.
	ensureGroup := `DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '` + AppGroupRole + `') THEN
			CREATE ROLE ` + AppGroupRole + ` NOLOGIN;
		END IF;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
	END $$`
	for _, stmt := range []string{
		ensureGroup,
		"CREATE ROLE " + pq.QuoteIdentifier(owner) + " LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD " + pq.QuoteLiteral(ownerPass),
		"CREATE ROLE " + pq.QuoteIdentifier(app) + " LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD " + pq.QuoteLiteral(appPass) +
			" IN ROLE " + AppGroupRole,
	} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("pgtest: %s: %v", strings.SplitN(stmt, " PASSWORD", 2)[0], err)
		}
	}
	// Registered before the database's drop, so it runs after it: a role
	// cannot go while a database still grants it something.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, role := range []string{app, owner} {
			if _, err := admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+pq.QuoteIdentifier(role)); err != nil {
				t.Errorf("pgtest: drop role %s: %v", role, err)
			}
		}
	})
	createDatabase(t, admin, name, owner)
	return withUser(t, withDatabase(t, server, name), app, appPass),
		withUser(t, withDatabase(t, server, name), owner, ownerPass)
}

// withUser is raw with its user and password replaced.
func withUser(t testing.TB, raw, user, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", redact(raw), err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// redact hides a password in a URL before it reaches a test log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
