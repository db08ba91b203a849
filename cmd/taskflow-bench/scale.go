package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/taskflow/taskflow/adapters/auth"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The scale scenario asks two questions of many tenants (issue 14):
//
//   - SCALE_LIST_P50_RATIO: does a big organization make its own lists
//     slower? Page 1 through the uncached path in the 1,000,000-task
//     organization (list_top_uncached) against the same request in the
//     1,000-task ones (list_top_small), p50 over p50.
//   - SCALE_RSS_MB: does the server's memory grow with the number of
//     organizations? Its peak RSS in a mixed load spread over 10,000 small
//     organizations (scale_mixed), on a freshly started server.
//
// The 10,000 organizations are seeded through SQL (scaleSeed), since
// 10,000 sign-ups and logins would cost an hour of bcrypt; their tokens
// are minted with the service's own JWT code, its SECRET_KEY and its
// installation id, for sessions seeded in the sessions table: to the
// service they are members who logged in.
const scScale = "scale"

// Row names of the scale scenario.
const (
	scTopSmall    = "list_top_small"
	scScaleMixed  = "scale_mixed"
	scTopUncached = "list_top_uncached" // measured by depth (or search); scale measures it when neither ran
)

// scaleTasksPerOrg is how many tasks each of the many organizations gets:
// enough for two pages and a working set of hotTasksPerOrg.
const scaleTasksPerOrg = 20

// scaleOrgs is how many small organizations the scale scenario seeds:
// 10,000, or 1,000 in a -quick run (which says so in its notes).
func (o *options) scaleOrgs() int {
	if o.quick {
		return 1_000
	}
	return 10_000
}

// scaleExtraRuns is what the scale scenario adds to the time budget's
// count of runs (plannedRuns), beyond the one run per backend counted for
// every scenario: list_top_small, list_top_uncached when neither depth
// nor search measures it, and the seeding of the many organizations and
// their first requests (each about a run's time at full size), which
// scaleRun counts as done when it has done them.
func scaleExtraRuns(o *options) int {
	if !o.scenarios[scScale] {
		return 0
	}
	n := 1 + scaleSeedRuns + len(o.backends)
	if !o.scenarios[scDepth] && !o.scenarios[scSearch] {
		n++
	}
	return n
}

// scaleSeedRuns is about how many runs' time the seeding takes (25 s at
// full size on a busy machine).
const scaleSeedRuns = 2

// scaleSet is the scale scenario's seeded organizations.
type scaleSet struct {
	orgs    []org // id, adminID, lo, hi; token as minted by mint
	session []int64
	install string // the installation id: the tokens' audience
}

// scaleListTops measures page 1 of the uncached list in the 1,000-task
// organizations (list_top_small), right after its reference in the deep
// organization (list_top_uncached), which it measures first unless an
// earlier step of this backend did. The depth step calls it right after
// its own list_top_uncached, so that the two runs are next to each other.
func (b *bench) scaleListTops(ctx context.Context) error {
	measured := func(name string) bool {
		for _, r := range b.rows {
			if r.scenario == name && r.backend == b.backend {
				return true
			}
		}
		return false
	}
	base, ds, o := b.srv.base, b.ds, b.o
	fixed := func(g httpGen) func() (httpGen, error) { return func() (httpGen, error) { return g, nil } }
	if !measured(scTopUncached) {
		if _, err := b.measure(ctx, scTopUncached, "", o.conc, o.duration, fixed(genCursorAt(base, ds, ds.topBefore))); err != nil {
			return err
		}
	}
	if measured(scTopSmall) {
		return nil
	}
	if _, err := b.measure(ctx, scTopSmall, "", o.conc, o.duration, fixed(genTopSmall(base, ds))); err != nil {
		return err
	}
	b.note("list_top_small is list_top_uncached's request (limit 10, a cursor near the top, another on each request) over the %d "+
		"organizations of %d tasks in turn; SCALE_LIST_P50_RATIO = p50(list_top_uncached) / p50(list_top_small).", len(ds.read), o.size.tasksPerOrg)
	return nil
}

// genTopSmall is list_top_uncached's request (genCursorAt at the top)
// over the 1,000-task organizations, in turn: GET /tasks?limit=10 with a
// cursor just above a task near the top, each request another cursor, so
// another cache key. Every organization starts at its newest task and
// walks down by one per turn, as genCursorAt does in the deep one; 100
// organizations give 98,000 keys before one repeats, more than a run asks.
// A key may coincide with one uncached_list asked (limit 10, no status
// filter, a cursor among the newest 900), but not with one still cached:
// the depth runs come a minute or more after it (CACHE_TTL is 60 s) and
// evict at random from a cache bounded to 10,000 lists.
func genTopSmall(base string, ds *dataset) httpGen {
	n := uint64(len(ds.read))
	return func(_ int, seq uint64) (request, bool) {
		o := ds.read[seq%n]
		span := uint64(max(o.hi-o.lo-20, 1))
		id := o.hi + 1 - int64((seq/n)%span)
		return request{method: "GET", url: base + "/tasks?limit=10&cursor=" + encodeCursor("", id), token: o.token,
			expect: http.StatusOK}, true
	}
}

// scaleRun is the scale step on one backend: the list pair on the first
// backend, then (seeding the many organizations the first time) the mixed
// load over them on a fresh server.
func (b *bench) scaleRun(ctx context.Context) error {
	if b.backend == b.o.backends[0] {
		if err := b.scaleListTops(ctx); err != nil {
			return err
		}
	}
	if b.scale == nil {
		t0 := time.Now()
		s, err := scaleSeed(ctx, b.db, b.ds, b.o.scaleOrgs(), b.runID)
		if err != nil {
			return fmt.Errorf("scale seed: %w", err)
		}
		b.scale = s
		b.done += scaleSeedRuns
		took := time.Since(t0).Seconds()
		b.logf("scale: %d organizations, ADMINs, sessions and %d tasks each seeded by SQL (with vacuum analyze) in %.1fs",
			len(s.orgs), scaleTasksPerOrg, took)
		b.note("scale_mixed: %d organizations of %d tasks each, seeded by SQL in %.1fs (organization, ADMIN with the seeded bcrypt hash, "+
			"email lookup row, a session; tokens minted with the service's JWT code); on a freshly started server, page 1 of each asked "+
			"once, then of every 10 requests 1 POST /tasks, 4 GET /tasks?limit=10, 1 with a new cursor, 4 GET /tasks/{id}, the "+
			"organizations in turn; SCALE_RSS_MB is the run's peak RSS (worse backend)%s", len(s.orgs), scaleTasksPerOrg, took, quickScaleNote(b.o))
	}
	// Fresh tokens on each backend: a run must not outlive them.
	if err := b.scale.mint(b.secret); err != nil {
		return err
	}
	// Each attempt on a fresh server (a retry too: the peak RSS is that
	// attempt's load, not what an earlier one left), whose every
	// organization is asked once first, so that the run is over all of
	// them whatever its rate (at a few hundred requests a second on a busy
	// machine, a 10 s run would reach only part of 10,000).
	_, err := b.measure(ctx, scScaleMixed, "", b.o.conc, b.o.duration, func() (httpGen, error) {
		b.srv.stop()
		b.srv = nil
		if err := b.startBackend(ctx, b.backend); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := primeOrgs(ctx, b.o.conc, b.srv.base, b.scale.orgs); err != nil {
			return nil, fmt.Errorf("scale: first request of each organization: %w", err)
		}
		b.logf("  page 1 of each of the %d organizations asked once in %.1fs", len(b.scale.orgs), time.Since(t0).Seconds())
		return genScaleMixed(b.srv.base, b.scale.orgs), nil
	})
	b.done++ // the first requests
	return err
}

// primeOrgs asks page 1 of each organization's list once, conc at a time,
// and stops at the first failure: each one's session check and first
// list in the server's caches, as after its first visit.
func primeOrgs(ctx context.Context, conc int, base string, orgs []org) error {
	client := newClient(conc)
	defer client.CloseIdleConnections()
	do := httpOp(client, func(_ int, seq uint64) (request, bool) {
		if seq >= uint64(len(orgs)) {
			return request{}, false
		}
		return request{method: "GET", url: base + "/tasks?limit=10", token: orgs[seq].token, expect: http.StatusOK}, true
	})
	var (
		next atomic.Uint64
		wg   sync.WaitGroup
		errc = make(chan error, conc)
	)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				done, err := do(ctx, w, next.Add(1)-1)
				if err != nil {
					errc <- err
					return
				}
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

func quickScaleNote(o *options) string {
	if !o.quick {
		return ""
	}
	return "; -quick: 1,000 organizations, not 10,000, so SCALE_RSS_MB is over 1,000"
}

// scaleSeed inserts n organizations, each with an ADMIN (the bcrypt hash of
// the first seeded ADMIN, so seedPassword logs in as any of them), that
// ADMIN's email lookup row (migration 00019: login finds users through
// it), one live session and scaleTasksPerOrg tasks. The rows are what the
// service's stores write, minus the events of the sign-up, which nothing
// here reads. A few statements over generate_series; tasks as seed's.
func scaleSeed(ctx context.Context, db *sql.DB, ds *dataset, n int, runID string) (*scaleSet, error) {
	s := &scaleSet{}
	var hash string
	if err := db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE organization_id = $1 AND id = $2`,
		ds.read[0].id, ds.read[0].adminID).Scan(&hash); err != nil {
		return nil, fmt.Errorf("seeded password hash: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM installation`).Scan(&s.install); err != nil {
		return nil, fmt.Errorf("installation id: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	if err := insertScaleAccounts(ctx, tx, s, n, runID, hash); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	ids, admins := make([]int64, n), make([]int64, n)
	for i, o := range s.orgs {
		ids[i], admins[i] = o.id, o.adminID
	}
	if err := insertTasks(ctx, db, ids, admins, scaleTasksPerOrg); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx,
		`VACUUM (ANALYZE) organizations, users, user_email_lookup, sessions, tasks, task_words`); err != nil {
		return nil, fmt.Errorf("vacuum analyze: %w", err)
	}
	r, err := db.QueryContext(ctx, `SELECT organization_id, min(id), max(id) FROM tasks
		WHERE organization_id = ANY($1) GROUP BY organization_id ORDER BY organization_id`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("task ranges: %w", err)
	}
	defer r.Close()
	i := 0
	for r.Next() {
		var id, lo, hi int64
		if err := r.Scan(&id, &lo, &hi); err != nil {
			return nil, err
		}
		if i >= n || s.orgs[i].id != id {
			return nil, fmt.Errorf("task ranges: organization %d out of order", id)
		}
		s.orgs[i].lo, s.orgs[i].hi = lo, hi
		i++
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("task ranges: %w", err)
	}
	if i != n {
		return nil, fmt.Errorf("task ranges: %d of %d organizations have tasks", i, n)
	}
	return s, nil
}

// insertScaleAccounts inserts, in tx, n organizations with their ADMIN,
// its email lookup row and a session, into s.orgs (id, adminID) and
// s.session.
func insertScaleAccounts(ctx context.Context, tx *sql.Tx, s *scaleSet, n int, runID, hash string) error {
	// One statement: the foreign keys (users -> organizations, sessions ->
	// users) are checked at its end, when every row is there.
	rows, err := tx.QueryContext(ctx, `
		WITH o AS (
			INSERT INTO organizations (name) SELECT 'bench scale org ' || g FROM generate_series(1, $1::int) AS g
			RETURNING id
		), u AS (
			INSERT INTO users (organization_id, email, password_hash, role)
			SELECT id, 'scale-admin-' || id || '@' || $2 || '.bench.example', $3, 'ADMIN' FROM o
			RETURNING organization_id, id, email
		), l AS (
			INSERT INTO user_email_lookup (email, organization_id, user_id)
			SELECT lower(email), organization_id, id FROM u
		), s AS (
			INSERT INTO sessions (organization_id, user_id, expires_at)
			SELECT organization_id, id, now() + interval '30 days' FROM u
			RETURNING organization_id, user_id, id
		)
		SELECT organization_id, user_id, id FROM s ORDER BY organization_id`, n, runID, hash)
	if err != nil {
		return fmt.Errorf("insert %d organizations, ADMINs and sessions: %w", n, err)
	}
	defer rows.Close()
	s.orgs = make([]org, 0, n)
	for rows.Next() {
		var o org
		var sid int64
		if err := rows.Scan(&o.id, &o.adminID, &sid); err != nil {
			return err
		}
		s.orgs = append(s.orgs, o)
		s.session = append(s.session, sid)
	}
	return rows.Err()
}

// mint signs an access token for each organization's ADMIN in its seeded
// session, as the service's login does (adapters/auth.JWT, the service's
// SECRET_KEY, its installation id as audience, 30 minutes as its JWT_TTL
// default).
func (s *scaleSet) mint(secret string) error {
	j := auth.NewJWT([]byte(secret), s.install, 30*time.Minute, auth.SystemClock{})
	for i := range s.orgs {
		o := &s.orgs[i]
		tok, err := j.Issue(ports.TokenClaims{UserID: domain.UserID(o.adminID), OrgID: domain.OrgID(o.id), Role: domain.RoleAdmin,
			SessionID: domain.SessionID(s.session[i])})
		if err != nil {
			return fmt.Errorf("mint token: %w", err)
		}
		o.token = tok
	}
	return nil
}

// genScaleMixed spreads a mixed load over orgs: request seq goes to
// organization seq mod len(orgs), so that every one of them is asked
// within the first len(orgs) requests (the warm-up and the first seconds)
// and again on each turn. An organization's turns cycle through ten
// kinds, started at a different place in each organization, so that the
// whole is, of every ten requests, one POST /tasks, four GET
// /tasks?limit=10 (cached since primeOrgs, until a POST), one GET
// /tasks with a cursor that changes on each of the organization's turns
// (uncached) and four GET /tasks/{id} over its ten hot tasks.
func genScaleMixed(base string, orgs []org) httpGen {
	n := uint64(len(orgs))
	return func(_ int, seq uint64) (request, bool) {
		i, turn := seq%n, seq/n
		o := orgs[i]
		switch k := (i + turn) % 10; {
		case k == 0:
			return request{method: "POST", url: base + "/tasks", token: o.token, body: createBody, expect: http.StatusCreated}, true
		case k <= 4:
			return request{method: "GET", url: base + "/tasks?limit=10", token: o.token, expect: http.StatusOK}, true
		case k == 5:
			span := uint64(max(o.hi-o.lo-10, 1))
			before := o.hi + 1 - int64((turn/10)%span)
			return request{method: "GET", url: base + "/tasks?limit=10&cursor=" + encodeCursor("", before), token: o.token,
				expect: http.StatusOK}, true
		default:
			id := taskOf(o, turn%hotTasksPerOrg)
			return request{method: "GET", url: base + "/tasks/" + strconv.FormatInt(id, 10), token: o.token, expect: http.StatusOK}, true
		}
	}
}

// scaleFigures are SCALE_LIST_P50_RATIO and SCALE_RSS_MB from a run's
// rows (NaN where their runs are missing): the first backend's list pair,
// the worse backend's peak RSS.
func scaleFigures(rows []*row) (listRatio, rssMB float64) {
	listRatio, rssMB = math.NaN(), math.NaN()
	var deep, small *row
	for _, r := range rows {
		switch r.scenario {
		case scTopUncached:
			if deep == nil {
				deep = r
			}
		case scTopSmall:
			if small == nil {
				small = r
			}
		case scScaleMixed:
			if math.IsNaN(rssMB) || r.res.usage.rssPeakMB > rssMB {
				rssMB = r.res.usage.rssPeakMB
			}
		}
	}
	if deep != nil && small != nil && small.res.hist.quantile(0.5) > 0 {
		listRatio = float64(deep.res.hist.quantile(0.5)) / float64(small.res.hist.quantile(0.5))
	}
	return listRatio, rssMB
}
