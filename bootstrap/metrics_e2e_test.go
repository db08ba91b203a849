package bootstrap_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taskflow/taskflow/bootstrap"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape reads url's metrics in the Prometheus text format.
func scrape(t *testing.T, url string) []sample {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("scrape %s: %q: %v", url, sc.Text(), err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// find returns the samples of name whose labels include want.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// atLeast fails unless exactly one sample of name matches labels, with a
// value of at least min.
func atLeast(t *testing.T, samples []sample, name string, labels map[string]string, min float64) {
	t.Helper()
	got := find(samples, name, labels)
	if len(got) != 1 {
		t.Errorf("%s%v: %d samples, want 1", name, labels, len(got))
		return
	}
	if got[0].value < min {
		t.Errorf("%s%v = %v, want at least %v", name, labels, got[0].value, min)
	}
}

// TestMetrics_AdminListenerServesEveryFamily starts the real application
// with ADMIN_ADDR on a free port, serves a few requests (a task by its
// real id, a list twice, an unknown path, logins past the rate limit) and
// scrapes /metrics there: every family of the contract is present with
// real values, and route labels are templates, never ids. The public
// listener answers 404 for /metrics and /debug/pprof/; the admin listener
// serves the profiles.
func TestMetrics_AdminListenerServesEveryFamily(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend, newDatabase(t))
			cfg.AdminAddr = "127.0.0.1:0"
			cfg.AuthPerMinute = 3
			cfg.WebhookAllowPrivate = true
			var admin *bootstrap.AdminServer
			a := startServer(t, cfg, fx.Populate(&admin))
			adminBase := "http://" + admin.Addr()
			if admin.Addr() == "" || admin.Addr() == strings.TrimPrefix(a.base, "http://") {
				t.Fatalf("admin listener at %q, public at %q", admin.Addr(), a.base)
			}

			tn := a.newTenant(t)
			webhookAndStreamMetrics(t, a, adminBase, tn)
			tk := a.newTask(t, tn.Admin.Token, "watched")
			a.getTask(t, tn.Admin.Token, tk.ID)
			a.listTasks(t, tn.Admin.Token, "")
			a.listTasks(t, tn.Admin.Token, "") // a hit
			if r := a.undocumented(t, "GET", "/no-such-thing/"+strconv.FormatInt(tk.ID, 10)); r.status != http.StatusNotFound {
				t.Fatalf("%s, want 404", r)
			}
			// newTenant logged in once; two bad logins use up the limit of
			// three, and the fourth is refused.
			for range 2 {
				a.expect(t, http.StatusUnauthorized, "", "POST", "/login", "", badLogin(uniqueEmail("m")))
			}
			expectLimited(t, a.do(t, "POST", "/login", "", badLogin(uniqueEmail("m"))))

			for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine"} {
				if r := a.undocumented(t, "GET", path); r.status != http.StatusNotFound {
					t.Errorf("public listener: %s, want 404", r)
				}
			}

			ms := scrape(t, adminBase+"/metrics")
			const hist = "http_server_request_duration_seconds"
			taskRoute := map[string]string{"method": "GET", "route": "/tasks/{id}", "status_code": "200"}
			atLeast(t, ms, hist+"_count", taskRoute, 1)
			if got := find(ms, hist+"_bucket", taskRoute); len(got) < 10 {
				t.Errorf("%s_bucket%v: %d buckets", hist, taskRoute, len(got))
			}
			atLeast(t, ms, hist+"_count", map[string]string{"method": "POST", "route": "/tasks", "status_code": "201"}, 1)
			atLeast(t, ms, hist+"_count", map[string]string{"method": "GET", "route": "/tasks", "status_code": "200"}, 2)
			atLeast(t, ms, hist+"_count", map[string]string{"method": "GET", "route": "unmatched", "status_code": "404"}, 4)
			atLeast(t, ms, hist+"_count", map[string]string{"method": "POST", "route": "/login", "status_code": "429"}, 1)
			id := strconv.FormatInt(tk.ID, 10)
			for _, s := range find(ms, hist+"_count", nil) {
				r := s.labels["route"]
				if r != "unmatched" && !strings.HasPrefix(r, "/") || strings.Contains(r, id) || strings.Contains(r, "no-such-thing") ||
					strings.Contains(r, ":") || strings.Contains(r, "metrics") {
					t.Errorf("route label %q is not a route template", r)
				}
			}
			if len(find(ms, "http_server_active_requests", nil)) != 1 {
				t.Errorf("no http_server_active_requests")
			}
			atLeast(t, ms, "taskflow_cache_requests_total", map[string]string{"backend": backend, "result": "hit"}, 1)
			atLeast(t, ms, "taskflow_cache_requests_total", map[string]string{"backend": backend, "result": "miss"}, 1)
			atLeast(t, ms, "taskflow_db_connections", map[string]string{"state": "open"}, 1)
			atLeast(t, ms, "taskflow_db_connections", map[string]string{"state": "in_use"}, 0)
			atLeast(t, ms, "taskflow_db_connections", map[string]string{"state": "idle"}, 0)
			atLeast(t, ms, "taskflow_db_max_open_connections", nil, float64(cfg.DBMaxOpenConns))
			atLeast(t, ms, "taskflow_db_wait_count_total", nil, 0)
			atLeast(t, ms, "taskflow_db_wait_duration_seconds_total", nil, 0)
			atLeast(t, ms, "taskflow_bcrypt_queue_length", nil, 0)
			atLeast(t, ms, "taskflow_bcrypt_wait_seconds_total", nil, 0)
			atLeast(t, ms, "taskflow_rate_limited_total", map[string]string{"limit": "login_per_ip"}, 1)
			atLeast(t, ms, "go_goroutines", nil, 1)
			atLeast(t, ms, "process_resident_memory_bytes", nil, 1)
			atLeast(t, ms, "process_start_time_seconds", nil, 1)

			for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/goroutine?debug=1": "goroutine profile"} {
				resp, err := http.Get(adminBase + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
					t.Errorf("admin GET %s = %d, want 200 with %q", path, resp.StatusCode, want)
				}
			}
		})
	}
}

// held is a webhook receiver that holds each event delivery until the
// test releases it, and counts what it answered 204.
type held struct {
	arrived, release chan struct{}
	mu               sync.Mutex
	delivered        int
}

func (h *held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if strings.HasPrefix(r.Header.Get("webhook-id"), "evt_") {
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		<-h.release
	}
	h.mu.Lock()
	h.delivered++
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// waitForSample scrapes until one sample of name with labels satisfies ok.
func waitForSample(t *testing.T, url, name string, labels map[string]string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := find(scrape(t, url), name, labels)
		if len(got) == 1 && ok(got[0].value) {
			return got[0].value
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v: %v after 30s", name, labels, got)
		}
		time.Sleep(20 * time.Millisecond) // the next scrape: nothing to wait on but the dispatcher's loop
	}
}

// webhookAndStreamMetrics delivers a real event to a receiver on
// loopback (WEBHOOK_ALLOW_PRIVATE) and holds an event stream open:
// while the receiver holds the delivery, the dispatcher's lag is the
// event's age (above 0); once it answers, the delivery is counted as a
// success and, caught up, the lag is 0; the open stream is counted.
func webhookAndStreamMetrics(t *testing.T, a *api, adminBase string, tn tenant) {
	t.Helper()
	metricsURL := adminBase + "/metrics"
	ms := scrape(t, metricsURL)
	for _, r := range []string{"success", "failure", "timeout", "refused", "exhausted"} {
		atLeast(t, ms, "taskflow_webhook_deliveries_total", map[string]string{"result": r}, 0)
	}
	atLeast(t, ms, "taskflow_webhook_lag_seconds", nil, 0)
	if got := find(ms, "taskflow_event_streams", nil); len(got) != 1 || got[0].value != 0 {
		t.Errorf("taskflow_event_streams before any stream: %v, want 0", got)
	}

	recv := &held{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	var release sync.Once
	open := func() { release.Do(func() { close(recv.release) }) }
	defer open()
	a.expect(t, http.StatusCreated, "", "POST", "/webhooks", tn.Admin.Token,
		map[string]any{"url": srv.URL + "/hook", "events": []string{"task.created"}, "description": "metrics"})
	st := a.openStream(t, "/events/stream", tn.Admin.Token)
	defer st.close()
	a.newTask(t, tn.Admin.Token, "delivered")

	select {
	case <-recv.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver got no delivery")
	}
	// The dispatcher is attempting the event: its lag is the event's age,
	// growing while the receiver holds the answer.
	lag := waitForSample(t, metricsURL, "taskflow_webhook_lag_seconds", nil, func(v float64) bool { return v > 0 })
	ms = scrape(t, metricsURL)
	atLeast(t, ms, "taskflow_event_streams", nil, 1)
	if got := find(ms, "taskflow_webhook_deliveries_total", map[string]string{"result": "success"}); len(got) != 1 || got[0].value != 0 {
		t.Errorf("a delivery in flight is counted: %v", got)
	}
	open()
	waitForSample(t, metricsURL, "taskflow_webhook_deliveries_total", map[string]string{"result": "success"},
		func(v float64) bool { return v == 1 })
	// Caught up: the next look finds nothing due.
	waitForSample(t, metricsURL, "taskflow_webhook_lag_seconds", nil, func(v float64) bool { return v == 0 })
	t.Logf("webhook lag while the delivery was held: %.3fs", lag)
	ms = scrape(t, metricsURL)
	for _, r := range []string{"failure", "timeout", "refused", "exhausted"} {
		if got := find(ms, "taskflow_webhook_deliveries_total", map[string]string{"result": r}); len(got) != 1 || got[0].value != 0 {
			t.Errorf("taskflow_webhook_deliveries_total{result=%q} = %v, want 0", r, got)
		}
	}
}

// TestMetrics_AdminListenerFollowsTheLifecycle: the admin listener is up
// once the app has started and closed once it has stopped; an ADMIN_ADDR
// that cannot be bound fails the start, naming the setting.
func TestMetrics_AdminListenerFollowsTheLifecycle(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "memory", "")
	cfg.AdminAddr = "127.0.0.1:0"
	var admin *bootstrap.AdminServer
	app := bootstrap.New(cfg, "e2e-test", fx.Populate(&admin))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	addr := admin.Addr()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("admin listener after start: %v", err)
	}
	resp.Body.Close()
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("admin listener %s still accepts after stop", addr)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg2 := testConfig(t, "memory", "")
	cfg2.AdminAddr = taken.Addr().String()
	app2 := bootstrap.New(cfg2, "e2e-test")
	err = app2.Start(ctx)
	if err == nil {
		_ = app2.Stop(ctx)
		t.Fatal("started with ADMIN_ADDR taken")
	}
	if !strings.Contains(err.Error(), "ADMIN_ADDR") || !strings.Contains(err.Error(), cfg2.AdminAddr) {
		t.Fatalf("start error %q does not name ADMIN_ADDR and the address", err)
	}
}
