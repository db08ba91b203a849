package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const dashboardFile = "../../deploy/grafana/taskflow.json"

// pendingFamilies are the metric families the dashboard charts before the
// service exports them: their panels show "No data" until then. A family
// that appears in the scrape must leave this list. None is pending now.
var pendingFamilies []string

// TestDashboard_Model checks the dashboard JSON: a recent schema, a data
// source variable, and every panel with a unique title and id, a
// Prometheus data source (the variable), targets with an expression and a
// unique refId, and a place on the 24-column grid that no other panel
// takes.
func TestDashboard_Model(t *testing.T) {
	d, err := loadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q: want 36 or later (Grafana 9+), a uid and a title", d.SchemaVersion, d.UID, d.Title)
	}
	hasVar := slices.ContainsFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query string `json:"query"`
	}) bool {
		return v.Name == "DS_PROMETHEUS" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasVar {
		t.Error("no templating variable DS_PROMETHEUS of type datasource (query prometheus)")
	}
	if len(d.Panels) < 15 {
		t.Errorf("%d panels, want at least 15", len(d.Panels))
	}
	okDS := func(ds *datasource) bool { return ds != nil && ds.Type == "prometheus" && ds.UID == "${DS_PROMETHEUS}" }
	titles, ids := map[string]bool{}, map[int]bool{}
	var cells = map[[2]int]string{}
	for _, p := range d.Panels {
		if strings.TrimSpace(p.Title) == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if titles[p.Title] || ids[p.ID] {
			t.Errorf("panel %d %q: title or id used twice", p.ID, p.Title)
		}
		titles[p.Title], ids[p.ID] = true, true
		if p.Type != "timeseries" {
			t.Errorf("panel %q is a %q, want timeseries", p.Title, p.Type)
		}
		if !okDS(p.Datasource) {
			t.Errorf("panel %q: datasource %+v, want prometheus ${DS_PROMETHEUS}", p.Title, p.Datasource)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refs[tg.RefID] || !okDS(tg.Datasource) {
				t.Errorf("panel %q target %+v: want an expr, a unique refId and the panel's data source", p.Title, tg)
			}
			refs[tg.RefID] = true
			if len(metricNames(tg.Expr)) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
			}
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Errorf("panels %q and %q overlap at (%d,%d)", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
	}
}

// TestDashboard_EveryPanelHasAnEvaluator keeps eval.go and the JSON in step.
func TestDashboard_EveryPanelHasAnEvaluator(t *testing.T) {
	d, err := loadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	for _, p := range d.Panels {
		titles[p.Title] = true
		if evaluators[p.Title] == nil {
			t.Errorf("panel %q has no evaluator in eval.go", p.Title)
		}
	}
	for title := range evaluators {
		if !titles[title] {
			t.Errorf("eval.go has an evaluator for %q, which no panel has", title)
		}
	}
}

// TestDashboard_MetricsExistInARealScrape starts the real service with its
// admin listener, serves a little of every kind of traffic the panels
// chart (tenants, creates, a list twice, reads, a 404, logins past the
// rate limit), and scrapes /metrics before and after: every metric an
// expression names is exported (but the pending families, which must not
// be), with every label the expression matches or groups on, and the
// render's evaluator gives every panel data (the pending ones none).
func TestDashboard_MetricsExistInARealScrape(t *testing.T) {
	d, err := loadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	svc, err := startService(ctx, serviceConfig{
		root: root, workDir: t.TempDir(), backend: "memory",
		extraEnv: []string{"RATE_LIMIT_AUTH_PER_MINUTE=8", "BCRYPT_COST=10"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.stop)
	scraper := &http.Client{Timeout: 5 * time.Second}
	take := func() snapshot {
		t.Helper()
		s, err := scrape(ctx, scraper, svc.adminBase+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return snapshot{at: time.Now(), samples: s}
	}
	before := take()

	c := newClient(svc.base)
	a, err := newTenant(ctx, c, "test-tenant")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if st, err := c.call(ctx, "GET", "/tasks", a.token, nil, nil); err != nil || st != http.StatusOK {
			t.Fatalf("GET /tasks: %d %v", st, err)
		}
	}
	if st, _ := c.call(ctx, "GET", "/tasks/999999999", a.token, nil, nil); st != http.StatusNotFound {
		t.Fatalf("GET /tasks/999999999: %d, want 404", st)
	}
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		st, err := c.call(ctx, "POST", "/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong-password"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		limited = st == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("20 bad logins were never refused with 429")
	}
	after := take()

	exported := map[string]map[string]bool{} // name -> its label names
	for _, s := range after.samples {
		if exported[s.name] == nil {
			exported[s.name] = map[string]bool{}
		}
		for k := range s.labels {
			exported[s.name][k] = true
		}
	}
	for _, f := range pendingFamilies {
		for name := range exported {
			if name == f || strings.HasPrefix(name, f+"_") {
				t.Errorf("%s is exported now: take it out of pendingFamilies", f)
			}
		}
	}
	tl := timeline{before, after}
	for _, p := range d.Panels {
		pending := false
		for _, tg := range p.Targets {
			for _, name := range metricNames(tg.Expr) {
				if slices.Contains(pendingFamilies, name) {
					pending = true
					continue
				}
				labels, ok := exported[name]
				if !ok {
					t.Errorf("panel %q: %s is not exported (expr %s)", p.Title, name, tg.Expr)
					continue
				}
				for _, l := range labelNames(tg.Expr) {
					if !labels[l] {
						t.Errorf("panel %q: %s has no label %q (expr %s)", p.Title, name, l, tg.Expr)
					}
				}
			}
		}
		got := evaluators[p.Title](tl, 1)
		switch {
		case pending && len(got) != 0:
			t.Errorf("panel %q is pending but has data %v", p.Title, got)
		case !pending && len(got) == 0:
			t.Errorf("panel %q: no data from the scrapes", p.Title)
		}
		for k, v := range got {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("panel %q: %s = %v", p.Title, k, v)
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr         string
		names, label []string
	}{
		{`sum by (route) (rate(http_server_request_duration_seconds_count[$__rate_interval]))`,
			[]string{"http_server_request_duration_seconds_count"}, []string{"route"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(h_bucket{job="x"}[5m])))`,
			[]string{"h_bucket"}, []string{"job", "route"}},
		{`sum(rate(a_total{status_code=~"5.."}[1m])) / sum(rate(a_total[1m])) or vector(0)`,
			[]string{"a_total"}, []string{"status_code"}},
		{`max(lag_seconds) > 1e3 and on(instance) up{result!="a,b"}`,
			[]string{"lag_seconds", "up"}, []string{"result"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.names) {
			t.Errorf("metricNames(%s) = %q, want %q", tc.expr, got, tc.names)
		}
		if got := labelNames(tc.expr); !slices.Equal(got, tc.label) {
			t.Errorf("labelNames(%s) = %q, want %q", tc.expr, got, tc.label)
		}
	}
}

// TestHistogramQuantile: Prometheus's interpolation, the +Inf bucket and
// an empty histogram.
func TestHistogramQuantile(t *testing.T) {
	les := []float64{0.1, 0.5, 1, math.Inf(1)}
	for _, tc := range []struct {
		q      float64
		counts []float64
		want   float64
	}{
		{0.5, []float64{10, 20, 20, 20}, 0.1},                         // rank 10: the top of the first bucket
		{0.75, []float64{10, 20, 20, 20}, 0.3},                        // rank 15: half way through (0.1, 0.5]
		{0.25, []float64{10, 20, 20, 20}, 0.05},                       // rank 5: half way through (0, 0.1]
		{0.99, []float64{10, 20, 20, 40}, 1},                          // in +Inf: the highest finite bound
		{0.5, []float64{0, 0, 0, 0}, math.NaN()},                      // no observations
		{0.5, []float64{0, 0, 10, 10}, 0.75},                          // rank 5 in (0.5, 1]
		{1, []float64{0, 10, 10, 10}, 0.5},                            // the maximum's bucket top
		{0.5, []float64{4, 4, 4, 4}[:3], math.NaN()},                  // no +Inf bucket
		{0.5, []float64{1, 1, 1, 1}, 0.05},                            // rank 0.5 of 1 in the first bucket
		{0.9, []float64{0, 0, 0, 10}, 1},                              // everything above the last bound
		{0.5, []float64{0, 0, 0, 0.000001}, 1},                        // a tiny rate, all in +Inf
		{0.5, []float64{0.2, 0.4, 0.4, 0.4}, 0.1},                     // rank 0.2 at the first bound
		{0.5, []float64{0.2, 0.6, 0.6, 0.6}, 0.1 + 0.4*(0.3-0.2)/0.4}, // rank 0.3
	} {
		got := histogramQuantile(tc.q, les[:len(tc.counts)], tc.counts)
		if math.IsNaN(tc.want) != math.IsNaN(got) || !math.IsNaN(tc.want) && math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("histogramQuantile(%v, %v) = %v, want %v", tc.q, tc.counts, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v          float64
		unit, want string
	}{
		{0.25, "percentunit", "25%"}, {12.5, "reqps", "12.5/s"}, {0.0042, "s", "4.2ms"}, {2.5, "s", "2.5s"},
		{0.00005, "s", "50us"}, {48 << 20, "bytes", "48MiB"}, {1500, "short", "1.5k"}, {3, "short", "3"},
	} {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %s) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// TestRender draws a timeline of two scrapes: the PNG canvas has one panel
// per chart, and a panel with data differs from one without.
func TestRender(t *testing.T) {
	t0 := time.Unix(0, 0)
	lag := func(v float64) sample {
		return sample{name: "taskflow_webhook_lag_seconds", labels: map[string]string{"shard": fmt.Sprint(v)}, value: v}
	}
	if got := (timeline{{samples: []sample{lag(2), lag(7), lag(3)}}}).maxOf(0, sel("taskflow_webhook_lag_seconds")); got[""] != 7 {
		t.Errorf("maxOf = %v, want 7", got)
	}
	tl := timeline{
		{at: t0, samples: []sample{{name: "go_goroutines", labels: map[string]string{}, value: 10}}},
		{at: t0.Add(time.Second), samples: []sample{{name: "go_goroutines", labels: map[string]string{}, value: 30}}},
	}
	var p panel
	p.Title = "Goroutines"
	p.FieldConfig.Defaults.Unit = "short"
	with := buildChart(p, tl)
	if len(with.lines) != 1 || with.lines[0].legend != "goroutines" || with.lines[0].points[1] != 30 {
		t.Fatalf("chart %+v", with)
	}
	p.Title = "Open event streams"
	without := buildChart(p, tl)
	img := render([]chart{with, without}, 2, []string{"test"}, len(tl))
	if w := img.Bounds().Dx(); w != 2*panelW+3*gap {
		t.Errorf("width %d", w)
	}
	differ := false
	for y := headerH + gap; y < headerH+gap+panelH && !differ; y++ {
		for x := 0; x < panelW; x++ {
			if img.RGBAAt(gap+x, y) != img.RGBAAt(2*gap+panelW+x, y) {
				differ = true
				break
			}
		}
	}
	if !differ {
		t.Error("the panel with data looks like the one without")
	}
}
