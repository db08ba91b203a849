package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/ports"
)

// brokenLimiter fails every call, as only a bug can make the limiter
// bootstrap wires in do.
type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, string, int, time.Duration) (ports.RateDecision, error) {
	return ports.RateDecision{}, errors.New("broken")
}

func (brokenLimiter) Peek(context.Context, string, int, time.Duration) (ports.RateDecision, error) {
	return ports.RateDecision{}, errors.New("broken")
}

// TestLimiter_AFailingLimiterRefusesWith503: a limiter error refuses the
// request (it used to let every request through) with a 503 the client
// can retry, never a 500.
func TestLimiter_AFailingLimiterRefusesWith503(t *testing.T) {
	s := NewServer(nil, nil, nil, nil, nil, brokenLimiter{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options{BodyLimit: 1 << 20, RequestTimeout: 5 * time.Second, Limits: RateLimits{Auth: 10}})
	app := s.App()
	for _, path := range []string{"/login", "/signup", "/organizations", "/token/refresh"} {
		req := httptest.NewRequest("POST", path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Code string `json:"code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		_ = resp.Body.Close()
		if resp.StatusCode != 503 || p.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("POST %s with the limiter failing: %d %q, Retry-After %q; want 503 unavailable with Retry-After",
				path, resp.StatusCode, p.Code, resp.Header.Get("Retry-After"))
		}
	}
}
