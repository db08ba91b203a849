package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the report: a ceiling or a scenario on a backend.
type row struct {
	scenario    string
	backend     string // ceilings too: each is measured per backend
	conc        int
	res         *loadResult
	what        string // ceilings: what was measured
	ceiling     *row   // scenarios: the ceiling the ratio is taken against
	ceilingName string
	note        string
}

func (r *row) ratio() float64 {
	if r.ceiling == nil || r.ceiling.res.rate() == 0 {
		return math.NaN()
	}
	return r.res.rate() / r.ceiling.res.rate()
}

// ours is the CPU, in percent of one core, that the system under test
// (server, Postgres, Redis and this load generator) used during the run.
func (u usage) ours() float64 { return u.cpuServer + u.cpuPG + u.cpuRedis + u.cpuSelf }

// cpuRatio is the ratio of work done per CPU-second the system under test
// got: on a shared machine, a neighbour that takes CPU away lowers the
// rate but hardly the rate per CPU-second. It is a diagnostic for noisy
// runs of CPU-bound scenarios, not the ratio.
func (r *row) cpuRatio() float64 {
	if r.ceiling == nil {
		return math.NaN()
	}
	a, c := r.res.usage.ours(), r.ceiling.res.usage.ours()
	if a <= 0 || c <= 0 || r.ceiling.res.rate() == 0 {
		return math.NaN()
	}
	return (r.res.rate() / a) / (r.ceiling.res.rate() / c)
}

func (r *row) summary() string {
	s := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, %d errors", r.res.rate(), fmtDur(r.res.hist.quantile(0.5)),
		fmtDur(r.res.hist.quantile(0.99)), r.res.errors)
	if r.res.usage.rssPeakMB > 0 {
		s += fmt.Sprintf(", server RSS %.1f MB", r.res.usage.rssPeakMB)
	}
	if !math.IsNaN(r.ratio()) {
		s += fmt.Sprintf(", ratio %.3f of %s", r.ratio(), r.ceilingName)
	}
	if len(r.res.errSample) > 0 {
		s += "; first error: " + r.res.errSample[0]
	}
	return s
}

// label is a row's name, starred when other processes took more than
// maxOther of a core during it (even after retries).
func label(r *row, maxOther float64) string {
	if r.res.usage.cpuOther > maxOther {
		return r.scenario + "*"
	}
	return r.scenario
}

// pct formats a CPU share, never as "-0".
func pct(v float64) string { return fmt.Sprintf("%.0f", max(v, 0)) }

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// machine is the final, machine-readable block's content.
type machine struct {
	ratios    []namedValue // in the order; only scenarios that ran
	cursorP50 float64      // NaN when the depth scenarios did not run
	// dueCursorP50 and dueTailP50 are the same for sort=due, at depth in
	// its dated part and in its undated tail.
	dueCursorP50, dueTailP50 float64
	rssMB                    float64 // NaN when the mixed scenario did not run
	floodP99Ms               float64 // NaN when the flood did not run
	revokedFloodP99Ms        float64 // the same for revoked_token_flood, the worse backend
	// searchMs and topMs are the p50s of search_q and of page 1
	// (list_top_uncached), in ms; NaN when the search scenario did not run.
	searchMs, topMs float64
	// scaleListP50 and scaleRSSMB are SCALE_LIST_P50_RATIO and
	// SCALE_RSS_MB (scale.go); NaN when the scale scenario did not run.
	scaleListP50, scaleRSSMB float64
	errors                   float64 // over all scenarios
}

type namedValue struct {
	name  string
	value float64
}

var ratioScenarios = []string{scCachedList, scUncachedList, scGetTask, scCreateTask, scTransition, scLogin}

// summarize takes, for each ratio, the worst backend: every goal must
// hold on each backend the service offers.
func summarize(rows []*row) machine {
	m := machine{cursorP50: math.NaN(), dueCursorP50: math.NaN(), dueTailP50: math.NaN(), rssMB: math.NaN(), floodP99Ms: math.NaN(),
		searchMs: math.NaN(), topMs: math.NaN()}
	find := func(name string) []*row {
		var out []*row
		for _, r := range rows {
			if r.scenario == name {
				out = append(out, r)
			}
		}
		return out
	}
	for _, name := range ratioScenarios {
		v := math.NaN()
		for _, r := range find(name) {
			if x := r.ratio(); !math.IsNaN(x) && (math.IsNaN(v) || x < v) {
				v = x
			}
		}
		if !math.IsNaN(v) {
			m.ratios = append(m.ratios, namedValue{name, v})
		}
	}
	p50Ratio := func(deep, top string) float64 {
		d, t := find(deep), find(top)
		if len(d) == 0 || len(t) == 0 || t[0].res.hist.quantile(0.5) <= 0 {
			return math.NaN()
		}
		return float64(d[0].res.hist.quantile(0.5)) / float64(t[0].res.hist.quantile(0.5))
	}
	m.cursorP50 = p50Ratio("cursor_depth", "list_top_uncached")
	m.dueCursorP50 = p50Ratio("due_cursor_depth", "due_top")
	m.dueTailP50 = p50Ratio("due_cursor_tail", "due_top")
	if search, top := find("search_q"), find("list_top_uncached"); len(top) > 0 && len(search) > 0 {
		m.searchMs = float64(search[0].res.hist.quantile(0.5)) / 1e6
		m.topMs = float64(top[0].res.hist.quantile(0.5)) / 1e6
	}
	for _, r := range find(scMixed) {
		if math.IsNaN(m.rssMB) || r.res.usage.rssPeakMB > m.rssMB {
			m.rssMB = r.res.usage.rssPeakMB
		}
	}
	for _, r := range find("login_flood_cached_list_p99") {
		m.floodP99Ms = float64(r.res.hist.quantile(0.99)) / 1e6
	}
	m.revokedFloodP99Ms = revokedFloodP99Ms(rows)
	m.scaleListP50, m.scaleRSSMB = scaleFigures(rows)
	for _, r := range rows {
		m.errors += float64(r.res.errors)
	}
	return m
}

func report(w io.Writer, b *bench) {
	o := b.o
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("TaskFlow load benchmark, %s, %d CPUs (GOMAXPROCS %d), %s", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	p("seed: %d organizations x %d tasks, one of %d (depth %d); %s per scenario (login and bcrypt %s) after a %s warm-up; %d connections (login %d); DB pool %d; bcrypt cost %d; backends %s; total %.0fs",
		o.size.orgs, o.size.tasksPerOrg, o.size.deepTasks, o.size.depth, o.duration, o.loginDur, o.warmup, o.conc, o.loginConc,
		o.dbPool, o.bcryptCost, strings.Join(o.backends, ","), time.Since(b.started).Seconds())
	p("")
	p("CEILINGS (same run, same load generator, each measured on each backend just before the first scenario judged")
	p("against it; a scenario's ratio uses the one measured with its backend; cpu = %% of one core: generator+in-process")
	p("server / postgres / other processes)")
	p("%-23s %-7s %-46s %5s %10s %9s %9s %7s %14s", "ceiling", "backend", "what", "conc", "req/s", "p50", "p99", "errors", "cpu gen/pg/oth")
	for _, r := range b.ceilingLog {
		u := r.res.usage
		p("%-23s %-7s %-46s %5d %10.0f %9s %9s %7d %14s", label(r, o.maxOther), r.backend, r.what, r.conc, r.res.rate(),
			fmtDur(r.res.hist.quantile(0.5)), fmtDur(r.res.hist.quantile(0.99)), r.res.errors,
			pct(u.cpuSelf)+"/"+pct(u.cpuPG)+"/"+pct(u.cpuOther))
	}
	p("")
	p("SCENARIOS (the real binary, a separate process; cpu = %% of one core: server/postgres/redis/generator/other processes)")
	p("%-28s %-7s %5s %10s %9s %9s %7s %7s %20s %-17s %6s %6s", "scenario", "backend", "conc", "req/s", "p50", "p99", "errors", "rss_MB", "cpu srv/pg/rd/gen/oth", "ceiling", "ratio", "r/cpu")
	for _, r := range b.rows {
		ratio := "-"
		if x := r.ratio(); !math.IsNaN(x) {
			ratio = fmt.Sprintf("%.3f", x)
		}
		cpuRatio := "-"
		if x := r.cpuRatio(); !math.IsNaN(x) {
			cpuRatio = fmt.Sprintf("%.3f", x)
		}
		ceil := r.ceilingName
		if ceil == "" {
			ceil = "-"
		}
		u := r.res.usage
		p("%-28s %-7s %5d %10.0f %9s %9s %7d %7.1f %20s %-17s %6s %6s", label(r, o.maxOther), r.backend, r.conc, r.res.rate(),
			fmtDur(r.res.hist.quantile(0.5)), fmtDur(r.res.hist.quantile(0.99)), r.res.errors, u.rssPeakMB,
			pct(u.cpuServer)+"/"+pct(u.cpuPG)+"/"+pct(u.cpuRedis)+"/"+pct(u.cpuSelf)+"/"+pct(u.cpuOther), ceil, ratio, cpuRatio)
	}

	m := summarize(b.rows)
	p("")
	p("GOALS (issues 5 and 14; ratios are the worse backend)")
	for _, g := range evaluate(m) {
		verdict := "MISSED"
		if g.met() {
			verdict = "met"
		}
		if g.cmp == "" {
			verdict = ""
		}
		p("  %-44s %10.3f   target %-8s %s", g.label, g.value, g.targetText(), verdict)
	}
	extra := extraRatios(b.rows, b.ceilingLog, o.backends)
	for _, x := range extra {
		verdict := "MISSED"
		if x.value >= x.target {
			verdict = "met"
		}
		if math.IsNaN(x.target) {
			p("  %-44s %10.3f   (%s; no target)", "ratio "+x.name, x.value, x.what)
			continue
		}
		p("  %-44s %10.3f   target >= %-5.2f %s", "ratio "+x.name, x.value, x.target, verdict)
	}
	if !math.IsNaN(m.searchMs) {
		p("  %-44s %10.3f   (page 1 p50 %.3f ms; search p50 / page 1 %.2f; no target)", "search p50 (ms)",
			m.searchMs, m.topMs, m.searchMs/m.topMs)
	}
	p("")
	p("NOTES")
	p("  - Load generator: closed loop in this process (net/http, keep-alive, one connection per worker); it shares the 2 cores")
	p("    with the server under test, for the service and for the ceilings alike. The HTTP ceiling server runs inside this")
	p("    process (its cpu is in 'gen'); the service is a separate process. Rates count answers until the last in-flight one.")
	p("  - 'oth' is CPU taken by other processes (other databases' backends included) during the run. A run where it passed")
	p("    %.0f%% of a core was measured again (up to %d times, time permitting) and the quietest kept; * marks a row still", o.maxOther, o.retries)
	p("    above it: on a shared machine its figure (and any ratio built on it) is suspect. r/cpu divides each side's rate by")
	p("    the CPU the system under test got (server+postgres+redis+generator): a neighbour-resistant reading of the ratio")
	p("    for CPU-bound scenarios, for diagnosis only; RATIO lines are the plain ratio the issue defines.")
	p("  - The service runs with its defaults except DATABASE_URL, MIGRATION_DATABASE_URL, CACHE_BACKEND, REDIS_URL, SECRET_KEY,")
	p("    BCRYPT_COST, DB_MAX_OPEN_CONNS, HTTP_ADDR and %s", strings.Join(benchEnv, " "))
	p("    (rate limiters off: one client address, a few organizations). DATABASE_URL is production's application role")
	p("    (a login role in %s, neither superuser nor BYPASSRLS, checked at start; migrations run as the database's", appGroupRole)
	p("    owner): row-level security binds it as in production.")
	p("  - Database ceilings run the scenario's own SQL (sqlmirror.go) in the store's row-level-security wrapper (a read:")
	p("    one query 'SET LOCAL transaction_read_only = on; SET LOCAL app.organization_id = ...; statement', arguments")
	p("    written in; a write: 'BEGIN; SET LOCAL app.organization_id = ...; first statement', the rest, 'SELECT 1; COMMIT'),")
	p("    through postgres.Open, as the service's role.")
	p("    db_uncached_list_norls is the same as the superuser (no policy binds it), db_uncached_list_bare the statements")
	p("    alone (no transaction, no tenant) as the superuser. RATIO rls_wrapper = db_uncached_list / _bare, rls_policies =")
	p("    db_uncached_list / _norls, uncached_list_raw = uncached_list / _bare (each the worse backend). Tasks inserted")
	p("    for transition runs are ANALYZEd first (with stale statistics the planner reads a task by (org,id) through")
	p("    tasks_org_assignee_id_idx, scanning the whole organization).")
	p("  - login runs at %d connections (bcrypt-bound: at %d most logins would not finish in the window); its ceiling is raw", o.loginConc, o.conc)
	p("    bcrypt verifications from GOMAXPROCS goroutines. login_flood_cached_list_p99: cached lists at %d connections while", o.conc)
	p("    %d connections flood POST /login.", o.conc)
	p("  - mixed: of every 10 requests 1 POST /tasks, 5 GET /tasks?limit=10, 4 GET /tasks/{id}, over the seeded organizations,")
	p("    on a freshly started server (RSS_MB is the peak VmHWM/VmRSS of that run, not what earlier scenarios left behind).")
	p("  - list_top_uncached is page 1 of the deep organization through the uncached path (each request a different cursor")
	p("    near the top, so a different cache key); offset_depth asks page=%d.. (limit 10) and cursor_depth a cursor at", o.size.depth/10+1)
	p("    depth %d; CURSOR_DEPTH_P50 = p50(cursor_depth) / p50(list_top_uncached).", o.size.depth)
	p("  - due_top, due_cursor_depth and due_cursor_tail are the same for sort=due (seven in ten seeded tasks have a due")
	p("    date, many sharing one): page 1 (a cursor before the first date), a cursor at depth %d (in the dated part) and", o.size.depth)
	p("    one halfway into the tasks without a due date, which come last; DUE_CURSOR_DEPTH_P50 = p50(due_cursor_depth) /")
	p("    p50(due_top), DUE_CURSOR_TAIL_P50 = p50(due_cursor_tail) / p50(due_top).")
	p("  - search_q is GET /tasks?limit=10&q=%s on the deep organization (two words that 1.25%% of its tasks hold), through", url.QueryEscape(searchQuery))
	p("    the uncached path as list_top_uncached (each request a cursor, bound to the q, at another id); SEARCH_P50_MS and")
	p("    PAGE1_P50_MS are the two p50s.")
	for _, n := range b.notes {
		p("  - %s", n)
	}
	retried := 0
	for _, r := range append(slices.Collect(maps.Values(b.ceilings)), b.rows...) {
		if r.res.attempts > 1 {
			retried++
		}
	}
	if retried > 0 {
		p("  - %d measurements were repeated because other processes were busy.", retried)
	}
	for _, r := range b.rows {
		if r.note != "" {
			p("  - %s (%s): %s", r.scenario, r.backend, r.note)
		}
		if len(r.res.errSample) > 0 {
			p("  - %s (%s): %d errors, e.g. %s", r.scenario, r.backend, r.res.errors, strings.Join(r.res.errSample, " | "))
		}
	}
	for _, r := range b.ceilings {
		if r.note != "" {
			p("  - ceiling %s: %s", r.scenario, r.note)
		}
	}
	if !math.IsNaN(m.floodP99Ms) {
		p("LOGIN_FLOOD_CACHED_LIST_P99_MS %.2f", m.floodP99Ms)
	}
	if !math.IsNaN(m.revokedFloodP99Ms) {
		p("REVOKED_FLOOD_CACHED_LIST_P99_MS %.2f", m.revokedFloodP99Ms)
	}
	for _, nv := range m.ratios {
		p("RATIO %s %.3f", nv.name, nv.value)
	}
	for _, x := range extra {
		p("RATIO %s %.3f", x.name, x.value)
	}
	if !math.IsNaN(m.cursorP50) {
		p("CURSOR_DEPTH_P50 %.3f", m.cursorP50)
	}
	if !math.IsNaN(m.dueCursorP50) {
		p("DUE_CURSOR_DEPTH_P50 %.3f", m.dueCursorP50)
	}
	if !math.IsNaN(m.dueTailP50) {
		p("DUE_CURSOR_TAIL_P50 %.3f", m.dueTailP50)
	}
	if !math.IsNaN(m.rssMB) {
		p("RSS_MB %.1f", m.rssMB)
	}
	if !math.IsNaN(m.scaleListP50) {
		p("SCALE_LIST_P50_RATIO %.3f", m.scaleListP50)
	}
	if !math.IsNaN(m.scaleRSSMB) {
		p("SCALE_RSS_MB %.1f", m.scaleRSSMB)
	}
	if !math.IsNaN(m.searchMs) {
		p("SEARCH_P50_MS %.3f", m.searchMs)
		p("PAGE1_P50_MS %.3f", m.topMs)
	}
}
