package sqlstore

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
)

// The row-level-security wrapper in as few round trips as the driver
// allows (lib/pq cannot pipeline: each query string is a round trip).
//
//   - A read outside a transaction was BEGIN READ ONLY; set_config; the
//     statement; COMMIT: four round trips for one statement. confined
//     sends each statement as one query string that sets the tenant
//     (and read only) for its implicit transaction and then runs the
//     statement with its arguments written in
//     (RowSecurity.ScopedStatement): one round trip.
//   - A transaction sets its tenant with its first statement in the same
//     query string (confining): BEGIN; tenant and first statement; the
//     rest; COMMIT.
//
// The statements themselves, and what each read or write sees, are
// unchanged; docs/PERFORMANCE.md has what each form costs.

// confined runs every statement on a pool, each in its own implicit
// transaction confined to org and read only. Reads only.
type confined struct {
	sqlx.ExtContext
	c   conn
	org domain.OrgID
}

func (q *confined) stmt(query string, args []any) (string, bool) {
	return q.c.db.rls.ScopedStatement(int64(q.org), true, query, args)
}

func (q *confined) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s, ok := q.stmt(query, args); ok {
		return q.ExtContext.QueryContext(ctx, s)
	}
	// An argument the literal form does not know: unscoped, the database
	// shows no tenant's rows, and the driver reports what is wrong.
	return q.ExtContext.QueryContext(ctx, query, args...)
}

func (q *confined) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	if s, ok := q.stmt(query, args); ok {
		return q.ExtContext.QueryxContext(ctx, s)
	}
	return q.ExtContext.QueryxContext(ctx, query, args...)
}

func (q *confined) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	if s, ok := q.stmt(query, args); ok {
		return q.ExtContext.QueryRowxContext(ctx, s)
	}
	return q.ExtContext.QueryRowxContext(ctx, query, args...)
}

func (q *confined) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s, ok := q.stmt(query, args); ok {
		return q.ExtContext.ExecContext(ctx, s)
	}
	return q.ExtContext.ExecContext(ctx, query, args...)
}

// confining is a transaction that confines itself to org with its first
// statement, in the same round trip; the others run as they are.
type confining struct {
	sqlx.ExtContext // the transaction
	c               conn
	org             domain.OrgID
	done            bool
}

// first returns the statement to send for query: the first one with the
// confinement written in front (or, when its arguments cannot be written
// in, after the confinement on its own), the others unchanged.
func (q *confining) first(ctx context.Context, query string, args []any) (string, []any, error) {
	if q.done {
		return query, args, nil
	}
	q.done = true
	if q.c.scope != nil {
		*q.c.scope = q.org
	}
	if s, ok := q.c.db.rls.ScopedStatement(int64(q.org), false, query, args); ok {
		return s, nil, nil
	}
	if err := q.c.confine(ctx, q.ExtContext, q.org); err != nil {
		return "", nil, err
	}
	return query, args, nil
}

func (q *confining) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, a, err := q.first(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return q.ExtContext.QueryContext(ctx, s, a...)
}

func (q *confining) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	s, a, err := q.first(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return q.ExtContext.QueryxContext(ctx, s, a...)
}

func (q *confining) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	s, a, err := q.first(ctx, query, args)
	if err != nil {
		// The confinement failed, and the transaction with it: this
		// statement fails as well, with the transaction's error.
		return q.ExtContext.QueryRowxContext(ctx, query, args...)
	}
	return q.ExtContext.QueryRowxContext(ctx, s, a...)
}

func (q *confining) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, a, err := q.first(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return q.ExtContext.ExecContext(ctx, s, a...)
}
