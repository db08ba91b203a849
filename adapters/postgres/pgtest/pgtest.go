// Package pgtest gives tests a fresh, empty PostgreSQL database of their
// own on a real server, dropped when the test ends. It is imported by
// tests only; it depends on the standard library and lib/pq.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
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
	server := Require(t)
	admin, err := sql.Open("postgres", server)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", redact(server), err)
	}
	t.Cleanup(func() { _ = admin.Close() })

	name := "taskflow_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	// Registered after admin.Close, so it runs before it.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", redact(server), err)
	}
	u.Path = "/" + name
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
