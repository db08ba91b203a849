package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/ports"
)

// TestListSorts_AreServedByAnIndex: for every sort, the first page and a
// page after a cursor read one index in order, with no Sort node.
// Sequential and bitmap scans (which lose the index's order) are disabled
// in the transaction, as on a table large enough that the planner would
// not choose them: the test asks which index serves the order, not how
// the planner weighs a handful of rows.
func TestListSorts_AreServedByAnIndex(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for sort, index := range map[ports.TaskSort]string{
		ports.SortCreatedDesc:  "tasks_pkey",
		ports.SortCreated:      "tasks_pkey",
		ports.SortUpdatedDesc:  "tasks_org_updated_desc_idx",
		ports.SortUpdated:      "tasks_org_updated_asc_idx",
		ports.SortDue:          "tasks_org_due_idx",
		ports.SortPriorityDesc: "tasks_org_priority_idx",
	} {
		for _, c := range []*ports.TaskCursor{nil, {Time: &at, Rank: 3, ID: 500}} {
			name := string(sort)
			if c != nil && (sort == ports.SortPriorityDesc || sort == ports.SortCreated || sort == ports.SortCreatedDesc) {
				c.Time = nil
			}
			if c != nil && sort != ports.SortPriorityDesc {
				c.Rank = 0
			}
			orderBy, after, args, err := sqlstore.ListOrder(sort, derefOr(c))
			if err != nil {
				t.Fatal(err)
			}
			query := "SELECT id FROM tasks WHERE organization_id = ?"
			qargs := []any{int64(1)}
			if c != nil {
				name += " after a cursor"
				query += " AND " + after
				qargs = append(qargs, args...)
			}
			query += " ORDER BY " + orderBy + " LIMIT 11"
			plan := explain(t, db, sqlx.Rebind(sqlx.DOLLAR, query), qargs...)
			if !strings.Contains(plan, index) || strings.Contains(plan, "Sort") {
				t.Errorf("%s: want an index scan of %s and no Sort node; plan:\n%s", name, index, plan)
			}
			// After a cursor, the range starts at it: the key is part of
			// the index condition, not a filter over the rows before it
			// (except under due, whose undated tail is an OR).
			if key := sortKey[sort]; c != nil && sort != ports.SortDue && !indexCondHas(plan, key) {
				t.Errorf("%s: the index condition does not bound %s; plan:\n%s", name, key, plan)
			}
		}
	}
}

var sortKey = map[ports.TaskSort]string{
	ports.SortCreatedDesc: "id", ports.SortCreated: "id", ports.SortUpdatedDesc: "updated_at",
	ports.SortUpdated: "updated_at", ports.SortPriorityDesc: "priority",
}

func indexCondHas(plan, col string) bool {
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Index Cond:") && strings.Contains(line, "("+col+" ") {
			return true
		}
	}
	return false
}

func derefOr(c *ports.TaskCursor) ports.TaskCursor {
	if c == nil {
		return ports.TaskCursor{ID: 1}
	}
	return *c
}

func explain(t *testing.T, db *sqlx.DB, query string, args ...any) string {
	t.Helper()
	tx, err := db.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"); err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := tx.SelectContext(t.Context(), &lines, "EXPLAIN "+query, args...); err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	return strings.Join(lines, "\n")
}
