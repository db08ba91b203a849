// Package postgres implements the store ports (ports.OrgStore, UserStore,
// InviteStore, TaskStore, Transactor and Pinger) on PostgreSQL with sqlx
// and lib/pq, and runs the embedded schema migrations with goose.
//
// It may import the domain, the ports, the migrations package, the
// standard library and its database drivers; never another adapter nor
// the application layer. Row structs with db tags live here, so that
// domain types stay free of storage concerns.
//
// Every statement on a tenant-owned table filters by organization_id; the
// two exceptions (login by email, sign-up by invite code) are marked where
// they occur.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.OrgStore    = (*OrgStore)(nil)
	_ ports.UserStore   = (*UserStore)(nil)
	_ ports.InviteStore = (*InviteStore)(nil)
	_ ports.TaskStore   = (*TaskStore)(nil)
	_ ports.Transactor  = (*Transactor)(nil)
	_ ports.Pinger      = (*Pinger)(nil)
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

// conn is what a store runs its statements on: the pool, or the
// transaction that Transactor.InTx opened. A store bound to a transaction
// never touches the pool, so everything it does commits or rolls back
// with the caller's work.
type conn struct {
	db *sqlx.DB
	tx *sqlx.Tx
}

func (c conn) ext() sqlx.ExtContext {
	if c.tx != nil {
		return c.tx
	}
	return c.db
}

// inTx runs fn in the caller's transaction when there is one (so that a
// store call inside InTx stays part of it), else in a transaction of its
// own. An error from fn is returned unchanged.
func (c conn) inTx(ctx context.Context, fn func(q sqlx.ExtContext) error) error {
	if c.tx != nil {
		return fn(c.tx)
	}
	return runTx(ctx, c.db, func(tx *sqlx.Tx) error { return fn(tx) })
}

// runTx runs fn in a new transaction, committed when fn returns nil. fn's
// error is returned unchanged; a failed begin or commit is returned too,
// never swallowed.
func runTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	// After a successful commit this rollback is a no-op; on an error or a
	// panic in fn it releases the connection and the row locks.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NewStores returns stores that run each call on the pool (the
// read-modify-write calls open their own short transactions).
func NewStores(db *sqlx.DB) ports.Stores {
	return storesOver(conn{db: db})
}

func storesOver(c conn) ports.Stores {
	return ports.Stores{
		Orgs:    &OrgStore{c: c},
		Users:   &UserStore{c: c},
		Invites: &InviteStore{c: c},
		Tasks:   &TaskStore{c: c},
	}
}

// Transactor runs a unit of work across stores in one transaction.
type Transactor struct {
	db *sqlx.DB
}

// NewTransactor returns a Transactor over the pool db.
func NewTransactor(db *sqlx.DB) *Transactor {
	return &Transactor{db: db}
}

// InTx runs fn with stores bound to a new transaction, committed when fn
// returns nil and rolled back otherwise. fn's error is returned unchanged.
func (t *Transactor) InTx(ctx context.Context, fn func(ports.Stores) error) error {
	return runTx(ctx, t.db, func(tx *sqlx.Tx) error {
		return fn(storesOver(conn{tx: tx}))
	})
}

// Pinger reports whether the database answers, for readiness checks.
type Pinger struct {
	db *sqlx.DB
}

// NewPinger returns a Pinger over the pool db.
func NewPinger(db *sqlx.DB) *Pinger {
	return &Pinger{db: db}
}

// Ping checks that a connection to the server works.
func (p *Pinger) Ping(ctx context.Context) error {
	if err := p.db.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// dbTime is how a timestamp is stored: in UTC, at the microsecond
// precision of timestamptz. Create methods also write it back into the
// entity, so that what Create returns equals what Get reads later.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// violates reports whether err is a violation of the given class (unique,
// foreign key...) on the named constraint or index.
func violates(err error, code pqerror.Code, constraint string) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == code && pqErr.Constraint == constraint
}

// wrapInfra prefixes infrastructure errors with op and passes domain
// errors through unchanged: their message is written for the client.
func wrapInfra(op string, err error) error {
	var de *domain.Error
	if err == nil || errors.As(err, &de) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// InstallationID returns the random id the migrations gave this database.
// It is not tenant data: it names the deployment, for cache key prefixes.
func InstallationID(ctx context.Context, db *sqlx.DB) (string, error) {
	var id string
	if err := db.GetContext(ctx, &id, `SELECT id FROM installation`); err != nil {
		return "", fmt.Errorf("postgres: installation id: %w", err)
	}
	return id, nil
}
