package cache

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/cachetest"
	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/ports"
)

// logBuffer collects log lines for a test to count.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count is the number of lines holding s.
func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// countingLimiter counts the calls that reach the limiter it wraps.
type countingLimiter struct {
	ports.RateLimiter
	calls atomic.Int64
}

func (c *countingLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	c.calls.Add(1)
	return c.RateLimiter.Allow(ctx, key, limit, window)
}

func (c *countingLimiter) Peek(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	c.calls.Add(1)
	return c.RateLimiter.Peek(ctx, key, limit, window)
}

func newFallback(shared ports.RateLimiter) (*FallbackLimiter, *logBuffer) {
	logs := &logBuffer{}
	return NewFallbackLimiter(shared, NewMemoryLimiter(), slog.New(slog.NewTextHandler(logs, nil))), logs
}

const (
	fallingBack = "counting per replica"
	backShared  = "counting shared"
)

func TestFallbackLimiter_RateLimiterContract(t *testing.T) {
	t.Parallel()
	t.Run("redis_answering", func(t *testing.T) {
		t.Parallel()
		c := testRedisClient(t)
		cachetest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
			l, _ := newFallback(newTestRedisLimiter(t, c))
			return l
		})
	})
	t.Run("redis_away", func(t *testing.T) {
		t.Parallel()
		cachetest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
			client, err := NewRedisClient("redis://" + deadAddr(t) + "/0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = client.Close() })
			l, _ := newFallback(NewRedisLimiter(client, "taskflow-test"))
			return l
		})
	})
}

// faultRedis starts a redis-server of the test's own, to kill and
// freeze, and a client for it.
func faultRedis(t *testing.T) (*faulttest.Redis, *redis.Client) {
	t.Helper()
	r := faulttest.StartRedis(t)
	client, err := NewRedisClient(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return r, client
}

func TestFallbackLimiter_RedisAway(t *testing.T) {
	t.Parallel()

	t.Run("counts_per_replica_while_redis_is_dead", func(t *testing.T) {
		t.Parallel()
		r, client := faultRedis(t)
		l, logs := newFallback(NewRedisLimiter(client, "p"))
		ctx := t.Context()
		const limit = 3
		mustAllow(t, l, "login:ip:10.0.0.1", limit)
		if l.Away() {
			t.Fatal("away while Redis answers")
		}
		r.Kill()
		// The local count holds the request counted in Redis: limit-1
		// more, then refused.
		for i := range limit - 1 {
			if d := mustAllow(t, l, "login:ip:10.0.0.1", limit); !d.Allowed {
				t.Fatalf("request %d with Redis dead refused", i+1)
			}
		}
		for range 3 {
			if d := mustAllow(t, l, "login:ip:10.0.0.1", limit); d.Allowed || d.Remaining != 0 {
				t.Fatalf("with Redis dead, a request past the limit: %+v; want refused", d)
			}
		}
		if d, err := l.Peek(ctx, "login:ip:10.0.0.1", limit, time.Minute); err != nil || d.Allowed {
			t.Fatalf("peek with Redis dead: %+v, %v; want refused, nil", d, err)
		}
		if n := logs.count(fallingBack); n != 1 {
			t.Fatalf("%d lines say the limiter fell back, want 1:\n%s", n, logs.buf.String())
		}
	})

	// A Redis that stops answering (an outage, or a timeout under load)
	// hands nobody a fresh limit: a client refused in Redis is refused
	// by the local count too.
	t.Run("a_client_at_its_limit_stays_refused_after_the_switch", func(t *testing.T) {
		t.Parallel()
		r, client := faultRedis(t)
		l, _ := newFallback(NewRedisLimiter(client, "p"))
		const limit = 3
		for i := range limit {
			if d := mustAllow(t, l, "login:ip:10.0.0.2", limit); !d.Allowed {
				t.Fatalf("request %d refused with Redis up", i+1)
			}
		}
		if d := mustAllow(t, l, "login:ip:10.0.0.2", limit); d.Allowed {
			t.Fatalf("request past the limit allowed with Redis up: %+v", d)
		}
		r.Freeze()
		defer r.Thaw()
		for i := range limit + 1 {
			if d := mustAllow(t, l, "login:ip:10.0.0.2", limit); d.Allowed {
				t.Fatalf("request %d after Redis froze allowed: %+v; the switch reset the count", i+1, d)
			}
		}
		if !l.Away() {
			t.Fatal("not away after a request timed out on a frozen Redis")
		}
	})

	t.Run("no_request_pays_the_redis_timeout_twice", func(t *testing.T) {
		t.Parallel()
		r, client := faultRedis(t)
		shared := &countingLimiter{RateLimiter: NewRedisLimiter(client, "p")}
		l, _ := newFallback(shared)
		mustAllow(t, l, "k", 100) // a pooled connection, as in production
		r.Freeze()
		defer r.Thaw()
		mustAllow(t, l, "k", 100) // pays the read timeout, and switches
		if !l.Away() {
			t.Fatal("not away after a request timed out on a frozen Redis")
		}
		before := shared.calls.Load()
		for range 20 {
			mustAllow(t, l, "k", 100)
		}
		if n := shared.calls.Load() - before; n != 0 {
			t.Fatalf("%d of 20 requests after the first went to the frozen Redis; want 0", n)
		}
	})

	t.Run("returns_to_redis_when_it_answers", func(t *testing.T) {
		t.Parallel()
		r, client := faultRedis(t)
		l, logs := newFallback(NewRedisLimiter(client, "p"))
		ctx := t.Context()
		r.Kill()
		mustAllow(t, l, "k", 10)
		if !l.Away() {
			t.Fatal("not away after an error")
		}
		if l.Probe(ctx) {
			t.Fatal("a probe of a dead Redis reported it answering")
		}
		r.Start()
		// The first use of a pooled connection to the dead server may
		// fail; a probe a moment later succeeds.
		faulttest.WaitFor(t, "a probe to find Redis answering", 5*time.Second, func() bool { return l.Probe(ctx) })
		mustAllow(t, l, "k", 10)
		if n, err := client.Get(ctx, "p:rl:{k}:60000").Result(); err != nil || n != "1" {
			t.Fatalf("count in Redis after it came back = %q, %v; want \"1\": the limiter still counts locally", n, err)
		}
		if n, m := logs.count(fallingBack), logs.count(backShared); n != 1 || m != 1 {
			t.Fatalf("%d lines say it fell back and %d that it came back, want 1 and 1:\n%s", n, m, logs.buf.String())
		}
	})

	t.Run("run_probes_until_redis_answers", func(t *testing.T) {
		t.Parallel()
		r, client := faultRedis(t)
		l, _ := newFallback(NewRedisLimiter(client, "p"))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.Run(ctx, 20*time.Millisecond)
		}()
		defer func() {
			cancel()
			<-done
		}()
		r.Freeze()
		mustAllow(t, l, "k", 10)
		if !l.Away() {
			t.Fatal("not away after a timeout")
		}
		r.Thaw()
		faulttest.WaitFor(t, "the probe loop to find Redis answering", 5*time.Second, func() bool { return !l.Away() })
	})
}

func mustAllow(t *testing.T, l ports.RateLimiter, key string, limit int) ports.RateDecision {
	t.Helper()
	d, err := l.Allow(t.Context(), key, limit, time.Minute)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

// While the list cache's breaker is open, Redis is known to be away: the
// limiter counts locally without a first request paying the timeout.
func TestFallbackLimiter_SkipWhileTheBreakerIsOpen(t *testing.T) {
	t.Parallel()
	shared := &countingLimiter{RateLimiter: NewMemoryLimiter()}
	l, _ := newFallback(shared)
	open := true
	l.SkipWhile(func() bool { return open })
	for range 3 {
		mustAllow(t, l, "k", 2)
	}
	if n := shared.calls.Load(); n != 0 {
		t.Fatalf("%d calls reached the shared limiter while the breaker was open; want 0", n)
	}
	if d := mustAllow(t, l, "k", 2); d.Allowed {
		t.Fatalf("the local count let a request past the limit: %+v", d)
	}
	open = false
	mustAllow(t, l, "k", 2)
	if n := shared.calls.Load(); n != 1 {
		t.Fatalf("%d calls reached the shared limiter once the breaker closed; want 1", n)
	}
}

// BenchmarkFallbackLimiter_Allow is BenchmarkRedisLimiter_Allow through
// the fallback, which also counts each request locally: the local count's
// cost is the difference, and BenchmarkMemoryLimiter_Allow alone.
func BenchmarkFallbackLimiter_Allow(b *testing.B) {
	c := testRedisClient(b)
	l := NewFallbackLimiter(newTestRedisLimiter(b, c), NewMemoryLimiter(), slog.New(slog.DiscardHandler))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, "login:ip:127.0.0.1", 1<<30, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
