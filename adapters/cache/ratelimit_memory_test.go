package cache

import (
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/taskflow/taskflow/adapters/cachetest"
	"github.com/taskflow/taskflow/ports"
)

func TestMemoryLimiter_RateLimiterContract(t *testing.T) {
	t.Parallel()
	cachetest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return NewMemoryLimiter()
	})
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClockedLimiter(maxKeys int) (*MemoryLimiter, *fakeClock) {
	l := NewMemoryLimiterWithMaxKeys(maxKeys)
	clock := &fakeClock{t: time.Now()}
	l.now = clock.now
	return l, clock
}

func (l *MemoryLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.windows.Len()
}

func TestMemoryLimiter_Allow(t *testing.T) {
	t.Parallel()

	t.Run("when_full_a_new_key_is_still_counted", func(t *testing.T) {
		t.Parallel()
		l, _ := newClockedLimiter(3)
		ctx := t.Context()
		for _, k := range []string{"a", "b", "c"} {
			if d, _ := l.Allow(ctx, k, 1, time.Minute); !d.Allowed {
				t.Fatalf("first request for %s refused", k)
			}
		}
		if d, _ := l.Allow(ctx, "d", 1, time.Minute); !d.Allowed {
			t.Fatal("first request for a new key refused while the limiter is full")
		}
		if d, _ := l.Allow(ctx, "d", 1, time.Minute); d.Allowed {
			t.Fatal("a new key went uncounted while the limiter is full")
		}
		if n := l.tracked(); n != 3 {
			t.Fatalf("tracking %d keys, want at most 3", n)
		}
	})

	t.Run("a_flood_of_new_keys_does_not_free_a_hot_key", func(t *testing.T) {
		t.Parallel()
		// The attack run: thousands of addresses fill the table, then a
		// password guesser goes on from one of them.
		const maxKeys, limit = 100, 5
		l, _ := newClockedLimiter(maxKeys)
		ctx := t.Context()
		flood := func(n int) {
			for i := range n {
				_, _ = l.Allow(ctx, "login:ip:10.1."+strconv.Itoa(i), limit, time.Minute)
			}
		}
		flood(10 * maxKeys)
		for i := range limit {
			if d, _ := l.Allow(ctx, "login:ip:10.0.0.1", limit, time.Minute); !d.Allowed {
				t.Fatalf("request %d of the guesser refused early", i+1)
			}
		}
		for i := range 50 {
			if d, _ := l.Allow(ctx, "login:ip:10.0.0.1", limit, time.Minute); d.Allowed {
				t.Fatalf("after %d more rounds of flood, the guesser was allowed past its limit", i)
			}
			flood(maxKeys / 2)
		}
		if n := l.tracked(); n != maxKeys {
			t.Fatalf("tracking %d keys, want %d", n, maxKeys)
		}
	})

	t.Run("when_full_the_least_recently_used_pair_goes", func(t *testing.T) {
		t.Parallel()
		l, _ := newClockedLimiter(3)
		ctx := t.Context()
		for _, k := range []string{"a", "b", "c"} {
			_, _ = l.Allow(ctx, k, 1, time.Minute)
		}
		_, _ = l.Allow(ctx, "a", 1, time.Minute) // refused, and a is used again
		_, _ = l.Allow(ctx, "d", 1, time.Minute) // evicts b, the oldest
		if d, _ := l.Allow(ctx, "a", 1, time.Minute); d.Allowed {
			t.Fatal("a recently used key was evicted")
		}
		if d, _ := l.Allow(ctx, "b", 1, time.Minute); !d.Allowed {
			t.Fatal("the least recently used key was not the one evicted")
		}
	})

	t.Run("ended_windows_are_dropped_as_it_goes", func(t *testing.T) {
		t.Parallel()
		l, clock := newClockedLimiter(0)
		ctx := t.Context()
		const stale = 100
		for i := range stale {
			_, _ = l.Allow(ctx, strconv.Itoa(i), 1, time.Second)
		}
		clock.advance(time.Second)
		for range stale / trimPerAllow {
			_, _ = l.Allow(ctx, "live", 1<<20, time.Hour)
		}
		if n := l.tracked(); n != 1 {
			t.Fatalf("tracking %d keys once their windows ended, want 1", n)
		}
	})

	t.Run("an_ended_window_is_reused_in_place", func(t *testing.T) {
		t.Parallel()
		l, clock := newClockedLimiter(0)
		ctx := t.Context()
		_, _ = l.Allow(ctx, "k", 1, time.Second)
		clock.advance(time.Second)
		d, _ := l.Allow(ctx, "k", 1, time.Second)
		if !d.Allowed || d.Remaining != 0 || d.Reset != time.Second {
			t.Fatalf("first request of the next window: %+v", d)
		}
	})

	t.Run("the_key_is_copied", func(t *testing.T) {
		t.Parallel()
		l := NewMemoryLimiter()
		ctx := t.Context()
		// Fiber hands out strings over buffers it reuses.
		buf := []byte("login:ip:10.0.0.1")
		key := unsafe.String(&buf[0], len(buf))
		_, _ = l.Allow(ctx, key, 1, time.Minute)
		copy(buf, "login:ip:10.0.0.2")
		if d, _ := l.Allow(ctx, "login:ip:10.0.0.1", 1, time.Minute); d.Allowed {
			t.Fatal("the stored key changed with the caller's buffer")
		}
	})
}

func BenchmarkMemoryLimiter_Allow(b *testing.B) {
	l := NewMemoryLimiter()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, "login:ip:127.0.0.1", 1<<30, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
