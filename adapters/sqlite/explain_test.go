package sqlite_test

import (
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/ports"
)

// TestListSorts_AreServedByAnIndex: on SQLite, every sort's first page
// and a page after a cursor (for due, one in the dated part and one in
// the undated tail) search one index in order: no temporary B-tree for
// the ORDER BY, and after a cursor the key (for due's undated tail, the
// key and the id) bounds the search, so the rows before the cursor are
// never read.
func TestListSorts_AreServedByAnIndex(t *testing.T) {
	t.Parallel()
	p := openMigrated(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const dueKey = "<expr>"
	for _, tc := range []struct {
		sort  ports.TaskSort
		c     *ports.TaskCursor
		index string
		bound string // what the SEARCH's constraint must name, after a cursor
	}{
		{ports.SortCreatedDesc, nil, "sqlite_autoindex_tasks_1", ""},
		{ports.SortCreatedDesc, &ports.TaskCursor{ID: 500}, "sqlite_autoindex_tasks_1", "id<?"},
		{ports.SortCreated, &ports.TaskCursor{ID: 500}, "sqlite_autoindex_tasks_1", "id>?"},
		{ports.SortUpdatedDesc, nil, "tasks_org_updated_desc_idx", ""},
		{ports.SortUpdatedDesc, &ports.TaskCursor{Time: &at, ID: 500}, "tasks_org_updated_desc_idx", "updated_at<?"},
		{ports.SortUpdated, nil, "tasks_org_updated_asc_idx", ""},
		{ports.SortUpdated, &ports.TaskCursor{Time: &at, ID: 500}, "tasks_org_updated_asc_idx", "updated_at>?"},
		{ports.SortPriorityDesc, nil, "tasks_org_priority_idx", ""},
		{ports.SortPriorityDesc, &ports.TaskCursor{Rank: 3, ID: 500}, "tasks_org_priority_idx", "priority<?"},
		{ports.SortDue, nil, "tasks_org_due_key_idx", ""},
		{ports.SortDue, &ports.TaskCursor{Time: &at, ID: 500}, "tasks_org_due_key_idx", dueKey + ">?"},
		{ports.SortDue, &ports.TaskCursor{ID: 500}, "tasks_org_due_key_idx", dueKey + "=? AND id<?"},
	} {
		orderBy, after, args, err := sqlstore.ListOrder(tc.sort, tc.c)
		if err != nil {
			t.Fatal(err)
		}
		query := "SELECT * FROM tasks WHERE organization_id = ?"
		qargs := []any{int64(1)}
		if tc.c != nil {
			query += " AND " + after
			qargs = append(qargs, args...)
		}
		query += " ORDER BY " + orderBy + " LIMIT 11"
		var steps []struct {
			ID     int    `db:"id"`
			Parent int    `db:"parent"`
			Unused int    `db:"notused"`
			Detail string `db:"detail"`
		}
		if err := p.read.SelectContext(t.Context(), &steps, "EXPLAIN QUERY PLAN "+query, qargs...); err != nil {
			t.Fatalf("EXPLAIN QUERY PLAN %s: %v", query, err)
		}
		var lines []string
		for _, s := range steps {
			lines = append(lines, s.Detail)
		}
		plan := strings.Join(lines, "\n")
		name := string(tc.sort)
		if tc.c != nil {
			name += " after a cursor"
		}
		want := "SEARCH tasks USING INDEX " + tc.index + " (organization_id=?"
		if !strings.Contains(plan, want) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: want %q and no temporary B-tree; plan:\n%s", name, want, plan)
		}
		if tc.bound != "" && !strings.Contains(plan, tc.bound+")") {
			t.Errorf("%s: the search is not bounded by %s; plan:\n%s", name, tc.bound, plan)
		}
	}
}
