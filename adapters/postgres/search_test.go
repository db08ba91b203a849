package postgres_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/adapters/sqlstore"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// ownerTx runs fn in a transaction of db scoped to org, as the store
// scopes its own (row-level security binds the owner too).
func ownerTx(t *testing.T, db *sqlx.DB, org int64, fn func(tx *sqlx.Tx)) {
	t.Helper()
	tx, err := db.BeginTxx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(t.Context(), postgres.Dialect{}.ScopeSQL(org)); err != nil {
		t.Fatal(err)
	}
	fn(tx)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestListSearch_IsServedByTheWordIndex: a q search, run as the service
// runs it (the application role, bound by row-level security), on an
// organization of a few thousand tasks beside another tenant's, analyzed,
// reads the organization's entries of task_words through its primary key
// (organization_id, word, task_id), with nothing disabled: for a rare
// word, a range of that word's entries; for a word that most tasks hold,
// a probe per task of the sort's own index, read in order and stopped
// after one page. Either way no other tenant's entry is read, and the
// tasks table is never read whole.
func TestListSearch_IsServedByTheWordIndex(t *testing.T) {
	t.Parallel()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner := open(t, ownerURL)
	if err := postgres.Migrate(t.Context(), owner.DB, "up", &bytes.Buffer{}); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	app := open(t, appURL)
	var orgs [2]int64
	for i := range orgs {
		if err := app.GetContext(t.Context(), &orgs[i], `SELECT taskflow_create_organization('search', now())`); err != nil {
			t.Fatal(err)
		}
		ownerTx(t, app, orgs[i], func(tx *sqlx.Tx) {
			// Every task holds "common"; one in 1,000 holds "rare".
			if _, err := tx.ExecContext(t.Context(), `
				INSERT INTO tasks (organization_id, title, status, created_by, search_words)
				SELECT $1, 'task ' || g, 'CREATED', 1,
				       'task common w' || (g % 50) || CASE WHEN g % 1000 = 0 THEN ' rare' ELSE '' END
				FROM generate_series(1, 5000) g`, orgs[i]); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := owner.ExecContext(t.Context(), `VACUUM ANALYZE tasks, task_words`); err != nil {
		t.Fatal(err)
	}
	// plan is the plan of the statement List runs; with after > 0, after
	// a cursor at that id (the creation sorts only).
	plan := func(sort ports.TaskSort, q string, after int64) string {
		words, err := domain.ParseSearch("q", q)
		if err != nil {
			t.Fatal(err)
		}
		var cursor *ports.TaskCursor
		if after > 0 {
			cursor = &ports.TaskCursor{ID: domain.TaskID(after)}
		}
		query, args, err := sqlstore.ListQuery(postgres.Dialect{}, domain.OrgID(orgs[0]),
			ports.TaskFilter{Limit: 10, Sort: sort, Search: words, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		ownerTx(t, app, orgs[0], func(tx *sqlx.Tx) {
			if err := tx.SelectContext(t.Context(), &lines, "EXPLAIN "+sqlx.Rebind(sqlx.DOLLAR, query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		})
		return strings.Join(lines, "\n")
	}
	for _, sort := range ports.TaskSorts {
		for _, q := range []string{"rare", "rare common", "Rare W0", "common", "common task"} {
			p := plan(sort, q, 0)
			if !strings.Contains(p, "task_words_pkey") || strings.Contains(p, "Seq Scan") {
				t.Errorf("sort=%s q=%s: want task_words_pkey read and no sequential scan; plan:\n%s", sort, q, p)
			}
			if testing.Verbose() {
				t.Logf("sort=%s q=%s:\n%s", sort, q, p)
			}
		}
	}
	// After a cursor in id order, each word's entries are read from the
	// cursor on: the bound is part of task_words' index condition, not a
	// filter over the entries before it.
	for _, sort := range []ports.TaskSort{ports.SortCreatedDesc, ports.SortCreated} {
		for _, q := range []string{"common task", "common w7"} {
			p := plan(sort, q, 2500)
			bounded := false
			for line := range strings.Lines(p) {
				if strings.Contains(line, "Index Cond:") && strings.Contains(line, "word =") &&
					(strings.Contains(line, "(task_id < ") || strings.Contains(line, "(task_id > ")) {
					bounded = true
				}
			}
			if !bounded {
				t.Errorf("sort=%s q=%s after a cursor: task_words' index condition does not bound task_id; plan:\n%s", sort, q, p)
			}
		}
	}
}

// TestMigrate_TaskSearchBackfill: tasks written before 00013_task_search
// are searchable after it, each within its own organization, although
// the migrating owner is bound by row-level security (FORCE): the
// backfill must see every tenant's rows.
func TestMigrate_TaskSearchBackfill(t *testing.T) {
	t.Parallel()
	appURL, ownerURL := pgtest.NewAppDatabase(t)
	owner := open(t, ownerURL)
	migrate(t, owner.DB, "up")
	for strings.Contains(statusLine(t, owner.DB, "_task_search.sql"), "applied") {
		migrate(t, owner.DB, "down")
	}
	var orgs [2]int64
	var tasks [2]int64
	for i := range orgs {
		if err := owner.GetContext(t.Context(), &orgs[i], `SELECT taskflow_create_organization('before', now())`); err != nil {
			t.Fatal(err)
		}
		ownerTx(t, owner, orgs[i], func(tx *sqlx.Tx) {
			if err := tx.GetContext(t.Context(), &tasks[i], `INSERT INTO tasks (organization_id, title, description, status, created_by)
				VALUES ($1, 'Quarterly REPORT', 'figures: e-mail bob@example.com', 'CREATED', 1) RETURNING id`, orgs[i]); err != nil {
				t.Fatal(err)
			}
		})
	}
	migrate(t, owner.DB, "up")

	stores := newStore(open(t, appURL)).Stores()
	for i, org := range orgs {
		for _, q := range []string{"quarterly report", "mail", "bob example com", "figures"} {
			words, err := domain.ParseSearch("q", q)
			if err != nil {
				t.Fatal(err)
			}
			page, err := stores.Tasks.List(t.Context(), domain.OrgID(org), ports.TaskFilter{Limit: 10, Search: words})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Tasks) != 1 || int64(page.Tasks[0].ID) != tasks[i] {
				t.Errorf("organization %d, q=%s: %+v, want its task %d alone", org, q, page.Tasks, tasks[i])
			}
		}
	}
}
