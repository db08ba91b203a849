package http

import (
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// recorder is a Metrics that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	active   int
	requests []string // "METHOD route status"
	limited  []string
}

func (r *recorder) RequestStarted() { r.mu.Lock(); r.active++; r.mu.Unlock() }

func (r *recorder) RequestFinished(method, route string, status int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active--
	r.requests = append(r.requests, method+" "+route+" "+strconv.Itoa(status))
}

func (r *recorder) RateLimited(limit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limited = append(r.limited, limit)
}

// TestMetrics_RouteLabelsAreTemplates: each request is recorded once under
// its route template in OpenAPI style, whatever the id in the path; paths
// and methods no route serves share "unmatched"; and the labels stay
// intact after later requests reuse the server's buffers.
func TestMetrics_RouteLabelsAreTemplates(t *testing.T) {
	rec := &recorder{}
	app := NewServer(nil, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler),
		Options{BodyLimit: 1 << 20, RequestTimeout: time.Second, Metrics: rec}).App()
	for _, req := range []struct{ method, path string }{
		{"GET", "/health"},
		{"GET", "/tasks/12345"},           // 401: no token, but the route matched
		{"DELETE", "/tasks/67890"},        // likewise
		{"GET", "/problems/no_such_code"}, // 404 from a route that matched
		{"GET", "/no/such/route/42"},
		{"POST", "/health"}, // 405
		{"HEAD", "/health"},
	} {
		resp, err := app.Test(httptest.NewRequest(req.method, req.path, nil), -1)
		if err != nil {
			t.Fatalf("%s %s: %v", req.method, req.path, err)
		}
		resp.Body.Close()
	}
	want := []string{
		"GET /health 200",
		"GET /tasks/{id} 401",
		"DELETE /tasks/{id} 401",
		"GET /problems/{code} 404",
		"GET unmatched 404",
		"POST unmatched 405",
		"HEAD /health 200",
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Equal(rec.requests, want) {
		t.Fatalf("recorded\n%q\nwant\n%q", rec.requests, want)
	}
	if rec.active != 0 {
		t.Fatalf("%d requests still counted in flight", rec.active)
	}
}

func TestMetrics_OpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/tasks/:id": "/tasks/{id}", "/": "/", "/docs/*": "/docs/*", "/problems/:code": "/problems/{code}", "/a/:x/b/:y": "/a/{x}/b/{y}",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetrics_LimitLabel(t *testing.T) {
	for in, want := range map[string]string{
		"login per IP": "login_per_ip", "organization": "organization", "login failures per email and IP": "login_failures_per_email_and_ip",
	} {
		if got := limitLabel(in); got != want {
			t.Errorf("limitLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
