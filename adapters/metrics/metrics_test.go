package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// stubCache answers Generations and Get with what it is set to.
type stubCache struct {
	ports.ListCache
	gensErr error
	val     []byte
	getErr  error
}

func (s *stubCache) Generations(context.Context, domain.OrgID) (ports.Generations, error) {
	return ports.Generations{}, s.gensErr
}

func (s *stubCache) Get(context.Context, domain.OrgID, ports.CacheSpace, uint64, string) ([]byte, error) {
	return s.val, s.getErr
}

func TestCountCache_CountsEachLookupByResult(t *testing.T) {
	m := metrics.New()
	stub := &stubCache{}
	c := m.CountCache(stub, "redis")
	ctx := context.Background()
	lookup := func() {
		if _, err := c.Generations(ctx, 1); err == nil {
			_, _ = c.Get(ctx, 1, ports.SpaceTasks, 0, "k")
		}
	}
	lookup() // miss
	stub.val = []byte("v")
	lookup() // hit
	lookup() // hit
	stub.getErr = errors.New("connection reset")
	lookup() // error
	stub.gensErr = fmt.Errorf("redis cache: generations: %w", ports.ErrCacheSkipped)
	lookup() // skipped
	stub.gensErr = context.DeadlineExceeded
	lookup() // error

	if n, err := testutil.GatherAndCount(m.Registry(), "taskflow_cache_requests_total"); err != nil || n != 4 {
		t.Fatalf("%d series of taskflow_cache_requests_total (%v), want 4", n, err)
	}
	for result, want := range map[string]float64{"hit": 2, "miss": 1, "error": 2, "skipped": 1} {
		if v := counterValue(t, m, `taskflow_cache_requests_total{backend="redis",result="`+result+`"}`); v != want {
			t.Errorf("%s = %v, want %v", result, v, want)
		}
	}
}

// counterValue reads one series from the registry's text exposition.
func counterValue(t *testing.T, m *metrics.Metrics, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in\n%s", series, rec.Body.String())
	return 0
}

func TestWatchDB_SumsThePools(t *testing.T) {
	m := metrics.New()
	m.WatchDB(func() []sql.DBStats {
		return []sql.DBStats{
			{MaxOpenConnections: 4, OpenConnections: 3, InUse: 2, Idle: 1, WaitCount: 5, WaitDuration: 1500 * time.Millisecond},
			{MaxOpenConnections: 1, OpenConnections: 1, InUse: 1, WaitCount: 2, WaitDuration: 500 * time.Millisecond},
		}
	})
	for series, want := range map[string]float64{
		`taskflow_db_connections{state="open"}`:   4,
		`taskflow_db_connections{state="in_use"}`: 3,
		`taskflow_db_connections{state="idle"}`:   1,
		`taskflow_db_max_open_connections`:        5,
		`taskflow_db_wait_count_total`:            7,
		`taskflow_db_wait_duration_seconds_total`: 2,
	} {
		if v := counterValue(t, m, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
}

func TestWatchBcrypt_ReadsAtScrapeTime(t *testing.T) {
	m := metrics.New()
	queued := 0
	m.WatchBcrypt(func() int { return queued }, func() time.Duration { return 250 * time.Millisecond })
	queued = 3
	if v := counterValue(t, m, "taskflow_bcrypt_queue_length"); v != 3 {
		t.Errorf("queue length = %v, want 3", v)
	}
	if v := counterValue(t, m, "taskflow_bcrypt_wait_seconds_total"); v != 0.25 {
		t.Errorf("wait = %v, want 0.25", v)
	}
}

func TestRequests_ActiveAndDuration(t *testing.T) {
	m := metrics.New()
	m.RequestStarted()
	m.RequestStarted()
	if v := counterValue(t, m, "http_server_active_requests"); v != 2 {
		t.Fatalf("active = %v, want 2", v)
	}
	m.RequestFinished("GET", "/tasks/{id}", 200, 3*time.Millisecond)
	m.RequestFinished("GET", "/tasks/{id}", 200, 30*time.Millisecond)
	if v := counterValue(t, m, "http_server_active_requests"); v != 0 {
		t.Fatalf("active = %v, want 0", v)
	}
	base := `http_server_request_duration_seconds_bucket{method="GET",route="/tasks/{id}",status_code="200",le=`
	if v := counterValue(t, m, base+`"0.005"}`); v != 1 {
		t.Errorf("le=0.005: %v, want 1", v)
	}
	if v := counterValue(t, m, base+`"0.05"}`); v != 2 {
		t.Errorf("le=0.05: %v, want 2", v)
	}
	m.RateLimited("login_per_ip")
	if v := counterValue(t, m, `taskflow_rate_limited_total{limit="login_per_ip"}`); v != 1 {
		t.Errorf("rate limited = %v, want 1", v)
	}
}

func TestHandler_ServesMetricsAndProfilesOnly(t *testing.T) {
	srv := httptest.NewServer(metrics.New().Handler())
	defer srv.Close()
	for path, want := range map[string]int{
		"/metrics": 200, "/debug/pprof/": 200, "/debug/pprof/heap?debug=1": 200, "/debug/pprof/cmdline": 200,
		"/": 404, "/tasks": 404,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/metrics" && !strings.Contains(string(body), "go_goroutines ") {
			t.Errorf("GET /metrics has no go_goroutines:\n%s", body)
		}
	}
}

// BenchmarkRequestFinished is the cost the metrics add to each request
// once its series exists: no allocation.
func BenchmarkRequestFinished(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	for b.Loop() {
		m.RequestStarted()
		m.RequestFinished("GET", "/tasks/{id}", 200, 3*time.Millisecond)
	}
}

func BenchmarkRequestFinishedParallel(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RequestStarted()
			m.RequestFinished("GET", "/tasks/{id}", 200, 3*time.Millisecond)
		}
	})
}

// The webhook and stream families: every result is a series from the
// start (at 0), each attempt counts under its own, an unknown result is
// dropped; the lag is read in seconds; the stream gauge reads its function
// at scrape time.
func TestWebhookAndStreamFamilies(t *testing.T) {
	m := metrics.New()
	if n, err := testutil.GatherAndCount(m.Registry(), "taskflow_webhook_deliveries_total"); err != nil || n != len(ports.WebhookAttemptResults) {
		t.Fatalf("%d series of taskflow_webhook_deliveries_total (%v), want %d", n, err, len(ports.WebhookAttemptResults))
	}
	m.WebhookAttempted(ports.WebhookSuccess)
	m.WebhookAttempted(ports.WebhookSuccess)
	m.WebhookAttempted(ports.WebhookTimeout)
	m.WebhookAttempted("bogus")
	m.WatchWebhookLag(func() time.Duration { return 1500 * time.Millisecond })
	open := 3
	m.WatchStreams(func() int { return open })
	open = 2
	want := `
# HELP taskflow_event_streams Event streams (GET /events/stream) open on this replica.
# TYPE taskflow_event_streams gauge
taskflow_event_streams 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "taskflow_event_streams"); err != nil {
		t.Error(err)
	}
	got := map[string]float64{}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "taskflow_webhook_deliveries_total":
			for _, s := range mf.GetMetric() {
				got[s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			}
		case "taskflow_webhook_lag_seconds":
			got["lag"] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	for k, v := range map[string]float64{"success": 2, "timeout": 1, "failure": 0, "refused": 0, "exhausted": 0, "lag": 1.5} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["bogus"]; ok {
		t.Error("an unknown result made a series")
	}
}
