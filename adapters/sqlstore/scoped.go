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
//   - A transaction sends BEGIN and its tenant in front of its first
//     statement, and its last statements with COMMIT (lazyTx).
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
