package cachetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/ports"
)

// ShortWindow is the window the expiry test uses; Redis keeps TTLs in
// milliseconds, so it is far above that granularity.
const ShortWindow = 300 * time.Millisecond

// longWindow outlives every rate limit test that is not about expiry.
const longWindow = time.Minute

// RunRateLimiter checks the RateLimiter contract. newLimiter must return a
// limiter that has counted nothing, isolated from every other limiter it
// returns (the subtests run in parallel), and register its own cleanup on
// t.
//
// The contract: windows are fixed; within one, the first limit requests
// for a key are allowed and the rest refused; every request is counted;
// keys are independent whatever bytes they hold, and so are the windows of
// one key used with different lengths; a limit of zero or less means no
// limit (allowed, not counted); a positive limit with a window that is not
// positive is an error. Peek reports whether one more request would be
// allowed and how many are left, and counts nothing.
func RunRateLimiter(t *testing.T, newLimiter func(t *testing.T) ports.RateLimiter) {
	t.Run("allows_limit_requests_then_refuses", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		const limit = 5
		for i := range limit {
			d := mustAllow(t, l, "login:ip:127.0.0.1", limit, longWindow)
			if !d.Allowed || d.Remaining != limit-1-i {
				t.Fatalf("request %d: allowed %v, remaining %d; want true, %d", i+1, d.Allowed, d.Remaining, limit-1-i)
			}
			checkDecision(t, d, limit, longWindow)
		}
		for i := range 3 {
			d := mustAllow(t, l, "login:ip:127.0.0.1", limit, longWindow)
			if d.Allowed || d.Remaining != 0 {
				t.Fatalf("request %d: allowed %v, remaining %d; want false, 0", limit+1+i, d.Allowed, d.Remaining)
			}
			checkDecision(t, d, limit, longWindow)
		}
	})

	t.Run("keys_are_independent_whatever_their_bytes", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		// Keys that a careless key layout would run together.
		keys := []string{
			"login:ip:127.0.0.1", "login:ip:127.0.0.1 ", "login:ip", "login:ip:", ":login:ip",
			"", " ", "a b", "a\x00b", "a\nb", "{a}", "a}", "}", "{", "a}:60000", "a}:60000}:60000",
			"*", "é", "user@example.com", "login:email:user@example.com",
		}
		for _, k := range keys {
			if d := mustAllow(t, l, k, 1, longWindow); !d.Allowed {
				t.Errorf("first request for %q refused: another key's count leaked into it", k)
			}
		}
		for _, k := range keys {
			if d := mustAllow(t, l, k, 1, longWindow); d.Allowed {
				t.Errorf("second request for %q allowed with limit 1", k)
			}
		}
	})

	t.Run("each_window_length_counts_separately", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		mustAllow(t, l, "k", 1, time.Minute)
		if d := mustAllow(t, l, "k", 1, time.Hour); !d.Allowed {
			t.Fatal("an hourly limit was charged by the per-minute count of the same key")
		}
		if d := mustAllow(t, l, "k", 1, time.Minute); d.Allowed {
			t.Fatal("the per-minute count was charged by the hourly one and lost")
		}
	})

	t.Run("a_new_window_allows_again", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		const limit = 2
		var last ports.RateDecision
		for range limit + 1 {
			last = mustAllow(t, l, "k", limit, ShortWindow)
		}
		if last.Allowed {
			t.Fatal("request past the limit allowed")
		}
		checkDecision(t, last, limit, ShortWindow)
		// Reset says when the window ends; a little past it, a new one
		// starts with the first request.
		time.Sleep(last.Reset + 50*time.Millisecond)
		if p := mustPeek(t, l, "k", limit, ShortWindow); !p.Allowed || p.Remaining != limit {
			t.Fatalf("peek after the window: allowed %v, remaining %d; want true, %d", p.Allowed, p.Remaining, limit)
		}
		d := mustAllow(t, l, "k", limit, ShortWindow)
		if !d.Allowed || d.Remaining != limit-1 {
			t.Fatalf("after the window: allowed %v, remaining %d; want true, %d", d.Allowed, d.Remaining, limit-1)
		}
		checkDecision(t, d, limit, ShortWindow)
	})

	t.Run("peek_counts_nothing_and_sees_the_count", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		const limit = 3
		for range 3 {
			d := mustPeek(t, l, "login:fail:k", limit, longWindow)
			if !d.Allowed || d.Remaining != limit {
				t.Fatalf("peek at a new key: allowed %v, remaining %d; want true, %d", d.Allowed, d.Remaining, limit)
			}
			checkDecision(t, d, limit, longWindow)
		}
		for i := range limit {
			if d := mustAllow(t, l, "login:fail:k", limit, longWindow); d.Remaining != limit-1-i {
				t.Fatalf("request %d after peeks: remaining %d, want %d: a peek was counted", i+1, d.Remaining, limit-1-i)
			}
			d := mustPeek(t, l, "login:fail:k", limit, longWindow)
			if want := i+1 < limit; d.Allowed != want || d.Remaining != limit-1-i {
				t.Fatalf("peek after %d requests: allowed %v, remaining %d; want %v, %d", i+1, d.Allowed, d.Remaining, want, limit-1-i)
			}
			checkDecision(t, d, limit, longWindow)
		}
		if d := mustPeek(t, l, "login:fail:other", limit, longWindow); !d.Allowed || d.Remaining != limit {
			t.Fatalf("peek at another key: %+v", d)
		}
	})

	t.Run("concurrent_requests_allow_exactly_the_limit", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		const (
			limit      = 20
			goroutines = 50
			calls      = 3
		)
		var (
			mu        sync.Mutex
			remaining []int // of the allowed requests
			refused   int
			wg        sync.WaitGroup
		)
		for range goroutines {
			wg.Go(func() {
				for range calls {
					d, err := l.Allow(t.Context(), "org:7", limit, longWindow)
					if err != nil {
						t.Errorf("Allow: %v", err)
						return
					}
					mu.Lock()
					if d.Allowed {
						remaining = append(remaining, d.Remaining)
					} else {
						refused++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(remaining) != limit || refused != goroutines*calls-limit {
			t.Fatalf("%d allowed, %d refused; want %d, %d", len(remaining), refused, limit, goroutines*calls-limit)
		}
		// Each allowed request saw its own count: no two were handed
		// the same slot.
		slices.Sort(remaining)
		for i, r := range remaining {
			if r != i {
				t.Fatalf("remaining over the allowed requests = %v, want 0..%d once each", remaining, limit-1)
			}
		}
	})

	t.Run("a_limit_of_zero_or_less_means_no_limit", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		for _, limit := range []int{0, -1} {
			for range 5 {
				if d := mustAllow(t, l, "k", limit, longWindow); !d.Allowed {
					t.Fatalf("limit %d: request refused", limit)
				}
			}
			if d := mustPeek(t, l, "k", limit, longWindow); !d.Allowed {
				t.Fatalf("limit %d: peek refused", limit)
			}
		}
		// Nor were those requests counted.
		if d := mustAllow(t, l, "k", 2, longWindow); !d.Allowed || d.Remaining != 1 {
			t.Fatalf("first limited request: allowed %v, remaining %d; want true, 1", d.Allowed, d.Remaining)
		}
	})

	t.Run("a_window_that_is_not_positive_is_an_error", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		for _, w := range []time.Duration{0, -time.Second} {
			if _, err := l.Allow(t.Context(), "k", 1, w); err == nil {
				t.Errorf("window %v: nil error", w)
			}
			if _, err := l.Peek(t.Context(), "k", 1, w); err == nil {
				t.Errorf("peek, window %v: nil error", w)
			}
		}
	})
}

func mustAllow(t *testing.T, l ports.RateLimiter, key string, limit int, window time.Duration) ports.RateDecision {
	t.Helper()
	d, err := l.Allow(t.Context(), key, limit, window)
	if err != nil {
		t.Fatalf("Allow(%q, %d, %v): %v", key, limit, window, err)
	}
	return d
}

func mustPeek(t *testing.T, l ports.RateLimiter, key string, limit int, window time.Duration) ports.RateDecision {
	t.Helper()
	d, err := l.Peek(t.Context(), key, limit, window)
	if err != nil {
		t.Fatalf("Peek(%q, %d, %v): %v", key, limit, window, err)
	}
	return d
}

// checkDecision checks what every counted decision reports whatever its
// verdict.
func checkDecision(t *testing.T, d ports.RateDecision, limit int, window time.Duration) {
	t.Helper()
	if d.Limit != limit {
		t.Errorf("Limit = %d, want %d", d.Limit, limit)
	}
	if d.Reset <= 0 || d.Reset > window {
		t.Errorf("Reset = %v, want in (0, %v]", d.Reset, window)
	}
}
