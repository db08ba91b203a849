package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/cachetest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

func testRedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// testRedisClient connects to the test Redis, or skips (fails under
// CI=true) when it does not answer.
func testRedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	url := testRedisURL()
	c, err := NewRedisClient(url)
	if err != nil {
		tb.Fatalf("NewRedisClient(%q): %v", url, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis at %s unreachable (CI=true, so this fails): %v", url, err)
		}
		tb.Skipf("redis at %s unreachable; set TEST_REDIS_URL or start it: %v", url, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// newTestRedis returns a cache under a prefix of its own, whose keys are
// deleted when tb ends.
func newTestRedis(tb testing.TB, c *redis.Client, ttl time.Duration) *Redis {
	tb.Helper()
	prefix := "taskflow-test:" + rand.Text()[:12]
	tb.Cleanup(func() {
		// tb's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+":*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("scan %s:*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("delete %s:*: %v", prefix, err)
			}
		}
	})
	return NewRedis(c, prefix, ttl, testBreaker())
}

// testBreaker is a breaker that logs nowhere and that no probe closes: a
// test that opens it sees every later call skipped.
func testBreaker() *Breaker {
	return NewBreaker(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// epochOf reads r's epoch from Redis.
func epochOf(t *testing.T, r *Redis) uint64 {
	t.Helper()
	epoch, err := r.client.Get(t.Context(), r.epochKey).Uint64()
	if err != nil {
		t.Fatalf("epoch: %v", err)
	}
	return epoch
}

func TestRedis_ListCacheContract(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	cachetest.Run(t, func(t *testing.T, ttl time.Duration) ports.ListCache {
		return newTestRedis(t, c, ttl)
	})
}

// Two replicas: one Redis and prefix, a near cache and breaker each.
func TestRedis_RefusalsContract(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	cachetest.RunRefusals(t, func(t *testing.T, ttl time.Duration) (ports.ListCache, ports.ListCache) {
		a := newTestRedis(t, c, ttl)
		return a, NewRedis(c, a.prefix, ttl, testBreaker())
	})
}

// A refusal is an entry like any other: under the installation's prefix,
// the organization's hash tag and the sessions space's generation, with
// the cache's TTL.
func TestRedis_RefusalKey(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	r := newTestRedis(t, c, time.Minute)
	ctx := t.Context()
	cachetest.RefuseOnce(t, r, 9, 7, 71)
	gens, err := r.Generations(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("%s:org:{9}:s:g%d:p2:7:71", r.prefix, gens[ports.SpaceSessions])
	if v, err := c.Get(ctx, k).Result(); err != nil || v != "-" {
		t.Fatalf("GET %s = %q, %v; want the refusal", k, v, err)
	}
	if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL %s = %v, %v; want within the cache's minute", k, ttl, err)
	}
}

func TestRedis_Keys(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)

	t.Run("follow_the_documented_layout", func(t *testing.T) {
		t.Parallel()
		r := newTestRedis(t, c, time.Minute)
		ctx := t.Context()
		if err := r.Invalidate(ctx, 7, tasks); err != nil {
			t.Fatal(err)
		}
		gens, err := r.Generations(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		counter, err := c.Get(ctx, r.prefix+":org:{7}:t:gen").Uint64()
		if err != nil {
			t.Fatalf("generation key: %v", err)
		}
		epoch, err := c.Get(ctx, r.prefix+":epoch").Uint64()
		if err != nil {
			t.Fatalf("epoch key: %v", err)
		}
		if gens[tasks] != epoch^counter {
			t.Fatalf("generation = %#x, want epoch %#x XOR counter %#x", gens[tasks], epoch, counter)
		}
		if err := r.Set(ctx, 7, tasks, gens[tasks], "status=CREATED", []byte("v")); err != nil {
			t.Fatal(err)
		}
		entry := fmt.Sprintf("%s:org:{7}:t:g%d:status=CREATED", r.prefix, gens[tasks])
		if v, err := c.Get(ctx, entry).Result(); err != nil || v != "v" {
			t.Errorf("entry key = %q, %v; want \"v\"", v, err)
		}
		if ttl, err := c.PTTL(ctx, entry).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
			t.Errorf("entry TTL = %v, %v; want (0, 1m]", ttl, err)
		}
		for _, k := range []string{r.prefix + ":org:{7}:t:gen", r.prefix + ":org:{7}:s:gen", r.prefix + ":epoch"} {
			if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl < MinKeyTTL-time.Minute || ttl > MinKeyTTL {
				t.Errorf("%s TTL = %v, %v; want about %v", k, ttl, err, MinKeyTTL)
			}
		}
	})

	t.Run("a_corrupt_generation_is_an_error", func(t *testing.T) {
		t.Parallel()
		r := newTestRedis(t, c, time.Minute)
		ctx := t.Context()
		if err := c.Set(ctx, r.genKey(1, tasks), "not-a-number", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := lookup(ctx, r, 1, "k"); err == nil {
			t.Fatal("Get with a corrupt generation: nil error")
		}
		if err := r.Invalidate(ctx, 1, tasks); err == nil {
			t.Fatal("Invalidate of a corrupt generation: nil error")
		}
	})
}

// deadAddr returns a loopback address on which nothing listens.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestRedis_Unreachable(t *testing.T) {
	t.Parallel()

	t.Run("every_call_fails_promptly", func(t *testing.T) {
		t.Parallel()
		client, err := NewRedisClient("redis://" + deadAddr(t) + "/0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		r := NewRedis(client, "taskflow-test", time.Minute, testBreaker())
		// A generous deadline: the client's own limits must stop the
		// call long before it.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()

		calls := map[string]func() error{
			"Get":        func() error { _, _, err := lookup(ctx, r, 1, "k"); return err },
			"Set":        func() error { return r.Set(ctx, 1, tasks, 0, "k", []byte("v")) },
			"Invalidate": func() error { return r.Invalidate(ctx, 1, tasks) },
			"Ping":       func() error { return r.Ping(ctx) },
		}
		for name, call := range calls {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if err == nil {
				t.Errorf("%s against a closed port: nil error", name)
			}
			if errors.Is(err, redis.Nil) {
				t.Errorf("%s: %v reads as a miss", name, err)
			}
			if took > 2*time.Second {
				t.Errorf("%s took %v, want < 2s", name, took)
			}
		}
	})

	t.Run("a_stalled_server_is_cut_off_at_the_request_deadline", func(t *testing.T) {
		t.Parallel()
		// A server that accepts and never answers: only a deadline ends
		// the wait.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			conns []net.Conn
		)
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, conn)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			_ = l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				_ = c.Close()
			}
		})
		client, err := NewRedisClient("redis://" + l.Addr().String() + "/0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		r := NewRedis(client, "taskflow-test", time.Minute, testBreaker())

		// Shorter than the client's 500ms read timeout: only an honoured
		// context deadline ends the call this early.
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, _, err = lookup(ctx, r, 1, "k")
		if err == nil {
			t.Fatal("Get against a server that never answers: nil error")
		}
		// Which limit ended the call, not how long it took: the context's
		// deadline says context.DeadlineExceeded, the client's own read
		// timeout an i/o timeout.
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get with a 100ms deadline ended with %v, want the context's deadline", err)
		}
	})
}

func TestNewRedisClient(t *testing.T) {
	t.Parallel()

	t.Run("sets_short_timeouts_and_honours_deadlines", func(t *testing.T) {
		t.Parallel()
		c, err := NewRedisClient("redis://127.0.0.1:6379/3")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.Options()
		if !o.ContextTimeoutEnabled || o.DialTimeout != 500*time.Millisecond ||
			o.ReadTimeout != 500*time.Millisecond || o.WriteTimeout != 500*time.Millisecond || o.DB != 3 {
			t.Fatalf("options: ctx timeout %v, dial %v, read %v, write %v, db %d",
				o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.DB)
		}
	})

	t.Run("keeps_what_the_url_sets", func(t *testing.T) {
		t.Parallel()
		c, err := NewRedisClient("redis://127.0.0.1:6379/0?dial_timeout=2s&pool_size=3")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if o := c.Options(); o.DialTimeout != 2*time.Second || o.PoolSize != 3 {
			t.Fatalf("dial %v, pool %d; want the URL's 2s and 3", o.DialTimeout, o.PoolSize)
		}
	})

	t.Run("rejects_a_bad_url", func(t *testing.T) {
		t.Parallel()
		if _, err := NewRedisClient("http://127.0.0.1:6379"); err == nil {
			t.Fatal("nil error for an http URL")
		}
	})
}

func BenchmarkRedis_GetHit(b *testing.B) {
	c := testRedisClient(b)
	r := newTestRedis(b, c, time.Hour)
	ctx := b.Context()
	_, gen, err := lookup(ctx, r, 1, "status=CREATED&limit=20")
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Set(ctx, 1, tasks, gen, "status=CREATED&limit=20", make([]byte, 4096)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, _, err := lookup(ctx, r, 1, "status=CREATED&limit=20"); err != nil || v == nil {
			b.Fatal(fmt.Sprint("miss: ", err))
		}
	}
}

// Two Redis values over one prefix are two replicas of the service.
func TestRedis_Replicas(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)

	t.Run("an_invalidation_by_one_is_seen_by_the_next_get_of_the_other", func(t *testing.T) {
		t.Parallel()
		a := newTestRedis(t, c, time.Minute)
		b := NewRedis(c, a.prefix, time.Minute, testBreaker())
		ctx := t.Context()
		_, gen, err := lookup(ctx, a, 1, "k")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Set(ctx, 1, tasks, gen, "k", []byte("old")); err != nil {
			t.Fatal(err)
		}
		// Served from a's near cache from now on: gone from Redis, still
		// found.
		if err := c.Del(ctx, a.entryKey(1, tasks, gen, "k")).Err(); err != nil {
			t.Fatal(err)
		}
		if v, _, err := lookup(ctx, a, 1, "k"); err != nil || string(v) != "old" {
			t.Fatalf("a.Get after its own Set = %q, %v; want the near copy \"old\"", v, err)
		}
		if err := b.Invalidate(ctx, 1, tasks); err != nil {
			t.Fatal(err)
		}
		v, gen2, err := lookup(ctx, a, 1, "k")
		if err != nil || v != nil {
			t.Fatalf("a.Get after b.Invalidate = %q, %v; want a miss", v, err)
		}
		if gen2 == gen {
			t.Fatalf("generation after b.Invalidate = %d, the same as before", gen2)
		}
		if err := b.Set(ctx, 1, tasks, gen2, "k", []byte("new")); err != nil {
			t.Fatal(err)
		}
		if v, _, err := lookup(ctx, a, 1, "k"); err != nil || string(v) != "new" {
			t.Fatalf("a.Get after b.Set = %q, %v; want \"new\"", v, err)
		}
	})

	t.Run("a_near_copy_lives_no_longer_than_the_entry_in_redis", func(t *testing.T) {
		t.Parallel()
		a := newTestRedis(t, c, time.Hour)
		b := NewRedis(c, a.prefix, 300*time.Millisecond, testBreaker())
		ctx := t.Context()
		_, gen, err := lookup(ctx, b, 1, "k")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Set(ctx, 1, tasks, gen, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if v, _, err := lookup(ctx, a, 1, "k"); err != nil || string(v) != "v" {
			t.Fatalf("a.Get = %q, %v; want \"v\"", v, err)
		}
		time.Sleep(400 * time.Millisecond)
		if v, _, err := lookup(ctx, a, 1, "k"); err != nil || v != nil {
			t.Fatalf("a.Get after the entry's TTL = %q, %v; want a miss", v, err)
		}
	})

	t.Run("concurrent_gets_of_many_orgs_each_see_their_own_generation", func(t *testing.T) {
		t.Parallel()
		a := newTestRedis(t, c, time.Minute)
		ctx := t.Context()
		// org n is invalidated n times, so its counter is n past where
		// it started.
		const orgs = 20
		var want [orgs + 1]uint64
		for org := 1; org <= orgs; org++ {
			gens, err := a.Generations(ctx, domain.OrgID(org))
			if err != nil {
				t.Fatal(err)
			}
			for range org {
				if err := a.Invalidate(ctx, domain.OrgID(org), tasks); err != nil {
					t.Fatal(err)
				}
			}
			want[org] = gens[tasks] ^ epochOf(t, a) // the counter it started at
			want[org] += uint64(org)
		}
		epoch := epochOf(t, a)
		var wg sync.WaitGroup
		for w := range 64 {
			wg.Go(func() {
				for i := range 50 {
					org := domain.OrgID((w+i)%orgs + 1)
					_, gen, err := lookup(ctx, a, org, "k")
					if err != nil || gen^epoch != want[org] {
						t.Errorf("Get(org %d) counter = %d, %v; want %d", org, gen^epoch, err, want[org])
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

func BenchmarkRedis_GetHitParallel(b *testing.B) {
	c := testRedisClient(b)
	r := newTestRedis(b, c, time.Hour)
	ctx := b.Context()
	const orgs = 100
	for org := range domain.OrgID(orgs) {
		_, gen, err := lookup(ctx, r, org, "status=CREATED&limit=20")
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Set(ctx, org, tasks, gen, "status=CREATED&limit=20", make([]byte, 2500)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(16) // 32 goroutines on 2 cores: the bench's 32 connections
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		org := domain.OrgID(next.Add(1) % orgs)
		for pb.Next() {
			if v, _, err := lookup(ctx, r, org, "status=CREATED&limit=20"); err != nil || v == nil {
				b.Error(fmt.Sprint("miss: ", err))
				return
			}
		}
	})
}

// The generation keys kept per organization are each organization's own,
// and their number stays bounded however many organizations read.
func TestRedis_KeysOfAreScopedAndBounded(t *testing.T) {
	t.Parallel()
	c, err := NewRedisClient(testRedisURL()) // never used: keysOf makes no call
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := NewRedis(c, "p", time.Minute, NewBreaker(slog.New(slog.DiscardHandler)))
	for org, want := range map[domain.OrgID]string{1: "p:org:{1}:", 22: "p:org:{22}:"} {
		k := r.keysOf(org)
		if k.keys[0] != "p:epoch" || k.mget[0] != "mget" || len(k.mget) != 1+len(k.keys) {
			t.Fatalf("keys %v, mget %v", k.keys, k.mget)
		}
		for i, key := range k.keys[1:] {
			if !strings.HasPrefix(key, want) || k.mget[2+i] != key {
				t.Fatalf("org %d: key %q, want the prefix %q, in the MGET too", org, key, want)
			}
		}
		if r.keysOf(org) != k {
			t.Fatalf("org %d: keys built again", org)
		}
	}
	for org := range domain.OrgID(3 * maxOrgKeys) {
		r.keysOf(org + 100)
	}
	if n := r.orgCount.Load(); n > maxOrgKeys {
		t.Fatalf("%d organizations' keys kept, want at most %d", n, maxOrgKeys)
	}
}
