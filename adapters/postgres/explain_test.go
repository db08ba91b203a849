package postgres_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// sortIndex is the index that serves each sort.
var sortIndex = map[ports.TaskSort]string{
	ports.SortCreatedDesc:  "tasks_pkey",
	ports.SortCreated:      "tasks_pkey",
	ports.SortUpdatedDesc:  "tasks_org_updated_desc_idx",
	ports.SortUpdated:      "tasks_org_updated_asc_idx",
	ports.SortDue:          "tasks_org_due_key_idx",
	ports.SortPriorityDesc: "tasks_org_priority_idx",
}

// TestListSorts_AreServedByAnIndex: for every sort, the statement List
// runs for the first page reads one index in order, with no Sort node.
// After a cursor, the creation sorts read one range of the primary key
// from the cursor on; the others read two ranges of the sort's index,
// each with its own limit: the tasks that share the cursor's key (the
// key and the id both index conditions) and those beyond it (the key an
// index condition). The one Sort then orders the two ranges' rows, no
// more than two pages. Sequential and bitmap scans (which lose the
// index's order) are disabled in the transaction, as on a table large
// enough that the planner would not choose them: the test asks which
// index serves the order, not how the planner weighs a handful of rows.
func TestListSorts_AreServedByAnIndex(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, sort := range ports.TaskSorts {
		index := sortIndex[sort]
		c := &ports.TaskCursor{ID: 500}
		switch sort {
		case ports.SortPriorityDesc:
			c.Rank = 3
		case ports.SortUpdatedDesc, ports.SortUpdated, ports.SortDue:
			c.Time = &at
		case ports.SortCreatedDesc, ports.SortCreated:
		}
		for _, c := range []*ports.TaskCursor{nil, c} {
			name := string(sort)
			if c != nil {
				name += " after a cursor"
			}
			query, args, err := sqlstore.ListQuery(postgres.Dialect{}, 1, ports.TaskFilter{Limit: 10, Sort: sort, After: c})
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, db, sqlx.Rebind(sqlx.DOLLAR, query), args...)
			if !scansIndex(plan, index) {
				t.Errorf("%s: want an index scan of %s; plan:\n%s", name, index, plan)
			}
			key := sortKey[sort]
			switch {
			case c == nil || key == "id":
				if strings.Contains(plan, "Sort") {
					t.Errorf("%s: want no Sort node; plan:\n%s", name, plan)
				}
				if c != nil && !indexCondHas(plan, "id", "") {
					t.Errorf("%s: the index condition does not bound id; plan:\n%s", name, plan)
				}
			default:
				if sortedBelowALimit(plan) || !indexCondHas(plan, key, "id") || !indexCondHas(plan, key, "") {
					t.Errorf("%s: want each range read in index order (no Sort under its Limit), with index conditions "+
						"on %s and id, and on %s; plan:\n%s", name, key, key, plan)
				}
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
	before, after := at.Add(time.Hour), at.Add(-time.Hour)
	for _, tc := range []struct {
		name string
		f    ports.TaskFilter
	}{
		{name: "dated", f: ports.TaskFilter{After: &ports.TaskCursor{Time: &at, ID: 500}}},
		{name: "undated_tail", f: ports.TaskFilter{After: &ports.TaskCursor{ID: 500}}},
		{name: "dated_due_after_and_before", f: ports.TaskFilter{After: &ports.TaskCursor{Time: &at, ID: 500},
			DueAfter: &after, DueBefore: &before}},
	} {
		tc.f.Limit, tc.f.Sort = 10, ports.SortDue
		query, args, err := sqlstore.ListQuery(postgres.Dialect{}, 1, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(t, db, sqlx.Rebind(sqlx.DOLLAR, query), args...)
		if !scansIndex(plan, "tasks_org_due_key_idx") || sortedBelowALimit(plan) {
			t.Errorf("%s: want tasks_org_due_key_idx read in order (no Sort under a Limit); plan:\n%s", tc.name, plan)
		}
		if !indexCondHas(plan, sortKey[ports.SortDue], "id") || hasFilter(plan) {
			t.Errorf("%s: want the key and id as index conditions and no filter; plan:\n%s", tc.name, plan)
		}
	}
}

// TestListSorts_CursorInATieGroupReadsOnePage: on an analyzed
// organization of 20,000 tasks, nine in ten of which share one priority,
// one due instant and one updated_at, a page after a cursor in the middle
// of that tie group, run as the service runs it (the application role,
// bound by row-level security) with nothing disabled, reads about a page
// of index entries for every sort: none filtered out, where a single
// range from the cursor's key read and dropped the ~9,000 tied tasks
// before the cursor.
func TestListSorts_CursorInATieGroupReadsOnePage(t *testing.T) {
	t.Parallel()
	owner, app, org := appOrganization(t, "ties")
	var first int64
	ownerTx(t, app, org, func(tx *sqlx.Tx) {
		// g % 10 = 0: a task of its own priority, due date (or none) and
		// update time; the rest tie on all three.
		if _, err := tx.ExecContext(t.Context(), `
			INSERT INTO tasks (organization_id, title, status, created_by, priority, due_at, created_at, updated_at)
			SELECT $1, 'task ' || g, 'CREATED', 1,
			       CASE WHEN g % 10 = 0 THEN 1 + g % 4 ELSE 2 END,
			       CASE WHEN g % 20 = 0 THEN NULL
			            WHEN g % 10 = 0 THEN timestamptz '2030-01-01 00:00:00+00' + g * interval '1 minute'
			            ELSE timestamptz '2030-01-05 17:00:00+00' END,
			       timestamptz '2030-01-01 00:00:00+00',
			       CASE WHEN g % 10 = 0 THEN timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second'
			            ELSE timestamptz '2030-01-02 00:00:00+00' END
			FROM generate_series(1, 20000) g`, org); err != nil {
			t.Fatal(err)
		}
		if err := tx.GetContext(t.Context(), &first, `SELECT min(id) FROM tasks WHERE organization_id = $1`, org); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := owner.ExecContext(t.Context(), `VACUUM ANALYZE tasks`); err != nil {
		t.Fatal(err)
	}
	// The task of g = 10,001: in the middle of the tie group, in id order
	// as in every tied order.
	mid, err := newStore(app).Stores().Tasks.Get(t.Context(), domain.OrgID(org), domain.TaskID(first+10000))
	if err != nil {
		t.Fatal(err)
	}
	const limit = 20
	for _, sort := range ports.TaskSorts {
		c := ports.CursorOf(sort, mid)
		plan := analyzeList(t, app, org, ports.TaskFilter{Limit: limit, Sort: sort, After: &c})
		if testing.Verbose() {
			t.Logf("sort=%s:\n%s", sort, plan)
		}
		if removed := rowsRemoved(plan); removed > limit {
			t.Errorf("sort=%s: %d rows read and filtered out, want at most %d; plan:\n%s", sort, removed, limit, plan)
		}
		if read := tasksRowsRead(plan); read > 2*(limit+1) {
			t.Errorf("sort=%s: a scan of tasks returned %d rows, want at most %d; plan:\n%s", sort, read, 2*(limit+1), plan)
		}
	}
}

// TestListOffsetPage_FetchesOnlyThePagesTasks: page=N reads the ids it
// skips from the sort's index and fetches the tasks, and runs the labels
// subquery, for the page alone. Run as the service runs it (application
// role, row-level security), on an analyzed organization of 5,000 tasks,
// a page at offset 4,000 under every sort and with a filter: no scan of
// task_labels runs more than a page's times, and no scan of tasks other
// than the ids' returns more than a page. Fetched whole, each of the
// 4,000 skipped tasks was read and its labels looked up, so that page
// 50,001 of a 1,000,000-task organization took seconds.
func TestListOffsetPage_FetchesOnlyThePagesTasks(t *testing.T) {
	t.Parallel()
	owner, app, org := appOrganization(t, "pages")
	ownerTx(t, app, org, func(tx *sqlx.Tx) {
		if _, err := tx.ExecContext(t.Context(), `
			INSERT INTO tasks (organization_id, title, status, created_by, priority, due_at, created_at, updated_at)
			SELECT $1, 'task ' || g, CASE WHEN g % 3 = 0 THEN 'COMPLETED' ELSE 'CREATED' END, 1, 1 + g % 4,
			       CASE WHEN g % 5 = 0 THEN NULL ELSE timestamptz '2030-01-01 00:00:00+00' + g * interval '1 minute' END,
			       timestamptz '2030-01-01 00:00:00+00', timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second'
			FROM generate_series(1, 5000) g`, org); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(t.Context(), `
			INSERT INTO task_labels (organization_id, task_id, label)
			SELECT organization_id, id, 'l' || (id % 7) FROM tasks WHERE organization_id = $1`, org); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := owner.ExecContext(t.Context(), `VACUUM ANALYZE tasks, task_labels`); err != nil {
		t.Fatal(err)
	}
	const limit, offset = 10, 4000
	created := domain.StatusCreated
	for _, sort := range ports.TaskSorts {
		for _, f := range []ports.TaskFilter{{}, {Status: &created}} {
			f.Limit, f.Offset, f.Sort = limit, offset, sort
			if f.Status != nil {
				f.Offset = 3000 // of the 3,334 CREATED
			}
			plan := analyzeList(t, app, org, f)
			name := fmt.Sprintf("sort=%s status=%v", sort, f.Status != nil)
			if testing.Verbose() {
				t.Logf("%s:\n%s", name, plan)
			}
			// Both scans are in every plan: a plan read wrong fails here
			// rather than passing with nothing checked.
			var labelScans, taskFetches int
			for line := range strings.Lines(plan) {
				m := actualRE.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				rows, _ := strconv.Atoi(m[1])
				loops, _ := strconv.Atoi(m[2])
				switch {
				case strings.Contains(line, " on task_labels"):
					labelScans++
					if loops > limit+1 {
						t.Errorf("%s: the labels subquery ran %d times, want at most %d; plan:\n%s", name, loops, limit+1, plan)
					}
				case strings.Contains(line, "Index Scan using tasks_pkey on tasks "):
					taskFetches++
					if rows*loops > limit+1 {
						t.Errorf("%s: %d tasks fetched by id, want at most %d; plan:\n%s", name, rows*loops, limit+1, plan)
					}
				}
			}
			if labelScans == 0 || taskFetches == 0 {
				t.Errorf("%s: found %d scans of task_labels and %d fetches of tasks by id in the plan, want both:\n%s",
					name, labelScans, taskFetches, plan)
			}
		}
	}
}

// appOrganization migrates a database of the test's own and creates an
// organization in it: the schema owner's pool, the application role's
// (bound by row-level security, as the service is) and the organization.
func appOrganization(t *testing.T, name string) (owner, app *sqlx.DB, org int64) {
	t.Helper()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner = open(t, ownerURL)
	migrate(t, owner.DB, "up")
	app = open(t, appURL)
	if err := app.GetContext(t.Context(), &org, `SELECT taskflow_create_organization($1, now())`, name); err != nil {
		t.Fatal(err)
	}
	return owner, app, org
}

// analyzeList runs EXPLAIN (ANALYZE, BUFFERS) of the statement List runs
// for f, as app confined to org, and returns the plan.
func analyzeList(t *testing.T, app *sqlx.DB, org int64, f ports.TaskFilter) string {
	t.Helper()
	query, args, err := sqlstore.ListQuery(postgres.Dialect{}, domain.OrgID(org), f)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	ownerTx(t, app, org, func(tx *sqlx.Tx) {
		if err := tx.SelectContext(t.Context(), &lines, "EXPLAIN (ANALYZE, BUFFERS) "+sqlx.Rebind(sqlx.DOLLAR, query), args...); err != nil {
			t.Fatal(err)
		}
	})
	return strings.Join(lines, "\n")
}

var sortKey = map[ports.TaskSort]string{
	ports.SortCreatedDesc: "id", ports.SortCreated: "id", ports.SortUpdatedDesc: "updated_at",
	ports.SortUpdated: "updated_at", ports.SortPriorityDesc: "priority", ports.SortDue: "CASE WHEN (due_at IS NULL)",
}

// indexCondHas tells whether an Index Cond of plan bounds col (a column,
// or the start of an expression) and, unless and is "", the column and
// too.
func indexCondHas(plan, col, and string) bool {
	if !strings.Contains(col, " ") {
		col += " "
	}
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Index Cond:") && strings.Contains(line, "("+col) &&
			(and == "" || strings.Contains(line, "("+and+" ")) {
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

// scansIndex tells whether plan reads index.
func scansIndex(plan, index string) bool {
	return regexp.MustCompile(`Index (Only )?Scan (Backward )?using ` + index + ` `).MatchString(plan)
}

// sortedBelowALimit tells whether a Limit of plan other than the
// outermost is fed by a Sort (through Result nodes): whether a range is
// read whole and sorted rather than read in index order and stopped.
func sortedBelowALimit(plan string) bool {
	inLimit := false
	for i, line := range slices.Collect(strings.Lines(plan)) {
		node := strings.TrimLeft(line, " ->")
		if !strings.Contains(line, "(cost=") {
			continue
		}
		switch {
		case strings.HasPrefix(node, "Limit ") && i > 0:
			inLimit = true
		case strings.HasPrefix(node, "Result "):
		case strings.HasPrefix(node, "Sort ") || strings.HasPrefix(node, "Incremental Sort "):
			if inLimit {
				return true
			}
		default:
			inLimit = false
		}
	}
	return false
}

var (
	removedRE = regexp.MustCompile(`Rows Removed by (?:Filter|Index Recheck): (\d+)`)
	actualRE  = regexp.MustCompile(`actual time=\S+ rows=(\d+) loops=(\d+)`)
)

// rowsRemoved is the number of rows the nodes of an analyzed plan read
// and dropped.
func rowsRemoved(plan string) int {
	n := 0
	for _, m := range removedRE.FindAllStringSubmatch(plan, -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// tasksRowsRead is the most rows a scan of tasks returned in an
// analyzed plan, over all its loops.
func tasksRowsRead(plan string) int {
	most := 0
	for line := range strings.Lines(plan) {
		if !strings.Contains(line, "Scan") || !strings.Contains(line, " on tasks") {
			continue
		}
		if m := actualRE.FindStringSubmatch(line); m != nil {
			rows, _ := strconv.Atoi(m[1])
			loops, _ := strconv.Atoi(m[2])
			most = max(most, rows*loops)
		}
	}
	return most
}
