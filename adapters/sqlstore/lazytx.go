package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
)

// lazyTx is a transaction on a database with row-level security that
// costs no round trip of its own: BEGIN and the tenant go out in front
// of its first statement, and statements whose answer nobody reads
// (execLast) go out with the next one or with COMMIT. database/sql's
// transaction sends BEGIN and waits for it, and the tenant would be a
// statement of its own: for a one-statement write that was four round
// trips (BEGIN; set_config; the statement; COMMIT) where this takes two.
//
// What goes out in front of a statement is written in the same query
// string (the simple protocol), so the statement goes with its
// arguments written in as literals (RowSecurity.Inline); when that
// cannot be, the pending part goes out on its own first.
//
// It holds one connection of the pool from its first statement to its
// end. Whatever happens, the connection goes back only outside a
// transaction: runLazyTx rolls back every transaction it did not commit,
// and a connection on which the rollback fails is closed, never pooled.
type lazyTx struct {
	db   *DB
	conn *sqlx.Conn
	// begun: BEGIN went out. failed: a statement failed, so the
	// transaction can only roll back.
	begun, failed bool
	// want is the organization the next statement must run confined to
	// (0: none asked yet); have, the one the transaction is confined to.
	want, have domain.OrgID
	// last holds statements to send in front of the next one or with
	// COMMIT (their arguments written in).
	last []string
}

var _ sqlx.ExtContext = (*lazyTx)(nil)

// runLazyTx runs fn in a new lazyTx on the write pool, committed when fn
// returns nil. Errors as runTx's.
func (db *DB) runLazyTx(ctx context.Context, fn func(t *lazyTx) error) (err error) {
	conn, err := db.write.Connx(ctx)
	if err != nil {
		return beginFailed(err)
	}
	t := &lazyTx{db: db, conn: conn}
	committed := false
	defer func() {
		if !committed {
			t.abort(ctx)
		}
		_ = conn.Close()
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := t.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// confine asks that the statements from the next one on run confined to
// org.
func (t *lazyTx) confine(org domain.OrgID) { t.want = org }

// execLast sends query with the next statement, or with COMMIT: for a
// statement whose answer nobody reads, that must only commit with the
// rest (an event's append). When its arguments cannot be written in, it
// runs now.
func (t *lazyTx) execLast(ctx context.Context, query string, args ...any) error {
	if s, ok := t.db.rls.Inline(query, args); ok {
		t.last = append(t.last, s)
		return nil
	}
	_, err := t.ExecContext(ctx, query, args...)
	return err
}

// pending returns what must go out in front of the next statement.
func (t *lazyTx) pending() []string {
	var p []string
	if !t.begun {
		p = append(p, "BEGIN")
	}
	if t.want != 0 && t.want != t.have {
		p = append(p, t.db.rls.ScopeSQL(int64(t.want)))
	}
	return append(p, t.last...)
}

// sent records that pending's statements went out.
func (t *lazyTx) sent() {
	t.begun, t.have, t.last = true, t.want, nil
}

// stmt returns the query string and arguments to send for query.
func (t *lazyTx) stmt(ctx context.Context, query string, args []any) (string, []any, error) {
	if t.failed {
		return "", nil, errors.New("the transaction failed at an earlier statement")
	}
	if err := ctx.Err(); err != nil {
		// As database/sql's transaction: once its context is done, it
		// runs nothing more and rolls back.
		t.failed = true
		return "", nil, err
	}
	p := t.pending()
	if len(p) == 0 {
		return query, args, nil
	}
	if s, ok := t.db.rls.Inline(query, args); ok {
		t.sent()
		return strings.Join(p, "; ") + "; " + s, nil, nil
	}
	if _, err := t.conn.ExecContext(ctx, strings.Join(p, "; ")); err != nil {
		// BEGIN may have run before what failed: abort rolls back.
		t.failed, t.begun = true, true
		return "", nil, err
	}
	t.sent()
	return query, args, nil
}

// note records a statement's error: after one, Postgres runs nothing
// more in the transaction.
func (t *lazyTx) note(err error) error {
	if err != nil {
		t.failed = true
	}
	return err
}

func (t *lazyTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, a, err := t.stmt(ctx, query, args)
	if err != nil {
		return nil, err
	}
	rows, err := t.conn.QueryContext(ctx, s, a...)
	return rows, t.note(err)
}

func (t *lazyTx) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	s, a, err := t.stmt(ctx, query, args)
	if err != nil {
		return nil, err
	}
	rows, err := t.conn.QueryxContext(ctx, s, a...)
	return rows, t.note(err)
}

func (t *lazyTx) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	s, a, err := t.stmt(ctx, query, args)
	if err != nil {
		// A row carries its error to Scan, and sqlx has no way to make
		// one with a given error: the statement goes out as it is, into
		// a transaction Postgres has aborted (or over a connection that
		// failed), and the caller reads the error that says so.
		t.failed = true
		return t.conn.QueryRowxContext(ctx, query, args...)
	}
	row := t.conn.QueryRowxContext(ctx, s, a...)
	_ = t.note(row.Err())
	return row
}

func (t *lazyTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, a, err := t.stmt(ctx, query, args)
	if err != nil {
		return nil, err
	}
	res, err := t.conn.ExecContext(ctx, s, a...)
	return res, t.note(err)
}

func (t *lazyTx) DriverName() string         { return t.db.write.DriverName() }
func (t *lazyTx) Rebind(query string) string { return t.db.write.Rebind(query) }
func (t *lazyTx) BindNamed(query string, arg any) (string, []any, error) {
	return t.db.write.BindNamed(query, arg)
}

// commit sends what is left and COMMIT in one round trip. A transaction
// that sent nothing has nothing to commit. "SELECT 1" in front of COMMIT
// makes a transaction that failed unnoticed fail here: in a failed
// transaction Postgres answers COMMIT by rolling back, with no error,
// but refuses any other statement.
func (t *lazyTx) commit(ctx context.Context) error {
	if t.failed {
		return errors.New("the transaction failed at an earlier statement")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := t.pending()
	if t.begun && len(p) == 0 {
		p = []string{"SELECT 1"}
	} else if !t.begun && len(t.last) == 0 {
		return nil
	}
	_, err := t.conn.ExecContext(ctx, strings.Join(append(p, "COMMIT"), "; "))
	if err != nil {
		// A statement that failed in front of COMMIT left the transaction
		// open (Postgres skips the rest of the string), BEGIN included if
		// it went out here: abort rolls back.
		t.failed, t.begun = true, true
		return err
	}
	t.begun = false
	return nil
}

// abort rolls back whatever went out, also when ctx is done; a
// connection that cannot roll back is closed rather than pooled, so that
// no transaction (and no tenant) reaches its next user.
func (t *lazyTx) abort(ctx context.Context) {
	if !t.begun {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := t.conn.ExecContext(rctx, "ROLLBACK"); err != nil {
		_ = t.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}
