// Package postgres is TaskFlow's PostgreSQL adapter: it opens the
// connection pool (sqlx over lib/pq), runs the embedded Postgres
// migrations with goose, and provides the Postgres Dialect with which
// adapters/sqlstore runs the store ports on that pool. bootstrap puts
// them together; this package does not import sqlstore, whose Dialect
// interface Dialect satisfies by its methods alone.
//
// It may import the migrations package, sqlx, lib/pq, goose and the
// standard library; never another adapter nor the application layer.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// defaultMaxOpenConns applies when Open is given no positive limit.
const defaultMaxOpenConns = 10

// Open connects to the database at url, sizes the connection pool and
// checks that the server answers. maxOpenConns <= 0 means 10.
func Open(ctx context.Context, url string, maxOpenConns int) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if maxOpenConns <= 0 {
		maxOpenConns = defaultMaxOpenConns
	}
	// A bounded pool keeps a burst of requests from exhausting the
	// server's max_connections, which every replica shares. Idle
	// connections are recycled so that a quiet replica gives them back,
	// and old ones are retired so that a failover or a load balancer in
	// front of the server is eventually noticed.
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return db, nil
}

// Dialect is PostgreSQL as adapters/sqlstore needs to know it. One pool
// serves reads and writes alike; concurrent writers take turns on row
// locks.
type Dialect struct{}

// Name names the database in error messages.
func (Dialect) Name() string { return "postgres" }

// BindType is lib/pq's placeholder style, $1, $2...
func (Dialect) BindType() int { return sqlx.DOLLAR }

// RowLock is FOR UPDATE, FOR NO KEY UPDATE...: the strength as given.
func (Dialect) RowLock(strength string) string { return "FOR " + strength }

// Now is the transaction's start time, so that every row one transaction
// touches shows the same moment.
func (Dialect) Now() string { return "now()" }

// Violation classifies unique and foreign-key violations; Postgres names
// the constraint, as the migrations named it.
func (Dialect) Violation(err error) (class, constraint string) {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return "", ""
	}
	switch pqErr.Code {
	case pqerror.UniqueViolation:
		return "unique", pqErr.Constraint
	case pqerror.ForeignKeyViolation:
		return "foreign_key", pqErr.Constraint
	}
	return "", ""
}
