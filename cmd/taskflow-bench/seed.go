package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Seeding: organizations and their first ADMINs go through the API (so
// they are exactly what the service makes, bcrypt hashes included); the
// tasks are bulk-inserted with SQL, which takes seconds where a million
// POSTs would take minutes. The seeding SQL is the benchmark's own, not a
// mirror of the service's.

// org is one seeded organization, its ADMIN and the id range of its
// seeded tasks.
type org struct {
	id, adminID     int64
	email, password string
	token           string
	lo, hi          int64
}

type dataset struct {
	read   []org // orgs of tasksPerOrg tasks: the read scenarios and mixed
	deep   org   // the deep organization
	writes org   // POST /tasks and transitions land here
	// depth is the offset of the deep pages; depthBefore is the id whose
	// cursor starts the list exactly there (the first row is depthBefore-1).
	depth       int
	depthBefore int64
	topBefore   int64 // cursor id of the deep org's first page (max id + 1)
	// dueAtDepth is the task at offset depth of the deep organization in
	// sort=due order (in its dated part), dueTail one halfway into its
	// tasks without a due date: where the due_cursor scenarios start.
	dueAtDepth, dueTail dueRow
	dated               int // the deep organization's tasks with a due date
}

// dueRow is a task's place in sort=due: its due date (nil: none) and id.
type dueRow struct {
	due *time.Time
	id  int64
}

type seedSize struct {
	orgs, tasksPerOrg, deepTasks, depth int
}

const seedPassword = "bench-password-1"

// seed creates the organizations through the API at base and their tasks
// through db.
func seed(ctx context.Context, base string, db *sql.DB, size seedSize, runID string, logf func(string, ...any)) (*dataset, error) {
	t0 := time.Now()
	all := make([]org, size.orgs+2)
	client := &http.Client{Timeout: 30 * time.Second}
	// Four at a time: sign-up and login are bcrypt-bound, and the machine
	// has two cores.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o, err := createOrg(ctx, client, base, i, runID)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				all[i] = o
			}
		}()
	}
	for i := range all {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	ds := &dataset{read: all[:size.orgs], deep: all[size.orgs], writes: all[size.orgs+1], depth: size.depth}
	logf("seed: %d organizations, ADMINs and tokens through the API in %.1fs", len(all), time.Since(t0).Seconds())

	t1 := time.Now()
	orgIDs := make([]int64, size.orgs)
	admins := make([]int64, size.orgs)
	for i, o := range ds.read {
		orgIDs[i], admins[i] = o.id, o.adminID
	}
	if err := insertTasks(ctx, db, orgIDs, admins, size.tasksPerOrg); err != nil {
		return nil, err
	}
	if err := insertTasks(ctx, db, []int64{ds.deep.id}, []int64{ds.deep.adminID}, size.deepTasks); err != nil {
		return nil, err
	}
	// Vacuum sets hint bits and the visibility map now, so the first
	// scenario does not pay for it; analyze gives the planner real counts.
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) tasks, task_words`); err != nil {
		return nil, fmt.Errorf("vacuum analyze: %w", err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	ranges := map[int64][2]int64{}
	rows, err := db.QueryContext(ctx, `SELECT organization_id, min(id), max(id) FROM tasks GROUP BY organization_id`)
	if err != nil {
		return nil, fmt.Errorf("task ranges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o, lo, hi int64
		if err := rows.Scan(&o, &lo, &hi); err != nil {
			return nil, err
		}
		ranges[o] = [2]int64{lo, hi}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("task ranges: %w", err)
	}
	for i := range ds.read {
		r := ranges[ds.read[i].id]
		ds.read[i].lo, ds.read[i].hi = r[0], r[1]
	}
	r := ranges[ds.deep.id]
	ds.deep.lo, ds.deep.hi = r[0], r[1]
	ds.topBefore = ds.deep.hi + 1
	// The row at offset depth, newest first; a cursor naming the id just
	// above it starts the page there, as page=depth/10+1 does.
	var atDepth int64
	if err := db.QueryRowContext(ctx,
		`SELECT id FROM tasks WHERE organization_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1`,
		ds.deep.id, size.depth).Scan(&atDepth); err != nil {
		return nil, fmt.Errorf("id at depth %d: %w", size.depth, err)
	}
	ds.depthBefore = atDepth + 1
	if err := ds.findDueRows(ctx, db); err != nil {
		return nil, err
	}
	logf("seed: %d x %d tasks + %d in the deep organization by SQL, vacuum analyze, in %.1fs",
		size.orgs, size.tasksPerOrg, size.deepTasks, time.Since(t1).Seconds())
	return ds, nil
}

// findDueRows finds the deep organization's tasks where the due_cursor
// scenarios start, in the service's sort=due order (due date, none last,
// then id descending): once, through the index that serves that order.
func (ds *dataset) findDueRows(ctx context.Context, db *sql.DB) error {
	const order = `ORDER BY CASE WHEN due_at IS NULL THEN 'infinity' ELSE due_at END, id DESC`
	at := func(offset int) (dueRow, error) {
		var r dueRow
		var due sql.NullTime
		err := db.QueryRowContext(ctx, `SELECT due_at, id FROM tasks WHERE organization_id = $1 `+order+` OFFSET $2 LIMIT 1`,
			ds.deep.id, offset).Scan(&due, &r.id)
		if due.Valid {
			r.due = &due.Time
		}
		return r, err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(due_at) FROM tasks WHERE organization_id = $1`, ds.deep.id).Scan(&ds.dated); err != nil {
		return fmt.Errorf("dated tasks: %w", err)
	}
	var err error
	if ds.dueAtDepth, err = at(ds.depth); err != nil {
		return fmt.Errorf("sort=due row at depth %d: %w", ds.depth, err)
	}
	if ds.dueAtDepth.due == nil {
		return fmt.Errorf("sort=due row at depth %d has no due date: only %d of the tasks have one", ds.depth, ds.dated)
	}
	if ds.dueTail, err = at(ds.dated + (ds.deep.n()-ds.dated)/2); err != nil {
		return fmt.Errorf("sort=due row in the undated tail: %w", err)
	}
	return nil
}

// n is how many tasks were seeded in o.
func (o org) n() int { return int(o.hi - o.lo + 1) }

// searchVerbs and searchAreas make the seeded descriptions, "Fix the
// billing flow": task g gets verb (g/10)%8 and area g%10, so each pair of
// one verb and one area is held by one task in 80, evenly spread over
// the ids, and searchQuery (two words) matches 1.25% of an organization.
var (
	searchVerbs = []string{"Fix", "Review", "Update", "Refactor", "Test", "Deploy", "Design", "Document"}
	searchAreas = []string{"backend", "frontend", "billing", "search", "mobile", "infra", "docs", "security", "reports", "onboarding"}
)

// searchQuery is the search scenario's q: one verb and one area.
const searchQuery = "billing fix"

// insertTasks gives each organization n tasks, created by its ADMIN, with
// the three statuses in turn. Rows are inserted organization by
// organization, so each one's ids are contiguous. Seven in ten have a due
// date, spread over the year from 90 days ago at the day (17:00 UTC), one
// in four at an hour of its own: many tasks share a due date, as in a real
// list, and due order is not id order. The other three have none.
// search_words is what
// the service writes for the title and description
// (domain.SearchDocument); the database indexes it by its triggers.
func insertTasks(ctx context.Context, db *sql.DB, orgIDs, admins []int64, n int) error {
	// A superuser seeds in replica mode, which skips triggers and foreign
	// key checks, and writes task_words itself in the same statement:
	// the words are what the statement-level trigger would write, at a
	// fraction of the cost of a million rows' foreign key checks.
	// Another role goes through the trigger.
	var super bool
	if err := db.QueryRowContext(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		return fmt.Errorf("role: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	insert := `
		INSERT INTO tasks (organization_id, title, description, status, due_at, completed_at, created_by, created_at,
		                   updated_at, search_words)
		SELECT o.org, 'bench task ' || g, d.verb || ' the ' || d.area || ' flow',
		       (ARRAY['CREATED', 'IN_PROGRESS', 'COMPLETED'])[1 + g % 3],
		       CASE WHEN g % 10 < 7 THEN date_trunc('day', now()) + ((g::bigint * 7919) % 365 - 90) * interval '1 day'
		            + CASE WHEN g % 4 = 0 THEN ((g::bigint * 31) % 24) * interval '1 hour' ELSE interval '17 hours' END END,
		       CASE WHEN g % 3 = 2 THEN now() END, o.admin, now(), now(),
		       'bench task ' || g || ' ' || lower(d.verb) || ' the ' || d.area || ' flow'
		FROM unnest($1::bigint[], $2::bigint[]) AS o(org, admin)
		CROSS JOIN generate_series(1, $3::int) AS g
		CROSS JOIN LATERAL (SELECT ($4::text[])[1 + (g / 10) % 8] AS verb, ($5::text[])[1 + g % 10] AS area) AS d
		ORDER BY o.org, g`
	if super {
		if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return fmt.Errorf("replica mode: %w", err)
		}
		insert = `WITH t AS (` + insert + ` RETURNING organization_id, id, search_words)
		INSERT INTO task_words (organization_id, word, task_id)
		SELECT t.organization_id, w, t.id FROM t, unnest(string_to_array(t.search_words, ' ')) AS w`
	}
	if _, err := tx.ExecContext(ctx, insert, pq.Array(orgIDs), pq.Array(admins), n, pq.Array(searchVerbs), pq.Array(searchAreas)); err != nil {
		return fmt.Errorf("insert %d tasks into %d organizations: %w", n, len(orgIDs), err)
	}
	return tx.Commit()
}

// createdTasks adds n CREATED tasks to o and returns their ids, each to be
// moved to IN_PROGRESS exactly once by a transition run.
func createdTasks(ctx context.Context, db *sql.DB, o org, n int) ([]int64, error) {
	rows, err := db.QueryContext(ctx, `
		INSERT INTO tasks (organization_id, title, description, status, created_by)
		SELECT $1, 'transition task ' || g, '', 'CREATED', $2 FROM generate_series(1, $3::int) AS g
		RETURNING id`, o.id, o.adminID, n)
	if err != nil {
		return nil, fmt.Errorf("insert %d CREATED tasks: %w", n, err)
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// createOrg makes organization i with its first ADMIN and logs in.
func createOrg(ctx context.Context, client *http.Client, base string, i int, runID string) (org, error) {
	var created struct {
		ID   int64  `json:"id"`
		Code string `json:"admin_invite_code"`
	}
	if err := callJSON(ctx, client, "POST", base+"/organizations", "",
		map[string]any{"name": fmt.Sprintf("bench org %d", i)}, http.StatusCreated, &created); err != nil {
		return org{}, err
	}
	o := org{id: created.ID, email: fmt.Sprintf("admin%d@%s.bench.example", i, runID), password: seedPassword}
	var user struct {
		ID int64 `json:"id"`
	}
	if err := callJSON(ctx, client, "POST", base+"/signup", "",
		map[string]any{"email": o.email, "password": o.password, "invite_code": created.Code}, http.StatusCreated, &user); err != nil {
		return org{}, err
	}
	o.adminID = user.ID
	tok, err := login(ctx, client, base, o.email, o.password)
	if err != nil {
		return org{}, err
	}
	o.token = tok
	return o, nil
}

func login(ctx context.Context, client *http.Client, base, email, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := callJSON(ctx, client, "POST", base+"/login", "",
		map[string]any{"email": email, "password": password}, http.StatusOK, &tok); err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// callJSON makes one API call for seeding. A 429 (a rate limit on the
// public endpoints) is waited out as its Retry-After says.
func callJSON(ctx context.Context, client *http.Client, method, url, token string, in any, expect int, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, trimURL(url), err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, trimURL(url), err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 120 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if resp.StatusCode != expect {
			return fmt.Errorf("%s %s: status %d (want %d): %.300s", method, trimURL(url), resp.StatusCode, expect, raw)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("%s %s: decoding answer: %w", method, trimURL(url), err)
			}
		}
		return nil
	}
}

// captured is one response of the real service, replayed by the HTTP
// ceiling.
type captured struct {
	body    []byte
	headers [][2]string // everything but what the server sets itself
}

// capture fetches url as the service answers it.
func capture(ctx context.Context, url, token string) (captured, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return captured{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return captured{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return captured{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return captured{}, fmt.Errorf("GET %s: status %d: %.300s", trimURL(url), resp.StatusCode, body)
	}
	var c captured
	c.body = body
	for k, vs := range resp.Header {
		switch k {
		case "Date", "Content-Length", "Server", "Connection":
			continue
		}
		for _, v := range vs {
			c.headers = append(c.headers, [2]string{k, v})
		}
	}
	return c, nil
}
