package sqlite_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/sqlite"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/ports"
)

// TestListSorts_AreServedByAnIndex: on SQLite, the statement List runs
// for every sort's first page searches one index in order, with no
// temporary B-tree for the ORDER BY. After a cursor, the creation sorts
// search one range from the cursor on (id<? or id>?), as does due in its
// undated tail (the key and the id). The other sorts search two ranges
// of their index, each read in index order and stopped at its limit: the
// tasks that share the cursor's key, bounded by the key and the id, and
// those beyond it, bounded by the key; only the page made of both is
// sorted. So the tasks before the cursor, tied with it or not, are never
// read.
func TestListSorts_AreServedByAnIndex(t *testing.T) {
	t.Parallel()
	p := openMigrated(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const dueKey = "<expr>"
	for _, tc := range []struct {
		sort   ports.TaskSort
		c      *ports.TaskCursor
		index  string
		bounds []string // the constraints of the SEARCHes of index, after a cursor
	}{
		{ports.SortCreatedDesc, nil, "sqlite_autoindex_tasks_1", nil},
		{ports.SortCreatedDesc, &ports.TaskCursor{ID: 500}, "sqlite_autoindex_tasks_1", []string{"id<?"}},
		{ports.SortCreated, &ports.TaskCursor{ID: 500}, "sqlite_autoindex_tasks_1", []string{"id>?"}},
		{ports.SortUpdatedDesc, nil, "tasks_org_updated_desc_idx", nil},
		{ports.SortUpdatedDesc, &ports.TaskCursor{Time: &at, ID: 500}, "tasks_org_updated_(de|a)sc_idx",
			[]string{"updated_at=? AND id<?", "updated_at<?"}},
		{ports.SortUpdated, nil, "tasks_org_updated_asc_idx", nil},
		{ports.SortUpdated, &ports.TaskCursor{Time: &at, ID: 500}, "tasks_org_updated_asc_idx",
			[]string{"updated_at=? AND id<?", "updated_at>?"}},
		{ports.SortPriorityDesc, nil, "tasks_org_priority_idx", nil},
		{ports.SortPriorityDesc, &ports.TaskCursor{Rank: 3, ID: 500}, "tasks_org_priority_idx",
			[]string{"priority=? AND id<?", "priority<?"}},
		{ports.SortDue, nil, "tasks_org_due_key_idx", nil},
		{ports.SortDue, &ports.TaskCursor{Time: &at, ID: 500}, "tasks_org_due_key_idx",
			[]string{dueKey + "=? AND id<?", dueKey + ">?"}},
		{ports.SortDue, &ports.TaskCursor{ID: 500}, "tasks_org_due_key_idx", []string{dueKey + "=? AND id<?"}},
	} {
		query, args, err := sqlstore.ListQuery(sqlite.Dialect{}, 1, ports.TaskFilter{Limit: 10, Sort: tc.sort, After: tc.c})
		if err != nil {
			t.Fatal(err)
		}
		var steps []struct {
			ID     int    `db:"id"`
			Parent int    `db:"parent"`
			Unused int    `db:"notused"`
			Detail string `db:"detail"`
		}
		if err := p.read.SelectContext(t.Context(), &steps, "EXPLAIN QUERY PLAN "+query, args...); err != nil {
			t.Fatalf("EXPLAIN QUERY PLAN %s: %v", query, err)
		}
		// A step belongs to a range when it is under one of the derived
		// tables r0, r1 (a co-routine or a materialized view).
		parent, detail := map[int]int{}, map[int]string{}
		var lines []string
		for _, s := range steps {
			parent[s.ID], detail[s.ID] = s.Parent, s.Detail
			lines = append(lines, s.Detail)
		}
		inRange := func(id int) bool {
			for ; id != 0; id = parent[id] {
				if regexp.MustCompile(`^(CO-ROUTINE|MATERIALIZE) r\d`).MatchString(detail[id]) {
					return true
				}
			}
			return false
		}
		plan := strings.Join(lines, "\n")
		name := string(tc.sort)
		if tc.c != nil {
			name += " after a cursor"
		}
		for _, s := range steps {
			if strings.Contains(s.Detail, "TEMP B-TREE") && (tc.c == nil || len(tc.bounds) == 1 || inRange(s.ID)) {
				t.Errorf("%s: a range is sorted, not read in index order; plan:\n%s", name, plan)
			}
		}
		search := regexp.MustCompile(`SEARCH tasks USING (COVERING )?INDEX ` + tc.index + ` \(organization_id=\?`)
		if !search.MatchString(plan) {
			t.Errorf("%s: want a search of %s; plan:\n%s", name, tc.index, plan)
		}
		for _, b := range tc.bounds {
			if !regexp.MustCompile(search.String() + ` AND ` + regexp.QuoteMeta(b) + `\)`).MatchString(plan) {
				t.Errorf("%s: no search of %s bounded by %s; plan:\n%s", name, tc.index, b, plan)
			}
		}
	}
}
