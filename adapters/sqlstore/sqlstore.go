// Package sqlstore implements the store ports (ports.OrgStore, UserStore,
// InviteStore, TaskStore, EventStore, Transactor and Pinger, among
// others) once, over sqlx, for
// every SQL database TaskFlow runs on. Statements are written with ?
// placeholders and rebound to the driver's style; what the databases do
// differently (placeholders, row locks, the current time, how a
// constraint violation looks) is asked of a Dialect, which each database
// adapter (adapters/postgres, adapters/sqlite) provides without importing
// this package. Opening the database and migrating it belong to those
// adapters; bootstrap puts the two together.
//
// It may import the domain, the ports, sqlx and the standard library;
// never a database driver, another adapter nor the application layer.
// Row structs with db tags live here, so that domain types stay free of
// storage concerns.
//
// Every statement on a tenant-owned table filters by organization_id and
// runs through conn.scoped; the exceptions (creating an organization,
// login by email, sign-up by invite code, the installation id) run
// through conn.unscoped and are marked where they occur. On a database
// that enforces the scope itself (a Dialect that is also a RowSecurity:
// Postgres), conn.scoped confines its transaction to the organization
// first, and the exceptions go through the narrow paths that database's
// migrations open for them.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.OrgStore    = (*OrgStore)(nil)
	_ ports.UserStore   = (*UserStore)(nil)
	_ ports.InviteStore = (*InviteStore)(nil)
	_ ports.TaskStore   = (*TaskStore)(nil)
	_ ports.Transactor  = (*DB)(nil)
	_ ports.Pinger      = (*DB)(nil)
)

// Dialect is what differs between the databases. Its methods use plain
// types only, so that a database adapter satisfies it without importing
// this package.
type Dialect interface {
	// Name names the database in error messages ("postgres", "sqlite").
	Name() string
	// BindType is sqlx's placeholder style for the driver (sqlx.DOLLAR,
	// sqlx.QUESTION): statements here are written with ? and rebound.
	BindType() int
	// RowLock returns the clause that, appended to a SELECT inside a
	// transaction, locks the rows read against other writers until the
	// transaction ends, with the given Postgres lock strength ("UPDATE",
	// "NO KEY UPDATE"). It may be "" where write transactions exclude each
	// other already (SQLite, whose write transactions begin IMMEDIATE and
	// so take the database's one write lock before reading anything).
	RowLock(strength string) string
	// Now is an SQL expression for the current time, stored like the times
	// the store writes itself.
	Now() string
	// JSONArrayAgg is an aggregate of the text expression expr over a
	// (sub)query's rows as the text of a JSON array of strings: "[]" or
	// NULL over no rows, in no particular order.
	JSONArrayAgg(expr string) string
	// TextSearch is a condition on tasks, with ? placeholders, and its
	// arguments: the tasks whose search_words column (a
	// domain.SearchDocument) holds every one of words, whole words
	// matched exactly, through the database's index of them. words are
	// domain.ParseSearch's (non-empty, made of letters, digits and marks
	// only), so no character of them is syntax; they are passed as
	// arguments or quoted all the same. idOp ("<" or ">", or "" for
	// none) and id bound the task ids as the list's keyset cursor already
	// does, so that the index is read from the cursor on, not from the
	// first entry of each word.
	TextSearch(words []string, idOp string, id int64) (cond string, args []any)
	// Violation classifies err: class ViolationUnique or
	// ViolationForeignKey, or "" for any other error; and the violated
	// constraint's name, as migrations/postgres names it, or "" when the
	// database does not say which (SQLite never names a foreign key).
	Violation(err error) (class, constraint string)
	// Unavailable reports whether err means the database cannot be
	// reached now, rather than that the statement was wrong: refused,
	// reset or broken connections, a server shutting down or restarting,
	// a lock held past the busy timeout. The store turns such errors into
	// domain.ErrDatabaseUnavailable (503, "try again") as they leave it.
	Unavailable(err error) bool
}

// RowSecurity is implemented by a Dialect whose database enforces the
// tenant scope itself, as a second wall behind the organization_id filter
// of every statement: Postgres row-level security
// (migrations/postgres/00006_row_level_security.sql). It is an interface
// of its own so that a database without it (SQLite) implements nothing
// and pays nothing.
//
// Such a database shows a transaction no tenant's rows until ScopeSQL has
// run in it, so the calls made before the tenant is known use functions
// its migrations must provide, each one narrow path:
// taskflow_user_by_email (login), taskflow_invite_by_code_hash (sign-up),
// taskflow_api_key_by_hash (a request signed with an API key), each
// through its lookup table (lookup.go), and taskflow_create_organization.
type RowSecurity interface {
	// ScopeSQL returns the statement that, run first in a transaction,
	// confines the rest of it to org's rows, for that transaction only.
	// It has no parameters, so it can run in one round trip.
	ScopeSQL(org int64) string
	// ScopedStatement returns one query without parameters that confines
	// its transaction to org's rows (and makes it read only when
	// readOnly) and runs query, rebound for the driver, with args written
	// in: run outside a transaction, the confinement lasts for that query
	// alone; run first in a transaction, for the rest of it, like
	// ScopeSQL's. ok is false when some argument cannot be written in.
	ScopedStatement(org int64, readOnly bool, query string, args []any) (stmt string, ok bool)
	// Inline returns query, rebound for the driver, with args written in:
	// a statement without parameters, that can share a query string with
	// others. ok is false when some argument cannot be written in.
	Inline(query string, args []any) (stmt string, ok bool)
}

// Constraint violation classes a Dialect reports.
const (
	ViolationUnique     = "unique"
	ViolationForeignKey = "foreign_key"
)

// DB is a database seen through the store ports.
//
// Reads outside a transaction go to the read pool; single-statement
// writes and transactions go to the write pool. Postgres passes one pool
// as both. SQLite passes a pool of one connection as the write pool, so
// the process has one writer at a time, and a pool of query-only
// connections as the read pool; in WAL mode those read while the writer
// writes. A consequence for callers: inside InTx, use only the stores fn
// is given. A store over the pools, called for a write from inside fn,
// would wait for the one SQLite write connection that fn's own
// transaction holds, forever.
type DB struct {
	read, write *sqlx.DB
	d           Dialect
	rls         RowSecurity // nil: the database does not enforce the scope
}

// New returns the stores' database over the read and write pools (the
// same pool twice where the database needs no split) and the dialect of
// their driver.
func New(read, write *sqlx.DB, d Dialect) *DB {
	rls, _ := d.(RowSecurity)
	return &DB{read: read, write: write, d: d, rls: rls}
}

// Stores returns stores that run each call on the pools (the
// read-modify-write calls open their own short transactions).
func (db *DB) Stores() ports.Stores {
	return conn{db: db}.stores()
}

// InTx runs fn with stores bound to a new transaction, committed when fn
// returns nil and rolled back otherwise. fn's error is returned unchanged,
// unless it is one that means the database is gone: like a failed begin
// or commit of that kind, it is returned as domain.ErrDatabaseUnavailable
// with the error as its cause.
func (db *DB) InTx(ctx context.Context, fn func(ports.Stores) error) error {
	if db.rls != nil {
		return db.classify(ctx, db.runLazyTx(ctx, func(t *lazyTx) error {
			return fn(conn{db: db, tx: t}.stores())
		}))
	}
	return db.classify(ctx, db.runTx(ctx, func(tx *sqlx.Tx) error {
		return fn(conn{db: db, tx: tx}.stores())
	}))
}

// PoolStats returns the statistics of each pool: one where reads and
// writes share a pool (Postgres), two otherwise (SQLite: readers, writer).
func (db *DB) PoolStats() []sql.DBStats {
	if db.read == db.write {
		return []sql.DBStats{db.read.Stats()}
	}
	return []sql.DBStats{db.read.Stats(), db.write.Stats()}
}

// Ping checks that the database answers, on the read pool: a readiness
// probe must not queue behind a long write transaction for SQLite's one
// write connection.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return db.classify(ctx, fmt.Errorf("%s: ping: %w", db.d.Name(), err))
	}
	return nil
}

// InstallationID returns the random id the migrations gave this database.
// It is not tenant data: it names the deployment, for cache key prefixes;
// so it is read unscoped, and row-level security does not cover it.
func (db *DB) InstallationID(ctx context.Context) (string, error) {
	var id string
	if err := db.read.GetContext(ctx, &id, `SELECT id FROM installation`); err != nil {
		return "", db.classify(ctx, fmt.Errorf("%s: installation id: %w", db.d.Name(), err))
	}
	return id, nil
}

// runTx runs fn in a new transaction on the write pool, committed when fn
// returns nil. fn's error is returned unchanged; a failed begin or commit
// is returned too, never swallowed.
func (db *DB) runTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.write.BeginTxx(ctx, nil)
	if err != nil {
		return beginFailed(err)
	}
	// After a successful commit this rollback is a no-op; on an error or a
	// panic in fn it releases the connection and the locks.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// beginFailed is the error of a transaction (or a statement outside one)
// that got no connection: when the request's time ran out first, waiting
// for a free connection in the pool, for a new one to be dialled, or for
// the answer to BEGIN, none of it is a statement of ours being slow; the
// database did not serve us, and it is unavailable.
func beginFailed(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return domain.DatabaseUnavailable(fmt.Errorf("begin transaction: no connection in time: %w", err))
	}
	return fmt.Errorf("begin transaction: %w", err)
}

// rebind turns a statement written with ? into the driver's placeholders.
func (db *DB) rebind(query string) string {
	return sqlx.Rebind(db.d.BindType(), query)
}

// lock appends the dialect's row lock of the given strength to query.
func (db *DB) lock(query, strength string) string {
	if clause := db.d.RowLock(strength); clause != "" {
		return query + " " + clause
	}
	return query
}

// access says what a store call does, and so where it runs.
type access int

const (
	// reads: the caller's transaction, else the read pool.
	reads access = iota
	// writesOnce: one statement that writes; the caller's transaction,
	// else the write pool, where it commits on its own.
	writesOnce
	// atomically: several statements that must commit together; the
	// caller's transaction, else a new one on the write pool.
	atomically
)

// conn is what a store runs its statements on: the pools, or the
// transaction that InTx opened. A store bound to a transaction never
// touches the pools, so everything it does commits or rolls back with the
// caller's work.
type conn struct {
	db *DB
	// tx is InTx's transaction: a *lazyTx where the database enforces
	// the scope (RowSecurity), a *sqlx.Tx elsewhere; nil outside one.
	tx sqlx.ExtContext
}

func (c conn) stores() ports.Stores {
	return ports.Stores{
		Orgs:     &OrgStore{c: c},
		Users:    &UserStore{c: c},
		Invites:  &InviteStore{c: c},
		Tasks:    &TaskStore{c: c},
		Sessions: &SessionStore{c: c},
		APIKeys:  &APIKeyStore{c: c},

		Idempotency: &IdempotencyStore{c: c},
		Events:      &EventStore{c: c},
		Webhooks:    &WebhookStore{c: c},
	}
}

// classify turns an error that means the database is not there now
// (Dialect.Unavailable) into domain.ErrDatabaseUnavailable, with the
// driver's error kept as its cause for the server log, and returns any
// other error unchanged. Every store call's error leaves through here
// (scoped, unscoped, InTx, Ping, InstallationID), so that no use case
// and no handler needs to know what a dead connection looks like.
// Domain errors pass as they are: they already say what happened.
func (db *DB) classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	if db.d.Unavailable(err) {
		return domain.DatabaseUnavailable(err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		// The caller's time ran out (or it went away) while a statement
		// ran: lib/pq then reports the server's "canceling statement due
		// to user request" (57014), which says nothing of why. Name the
		// cause, so that a request past its deadline is answered as one
		// (503 timeout), not as an unknown failure.
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}

// scoped runs fn, whose statements touch org's rows only, where access
// says. Every tenant-scoped statement goes through here. Where the
// database enforces the scope itself (RowSecurity), fn runs in a
// transaction confined to org first: the caller's, or a new one (read
// only for reads), since the confinement is transaction-local and nothing
// may be set on the session, which the pool hands to the next request.
// Elsewhere (SQLite) fn runs exactly as an unscoped call would: the
// organization_id filter in every statement is the scope.
func (c conn) scoped(ctx context.Context, org domain.OrgID, a access, fn func(q sqlx.ExtContext) error) error {
	return c.db.classify(ctx, c.scopedRun(ctx, org, a, fn))
}

func (c conn) scopedRun(ctx context.Context, org domain.OrgID, a access, fn func(q sqlx.ExtContext) error) error {
	if c.db.rls == nil {
		return c.run(ctx, a, fn)
	}
	if t, ok := c.tx.(*lazyTx); ok {
		t.confine(org)
		return fn(t)
	}
	if a == reads {
		// One round trip per statement: each runs in an implicit
		// transaction of its own, confined and read only (a read-only
		// transaction at READ COMMITTED, as before, gave each statement
		// its own snapshot too).
		err := fn(&confined{ExtContext: c.db.read, c: c, org: org})
		if errors.Is(err, context.DeadlineExceeded) {
			// database/sql's own error, not the driver's (a statement the
			// deadline cancelled fails with the server's error): the time
			// ran out waiting for a connection.
			return beginFailed(err)
		}
		return err
	}
	return c.db.runLazyTx(ctx, func(t *lazyTx) error {
		t.confine(org)
		return fn(t)
	})
}

// unscoped runs fn, whose statements are not tied to one organization,
// where access says. Callers say why they may.
func (c conn) unscoped(ctx context.Context, a access, fn func(q sqlx.ExtContext) error) error {
	return c.db.classify(ctx, c.run(ctx, a, fn))
}

func (c conn) run(ctx context.Context, a access, fn func(q sqlx.ExtContext) error) error {
	switch {
	case c.tx != nil:
		return fn(c.tx)
	case a == reads:
		return fn(c.db.read)
	case a == writesOnce:
		return fn(c.db.write)
	case c.db.rls != nil:
		return c.db.runLazyTx(ctx, func(t *lazyTx) error { return fn(t) })
	default:
		return c.db.runTx(ctx, func(tx *sqlx.Tx) error { return fn(tx) })
	}
}

// get and sel are sqlx's GetContext and SelectContext with the statement
// rebound for the driver; exec is ExecContext likewise.
func (c conn) get(ctx context.Context, q sqlx.ExtContext, dest any, query string, args ...any) error {
	return sqlx.GetContext(ctx, q, dest, c.db.rebind(query), args...)
}

func (c conn) sel(ctx context.Context, q sqlx.ExtContext, dest any, query string, args ...any) error {
	return sqlx.SelectContext(ctx, q, dest, c.db.rebind(query), args...)
}

func (c conn) exec(ctx context.Context, q sqlx.ExtContext, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, c.db.rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// execLast runs a statement whose answer nobody reads: in a *lazyTx it
// goes out with the transaction's next statement or its COMMIT; elsewhere
// now. Its errors then surface there (a constraint it breaks fails the
// commit), so a caller that must tell one from another runs exec.
func (c conn) execLast(ctx context.Context, q sqlx.ExtContext, query string, args ...any) error {
	if t, ok := q.(*lazyTx); ok {
		return t.execLast(ctx, c.db.rebind(query), args...)
	}
	_, err := c.exec(ctx, q, query, args...)
	return err
}

// violates reports whether err is a violation of class on the named
// constraint. A violation the database does not name (a SQLite foreign
// key) matches too when anonymous is true: the caller knows the statement
// can break no other constraint of that class.
func (c conn) violates(err error, class, constraint string, anonymous bool) bool {
	if err == nil {
		return false
	}
	gotClass, got := c.db.d.Violation(err)
	return gotClass == class && (got == constraint || (got == "" && anonymous))
}

// dbTime is how a timestamp is stored: in UTC, at microsecond precision
// (that of Postgres's timestamptz). Create methods also write it back into
// the entity, so that what Create returns equals what Get reads later.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// wrapInfra prefixes infrastructure errors with op and passes domain
// errors through unchanged: their message is written for the client. An
// unavailable database is prefixed all the same: the client still reads
// only its message, and the server log then says which call failed.
func wrapInfra(op string, err error) error {
	var de *domain.Error
	if err == nil || errors.As(err, &de) && de.Kind != domain.KindUnavailable {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
