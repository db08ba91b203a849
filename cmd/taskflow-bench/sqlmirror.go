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
// tenant statement on Postgres (conn.scoped: BEGIN [READ ONLY]; SELECT
// set_config('app.organization_id', '<org>', true); <statement>; COMMIT).
// It is part of the SQL the service issues for each of these scenarios,
// so the ceiling issues it as well (see scoped below).
// ============================================================================

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
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

// scopeSQL is the Postgres dialect's ScopeSQL: the tenant of the
// transaction, set for it alone.
func scopeSQL(org int64) string {
	return "SELECT set_config('app.organization_id', '" + strconv.FormatInt(org, 10) + "', true)"
}

// scoped runs fn in a transaction confined to org, as conn.scoped does:
// read-only for reads.
func scoped(ctx context.Context, db *sql.DB, org int64, readOnly bool, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, scopeSQL(org)); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
