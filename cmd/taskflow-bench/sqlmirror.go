package main

// ============================================================================
// MIRRORED SQL: the statements the service's store issues on Postgres,
// copied from adapters/sqlstore/{task_store,user_store}.go (formerly
// adapters/postgres). They are written with ? as there and rebound to
// Postgres's $n placeholders the same way (sqlx.Rebind). The database
// ceilings replay exactly these, so when the store's SQL changes, change it
// here too, and nowhere else: this file is the only place in the benchmark
// that spells store SQL. (Seeding SQL, which the service never issues,
// lives in seed.go.)
//
// Mirrored too: the row-level-security wrapper the store puts around every
// tenant statement on Postgres (adapters/sqlstore/scoped.go), part of the
// SQL the service issues for each of these scenarios, so the ceilings
// issue it as well (scopedQuery and scopedTx below):
//
//   - a read outside a transaction is one simple-protocol query, the
//     store's confined: SET LOCAL transaction_read_only = on; SET LOCAL
//     app.organization_id = '<org>'; <statement with its arguments written
//     in as literals> (postgres.Dialect.ScopedStatement), in Postgres's
//     implicit transaction: one round trip;
//   - a write is the store's lazyTx: a transaction on a connection of its
//     own that costs no round trip of its own. Its first statement goes
//     out as one query string, BEGIN; SET LOCAL app.organization_id =
//     '<org>'; <statement with its arguments written in>; the further
//     statements bound; then SELECT 1; COMMIT in one query string (the
//     SELECT 1 makes a transaction that failed unnoticed fail). A
//     one-statement write is two round trips.
// ============================================================================

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/postgres"
)

// pg rebinds a ?-statement for lib/pq, as the store does.
func pg(query string) string { return sqlx.Rebind(sqlx.DOLLAR, query) }

// sqlTaskColumns is the store's taskColumns.
const sqlTaskColumns = `organization_id, id, title, description, status, assignee_id, priority, due_at,
	completed_at, created_by, created_at, updated_at, version`

// sqlTaskSelect is the store's taskSelect on Postgres: the columns and the
// task's labels.
const sqlTaskSelect = sqlTaskColumns + `, COALESCE((SELECT json_agg(l.label)::text FROM task_labels l
	     WHERE l.organization_id = tasks.organization_id AND l.task_id = tasks.id), '[]')`

// sqlGetTask is TaskStore.Get. Args: org, id.
var sqlGetTask = pg(`SELECT ` + sqlTaskSelect + ` FROM tasks WHERE organization_id = ? AND id = ?`)

// sqlLockTask is the load of TaskStore.Update, inside its transaction (the
// Postgres dialect's row lock for "UPDATE"). Args: org, id.
var sqlLockTask = pg(`SELECT ` + sqlTaskSelect + ` FROM tasks WHERE organization_id = ? AND id = ?` + ` FOR UPDATE`)

// sqlUpdateTask is the write of TaskStore.Update (a status change leaves
// the labels alone, so it writes none). Args: title, description, status,
// assignee_id, priority, due_at, completed_at, updated_at, search_words,
// org, id.
var sqlUpdateTask = pg(`UPDATE tasks
			 SET title = ?, description = ?, status = ?, assignee_id = ?, priority = ?, due_at = ?,
			     completed_at = ?, updated_at = ?, version = version + 1, search_words = ?
			 WHERE organization_id = ? AND id = ?
			 RETURNING ` + sqlTaskColumns)

// sqlInsertTask is TaskStore.Create of a task without labels. Args: org,
// title, description, status, assignee_id, priority, due_at,
// completed_at, created_by, created_at, updated_at, version, search_words.
var sqlInsertTask = pg(`INSERT INTO tasks (organization_id, title, description, status, assignee_id, priority, due_at,
			                    completed_at, created_by, created_at, updated_at, version, search_words)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)

// listSQL builds TaskStore.List's statement and arguments. status "" and
// before 0 mean "no such filter" (the bench never filters by assignee).
// The store reads limit+1 rows to learn whether a next page exists.
func listSQL(org int64, status string, before int64, limit, offset int) (string, []any) {
	where, args := []string{"organization_id = ?"}, []any{org}
	if status != "" {
		where, args = append(where, "status = ?"), append(args, status)
	}
	if before > 0 {
		where, args = append(where, "id < ?"), append(args, before)
	}
	query := `SELECT ` + sqlTaskSelect + ` FROM tasks WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY id DESC LIMIT ? OFFSET ?`
	args = append(args, limit+1, offset)
	return pg(query), args
}

// scopedQuery runs a read confined to org in one round trip, as the
// store's confined does. When an argument cannot be written in, the store
// sends the statement unconfined (it then sees no rows) and so does this.
func scopedQuery(ctx context.Context, db *sql.DB, org int64, query string, args []any) (*sql.Rows, error) {
	if s, ok := (postgres.Dialect{}).ScopedStatement(org, true, query, args); ok {
		return db.QueryContext(ctx, s)
	}
	return db.QueryContext(ctx, query, args...)
}

// scopedQueryRow is scopedQuery for one row.
func scopedQueryRow(ctx context.Context, db *sql.DB, org int64, query string, args []any) *sql.Row {
	if s, ok := (postgres.Dialect{}).ScopedStatement(org, true, query, args); ok {
		return db.QueryRowContext(ctx, s)
	}
	return db.QueryRowContext(ctx, query, args...)
}

// lazyTx is the store's lazyTx (adapters/sqlstore/lazytx.go) for one
// organization: BEGIN and the tenant go out in front of the first
// statement, COMMIT behind SELECT 1.
type lazyTx struct {
	conn  *sql.Conn
	org   int64
	begun bool
}

// stmt returns the query string and arguments to send for query: the
// first statement with BEGIN and the tenant written in front (or, when its
// arguments cannot be written in, after them on their own), the others
// unchanged.
func (t *lazyTx) stmt(ctx context.Context, query string, args []any) (string, []any, error) {
	if t.begun {
		return query, args, nil
	}
	d := postgres.Dialect{}
	pending := "BEGIN; " + d.ScopeSQL(t.org)
	if s, ok := d.Inline(query, args); ok {
		t.begun = true
		return pending + "; " + s, nil, nil
	}
	if _, err := t.conn.ExecContext(ctx, pending); err != nil {
		return "", nil, err
	}
	t.begun = true
	return query, args, nil
}

func (t *lazyTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, a, err := t.stmt(ctx, query, args)
	if err != nil {
		// As the store: the statement goes out as it is, into the failed
		// transaction, and its Scan reports the error.
		return t.conn.QueryRowContext(ctx, query, args...)
	}
	return t.conn.QueryRowContext(ctx, s, a...)
}

// scopedTx runs fn in a write transaction confined to org, as the store's
// scoped writes do (runLazyTx): a connection of the pool held to the end,
// committed when fn returns nil, rolled back otherwise.
func scopedTx(ctx context.Context, db *sql.DB, org int64, fn func(tx *lazyTx) error) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	t := &lazyTx{conn: conn, org: org}
	committed := false
	defer func() {
		if !committed && t.begun {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := conn.ExecContext(rctx, "ROLLBACK"); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}
		_ = conn.Close()
	}()
	if err := fn(t); err != nil {
		return err
	}
	if !t.begun {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "SELECT 1; COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}
