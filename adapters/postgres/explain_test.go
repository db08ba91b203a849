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
		ports.SortDue:          "tasks_org_due_key_idx",
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
			orderBy, after, args, err := sqlstore.ListOrder(sort, c)
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
			// the index condition, not a filter over the rows before it.
			if key := sortKey[sort]; c != nil && !indexCondHas(plan, key) {
				t.Errorf("%s: the index condition does not bound %s; plan:\n%s", name, key, plan)
			}
		}
	}
}

// TestDueSort_DeepCursorStartsTheIndexRange: under sort=due, a cursor in
// the dated part and one in the undated tail both start the range of
// tasks_org_due_key_idx at the cursor. In the tail, the key and the id
// are both index conditions and nothing is filtered: the rows before the
// cursor are never read. The due bounds are index conditions too.
func TestDueSort_DeepCursorStartsTheIndexRange(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		c      ports.TaskCursor
		extra  string
		eargs  []any
		noFilt bool
	}{
		{name: "dated", c: ports.TaskCursor{Time: &at, ID: 500}},
		{name: "undated_tail", c: ports.TaskCursor{ID: 500}, noFilt: true},
		{name: "dated_due_after_and_before", c: ports.TaskCursor{Time: &at, ID: 500},
			extra: " AND " + dueKey + " > ? AND " + dueKey + " < 'infinity' AND " + dueKey + " < ?",
			eargs: []any{at.Add(-time.Hour), at.Add(time.Hour)}},
	} {
		orderBy, after, args, err := sqlstore.ListOrder(ports.SortDue, &tc.c)
		if err != nil {
			t.Fatal(err)
		}
		query := "SELECT id FROM tasks WHERE organization_id = ? AND " + after + tc.extra +
			" ORDER BY " + orderBy + " LIMIT 11"
		plan := explain(t, db, sqlx.Rebind(sqlx.DOLLAR, query), append(append([]any{int64(1)}, args...), tc.eargs...)...)
		if !strings.Contains(plan, "Index Scan using tasks_org_due_key_idx") || strings.Contains(plan, "Sort") {
			t.Errorf("%s: want an index scan of tasks_org_due_key_idx and no Sort node; plan:\n%s", tc.name, plan)
		}
		if !indexCondHas(plan, sortKey[ports.SortDue]) {
			t.Errorf("%s: the index condition does not bound the due key; plan:\n%s", tc.name, plan)
		}
		if tc.noFilt && (hasFilter(plan) || !indexCondHas(plan, "id")) {
			t.Errorf("%s: want the key and id as index conditions and no filter; plan:\n%s", tc.name, plan)
		}
	}
}

const dueKey = "CASE WHEN due_at IS NULL THEN 'infinity' ELSE due_at END"

var sortKey = map[ports.TaskSort]string{
	ports.SortCreatedDesc: "id", ports.SortCreated: "id", ports.SortUpdatedDesc: "updated_at",
	ports.SortUpdated: "updated_at", ports.SortPriorityDesc: "priority", ports.SortDue: "CASE WHEN (due_at IS NULL)",
}

// indexCondHas tells whether an Index Cond of plan bounds col (a column,
// or the start of an expression).
func indexCondHas(plan, col string) bool {
	if !strings.Contains(col, " ") {
		col += " "
	}
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Index Cond:") && strings.Contains(line, "("+col) {
			return true
		}
	}
	return false
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

// hasFilter tells whether a node of plan filters the rows it reads.
func hasFilter(plan string) bool {
	for line := range strings.Lines(plan) {
		if strings.HasPrefix(strings.TrimSpace(line), "Filter:") {
			return true
		}
	}
	return false
}
