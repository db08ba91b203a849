package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type pingUp struct{}

func (pingUp) Ping(context.Context) error { return nil }

// TestServer_Drain_failsReadinessAndClosesEveryConnection: before Drain
// the server is ready and keeps connections alive; after it /ready is 503
// problem+json saying it is shutting down, and every answer (ready,
// health, an unknown route) carries Connection: close.
func TestServer_Drain_failsReadinessAndClosesEveryConnection(t *testing.T) {
	s := NewServer(nil, nil, nil, nil, []Check{{Name: "database", Ping: pingUp{}}}, nil, slog.New(slog.DiscardHandler),
		Options{BodyLimit: 1 << 20, RequestTimeout: time.Second})
	app := s.App()
	get := func(path string) (status int, closed bool, body map[string]any) {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, resp.Close, body
	}

	if st, closed, body := get("/ready"); st != 200 || closed {
		t.Fatalf("before Drain: /ready = %d %v, Connection: close %v", st, body, closed)
	}
	s.Drain()
	st, closed, body := get("/ready")
	if st != 503 || !closed || body["code"] != "not_ready" || !strings.Contains(body["detail"].(string), "shutting down") {
		t.Fatalf("after Drain: /ready = %d %v, Connection: close %v", st, body, closed)
	}
	for path, want := range map[string]int{"/health": 200, "/no-such-route": 404} {
		if st, closed, _ := get(path); st != want || !closed {
			t.Errorf("after Drain: %s = %d, Connection: close %v; want %d and close", path, st, closed, want)
		}
	}
}
