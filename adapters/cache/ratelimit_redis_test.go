package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/cachetest"
	"github.com/taskflow/taskflow/ports"
)

// newTestRedisLimiter returns a limiter under a prefix of its own, whose
// keys are deleted when tb ends (newTestRedis provides both).
func newTestRedisLimiter(tb testing.TB, c *redis.Client) *RedisLimiter {
	tb.Helper()
	return NewRedisLimiter(c, newTestRedis(tb, c, time.Minute).prefix)
}

func TestRedisLimiter_RateLimiterContract(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	cachetest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return newTestRedisLimiter(t, c)
	})
}

func TestRedisLimiter_Allow(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)

	t.Run("keys_follow_the_documented_layout", func(t *testing.T) {
		t.Parallel()
		l := newTestRedisLimiter(t, c)
		ctx := t.Context()
		for range 2 {
			if _, err := l.Allow(ctx, "login:ip:127.0.0.1", 5, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		k := l.prefix + ":rl:{login:ip:127.0.0.1}:60000"
		if n, err := c.Get(ctx, k).Result(); err != nil || n != "2" {
			t.Errorf("count = %q, %v; want \"2\"", n, err)
		}
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
			t.Errorf("TTL = %v, %v; want (0, 1m]", ttl, err)
		}
	})

	t.Run("windows_round_up_to_whole_milliseconds", func(t *testing.T) {
		t.Parallel()
		l := newTestRedisLimiter(t, c)
		d, err := l.Allow(t.Context(), "k", 1, 1500*time.Microsecond)
		if err != nil {
			t.Fatal(err)
		}
		if d.Reset <= 0 || d.Reset > 2*time.Millisecond {
			t.Fatalf("Reset = %v, want in (0, 2ms]", d.Reset)
		}
	})

	t.Run("a_count_without_ttl_gets_one", func(t *testing.T) {
		t.Parallel()
		l := newTestRedisLimiter(t, c)
		ctx := t.Context()
		k := l.key("k", 60000)
		if err := c.Set(ctx, k, "7", 0).Err(); err != nil {
			t.Fatal(err)
		}
		d, err := l.Allow(ctx, "k", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Remaining != 2 || d.Reset != time.Minute {
			t.Fatalf("decision = %+v; want allowed, 2 remaining, reset 1m", d)
		}
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Fatalf("TTL = %v, %v; want one set", ttl, err)
		}
	})

	t.Run("peek_creates_no_key", func(t *testing.T) {
		t.Parallel()
		l := newTestRedisLimiter(t, c)
		ctx := t.Context()
		if _, err := l.Peek(ctx, "k", 10, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Exists(ctx, l.key("k", 60000)).Result(); err != nil || n != 0 {
			t.Fatalf("EXISTS after a peek = %d, %v; want 0", n, err)
		}
	})

	t.Run("a_corrupt_count_is_an_error", func(t *testing.T) {
		t.Parallel()
		l := newTestRedisLimiter(t, c)
		ctx := t.Context()
		if err := c.Set(ctx, l.key("k", 60000), "not-a-number", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Peek(ctx, "k", 10, time.Minute); err == nil {
			t.Fatal("peek: nil error for a count that is not a number")
		}
		if _, err := l.Allow(ctx, "k", 10, time.Minute); err == nil {
			t.Fatal("nil error for a count that is not a number")
		}
	})
}

func TestRedisLimiter_Unreachable(t *testing.T) {
	t.Parallel()

	t.Run("allow_fails_promptly", func(t *testing.T) {
		t.Parallel()
		client, err := NewRedisClient("redis://" + deadAddr(t) + "/0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		l := NewRedisLimiter(client, "taskflow-test")
		// A generous deadline: the client's own limits must stop the
		// call long before it.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err = l.Allow(ctx, "k", 1, time.Minute)
		took := time.Since(start)
		if err == nil {
			t.Fatal("Allow against a closed port: nil error")
		}
		if errors.Is(err, redis.Nil) {
			t.Fatalf("Allow: %v reads as redis.Nil", err)
		}
		if took > 2*time.Second {
			t.Fatalf("Allow took %v, want < 2s", took)
		}
	})

	t.Run("no_limit_needs_no_round_trip", func(t *testing.T) {
		t.Parallel()
		client, err := NewRedisClient("redis://" + deadAddr(t) + "/0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		l := NewRedisLimiter(client, "taskflow-test")
		if d, err := l.Allow(t.Context(), "k", 0, time.Minute); err != nil || !d.Allowed {
			t.Fatalf("limit 0 against a closed port: %+v, %v; want allowed, nil", d, err)
		}
	})
}

func BenchmarkRedisLimiter_Allow(b *testing.B) {
	c := testRedisClient(b)
	l := newTestRedisLimiter(b, c)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, "login:ip:127.0.0.1", 1<<30, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
