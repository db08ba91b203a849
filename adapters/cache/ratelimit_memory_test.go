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
	return len(l.windows)
}

func TestMemoryLimiter_Allow(t *testing.T) {
	t.Parallel()

	t.Run("when_full_new_keys_are_allowed_untracked", func(t *testing.T) {
		t.Parallel()
		l, _ := newClockedLimiter(3)
		ctx := t.Context()
		for _, k := range []string{"a", "b", "c"} {
			if d, _ := l.Allow(ctx, k, 1, time.Minute); !d.Allowed {
				t.Fatalf("first request for %s refused", k)
			}
		}
		for range 5 {
			d, err := l.Allow(ctx, "d", 1, time.Minute)
			if err != nil || !d.Allowed || d.Limit != 1 || d.Reset != time.Minute {
				t.Fatalf("untracked key: %+v, %v; want allowed as a first request", d, err)
			}
		}
		// Keys already tracked are still counted.
		if d, _ := l.Allow(ctx, "a", 1, time.Minute); d.Allowed {
			t.Fatal("tracked key allowed past its limit while the limiter is full")
		}
		if n := l.tracked(); n != 3 {
			t.Fatalf("tracking %d keys, want at most 3", n)
		}
	})

	t.Run("when_full_ended_windows_make_room", func(t *testing.T) {
		t.Parallel()
		l, clock := newClockedLimiter(3)
		ctx := t.Context()
		l.Allow(ctx, "short", 1, time.Second)
		l.Allow(ctx, "long1", 1, time.Hour)
		l.Allow(ctx, "long2", 1, time.Hour)
		clock.advance(2 * time.Second)
		l.Allow(ctx, "new", 1, time.Minute)
		if d, _ := l.Allow(ctx, "new", 1, time.Minute); d.Allowed {
			t.Fatal("new key not tracked although an ended window could make room")
		}
		if d, _ := l.Allow(ctx, "long1", 1, time.Hour); d.Allowed {
			t.Fatal("a live window was dropped to make room")
		}
	})

	t.Run("a_full_limiter_sweeps_at_most_once_per_gap", func(t *testing.T) {
		t.Parallel()
		l, clock := newClockedLimiter(2)
		ctx := t.Context()
		l.Allow(ctx, "a", 1, time.Hour)
		l.Allow(ctx, "b", 1, 100*time.Millisecond)
		l.Allow(ctx, "x", 1, time.Minute) // full: sweeps, nothing ended
		clock.advance(200 * time.Millisecond)
		// b has ended, but the last sweep is too recent to run another.
		l.Allow(ctx, "y", 1, time.Minute)
		if d, _ := l.Allow(ctx, "y", 1, time.Minute); !d.Allowed {
			t.Fatal("a full limiter swept again within limiterFullSweepGap")
		}
		clock.advance(limiterFullSweepGap)
		l.Allow(ctx, "y", 1, time.Minute)
		if d, _ := l.Allow(ctx, "y", 1, time.Minute); d.Allowed {
			t.Fatal("a full limiter did not sweep once limiterFullSweepGap had passed")
		}
	})

	t.Run("the_periodic_sweep_drops_ended_windows", func(t *testing.T) {
		t.Parallel()
		l, clock := newClockedLimiter(0)
		ctx := t.Context()
		for i := range 100 {
			l.Allow(ctx, strconv.Itoa(i), 1, time.Second)
		}
		l.Allow(ctx, "live", 1, time.Hour)
		clock.advance(limiterSweepEvery)
		l.Allow(ctx, "live", 1, time.Hour)
		if n := l.tracked(); n != 1 {
			t.Fatalf("tracking %d keys after the sweep, want 1", n)
		}
	})

	t.Run("an_ended_window_is_reused_in_place", func(t *testing.T) {
		t.Parallel()
		l, clock := newClockedLimiter(0)
		ctx := t.Context()
		l.Allow(ctx, "k", 1, time.Second)
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
		l.Allow(ctx, key, 1, time.Minute)
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
