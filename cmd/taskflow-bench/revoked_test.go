package main

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestRevokedFloodP99_is_the_worse_backend_and_absent_when_not_run(t *testing.T) {
	rowOf := func(scenario, backend string, d time.Duration) *row {
		r := &row{scenario: scenario, backend: backend, res: &loadResult{}}
		for range 100 {
			r.res.hist.record(d)
		}
		return r
	}
	if v := revokedFloodP99Ms([]*row{rowOf("login_flood_cached_list_p99", "memory", time.Millisecond)}); !math.IsNaN(v) {
		t.Fatalf("without the scenario: %v, want NaN", v)
	}
	v := revokedFloodP99Ms([]*row{
		rowOf(revokedFloodRow, "memory", 2*time.Millisecond),
		rowOf(revokedFloodRow, "redis", 9*time.Millisecond),
		rowOf(scCachedList, "redis", 90*time.Millisecond),
	})
	if v < 8.5 || v > 9.5 {
		t.Fatalf("p99 = %v ms, want the redis row's 9", v)
	}
}

func TestGenRevoked_sends_each_token_and_expects_401(t *testing.T) {
	gen := genRevoked("http://svc", []string{"a", "b"})
	seen := map[string]bool{}
	for seq := range uint64(4) {
		rq, ok := gen(0, seq)
		if !ok || rq.method != "GET" || rq.url != "http://svc/tasks?limit=10" || rq.expect != http.StatusUnauthorized {
			t.Fatalf("request %d: %+v", seq, rq)
		}
		seen[rq.token] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("tokens sent: %v, want both", seen)
	}
}
