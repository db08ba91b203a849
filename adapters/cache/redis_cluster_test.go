package cache

import (
	"context"
	"crypto/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/cachetest"
	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// testCluster starts a three-master cluster of the test's own.
func testCluster(t *testing.T) *faulttest.RedisCluster {
	t.Helper()
	return faulttest.StartRedisCluster(t, 3)
}

// testClusterClient is a client of c as the service makes it.
func testClusterClient(t testing.TB, c *faulttest.RedisCluster) *redis.ClusterClient {
	t.Helper()
	client, err := NewRedisClusterClient(c.URL())
	if err != nil {
		t.Fatalf("NewRedisClusterClient(%q): %v", c.URL(), err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func newClusterRedis(client redis.UniversalClient, ttl time.Duration) *Redis {
	return NewRedis(client, "taskflow-test:"+rand.Text()[:12], ttl, testBreaker())
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cl := testCluster(t)
	client := testClusterClient(t, cl)

	t.Run("list_cache_contract", func(t *testing.T) {
		t.Parallel()
		cachetest.Run(t, func(t *testing.T, ttl time.Duration) ports.ListCache {
			return newClusterRedis(client, ttl)
		})
	})

	t.Run("rate_limiter_contract", func(t *testing.T) {
		t.Parallel()
		cachetest.RunRateLimiter(t, func(t *testing.T) ports.RateLimiter {
			return NewRedisLimiter(client, "taskflow-test:"+rand.Text()[:12])
		})
	})

	t.Run("an_orgs_keys_share_one_slot", func(t *testing.T) {
		t.Parallel()
		r := newClusterRedis(client, time.Minute)
		for _, org := range []domain.OrgID{1, 2, 42, 1 << 40} {
			keys := []string{
				r.genKey(org, ports.SpaceTasks), r.genKey(org, ports.SpaceSessions),
				r.entryKey(org, ports.SpaceTasks, 7, "limit=50"), r.entryKey(org, ports.SpaceSessions, 9, "s:1"),
			}
			slot0, err := client.ClusterKeySlot(t.Context(), keys[0]).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys[1:] {
				if slot, err := client.ClusterKeySlot(t.Context(), k).Result(); err != nil || slot != slot0 {
					t.Fatalf("org %d: %s in slot %d (%v), %s in slot %d", org, keys[0], slot0, err, k, slot)
				}
			}
		}
	})

	t.Run("an_epoch_moved_by_one_replica_is_used_by_the_other_within_EpochEvery", func(t *testing.T) {
		t.Parallel()
		a := newClusterRedis(client, time.Minute)
		b := NewRedis(client, a.prefix, time.Minute, testBreaker())
		ctx := t.Context()
		before, err := a.Generations(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if g, err := b.Generations(ctx, 1); err != nil || g != before {
			t.Fatalf("b's generations = %v, %v; a's are %v", g, err, before)
		}
		if err := b.MoveEpoch(ctx); err != nil {
			t.Fatal(err)
		}
		// b uses its own move at once.
		if g, err := b.Generations(ctx, 1); err != nil || g[tasks] == before[tasks] {
			t.Fatalf("b's generation after its MoveEpoch = %v, %v; before it was %v", g, err, before)
		}
		moved := time.Now()
		faulttest.WaitFor(t, "a to use the moved epoch", 2*time.Second, func() bool {
			g, err := a.Generations(ctx, 1)
			return err == nil && g[tasks] != before[tasks]
		})
		if d := time.Since(moved); d > EpochEvery+500*time.Millisecond {
			t.Fatalf("a used the moved epoch after %s; EpochEvery is %s", d, EpochEvery)
		}
	})

	t.Run("an_invalidation_by_one_replica_is_seen_by_the_next_read_of_the_other", func(t *testing.T) {
		t.Parallel()
		a := newClusterRedis(client, time.Minute)
		b := NewRedis(client, a.prefix, time.Minute, testBreaker())
		ctx := t.Context()
		for org := domain.OrgID(1); org <= 20; org++ {
			_, gen, err := lookup(ctx, a, org, "k")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Set(ctx, org, tasks, gen, "k", []byte("old")); err != nil {
				t.Fatal(err)
			}
			if err := b.Invalidate(ctx, org, tasks); err != nil {
				t.Fatal(err)
			}
			if v, gen2, err := lookup(ctx, a, org, "k"); err != nil || v != nil || gen2 == gen {
				t.Fatalf("org %d: a's read after b.Invalidate = %q (generation %d, was %d), %v; want a miss", org, v, gen2, gen, err)
			}
		}
	})

	t.Run("ping_and_watch_pass_on_a_healthy_cluster", func(t *testing.T) {
		t.Parallel()
		r := newClusterRedis(client, time.Minute)
		if err := r.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		for range 2 {
			if err := r.WatchCluster(t.Context()); err != nil {
				t.Fatalf("WatchCluster: %v", err)
			}
		}
	})
}

// A master killed with a replica to take over: the replica may lack the
// master's last writes, an invalidation among them, so the failover must
// open the breaker and, once the cluster answers, move the epoch.
func TestRedisCluster_FailoverMovesTheEpoch(t *testing.T) {
	t.Parallel()
	cl := faulttest.StartRedisCluster(t, 6)
	client := testClusterClient(t, cl)
	breaker := testBreaker()
	r := NewRedis(client, "taskflow-test:"+rand.Text()[:12], time.Minute, breaker)
	probe := NewProbe(breaker, r.Ping, r.MoveEpoch)
	probe.Watch, probe.WatchEvery = r.WatchCluster, 100*time.Millisecond
	probe.Interval = 50 * time.Millisecond
	probe.Start()
	t.Cleanup(probe.Stop)
	ctx := t.Context()

	const org domain.OrgID = 7
	_, gen, err := lookup(ctx, r, org, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, org, tasks, gen, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Seen once, so that a move is news.
	if err := r.WatchCluster(ctx); err != nil {
		t.Fatal(err)
	}
	master := cl.MasterOf(r.genKey(org, tasks))
	master.Kill()
	faulttest.WaitFor(t, "the breaker to open", 10*time.Second, breaker.Open)
	// Closed once the cluster is ok and the epoch moved; the watch may
	// open it once more when it sees the promotion after that (a second
	// cold cache, no harm): the test waits for a read that goes through.
	var (
		v    []byte
		gen2 uint64
	)
	faulttest.WaitFor(t, "a read through the promoted replica", 30*time.Second, func() bool {
		v, gen2, err = lookup(ctx, r, org, "k")
		return err == nil
	})
	if got := cl.MasterOf(r.genKey(org, tasks)); got == master {
		t.Fatal("the killed master still serves the org")
	}
	// The read is under the moved epoch: the entry stored before the
	// failover is no longer reachable, whatever the promoted replica kept.
	if gen2 == gen || v != nil {
		t.Fatalf("after the failover: generation %d (was %d), value %q; want a new generation and a miss", gen2, gen, v)
	}
}

// The cluster's configuration epoch moves with a failover made on
// purpose too (CLUSTER FAILOVER on a replica, no data lost): WatchCluster
// says so.
func TestRedisCluster_WatchSeesAFailover(t *testing.T) {
	t.Parallel()
	cl := faulttest.StartRedisCluster(t, 6)
	client := testClusterClient(t, cl)
	r := newClusterRedis(client, time.Minute)
	ctx := t.Context()
	if err := r.WatchCluster(ctx); err != nil {
		t.Fatal(err)
	}
	var replica *faulttest.Redis
	for _, n := range cl.Nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr()})
		info, _ := c.Info(ctx, "replication").Result()
		_ = c.Close()
		if strings.Contains(info, "role:slave") {
			replica = n
			break
		}
	}
	if replica == nil {
		t.Fatal("no replica in a cluster of six")
	}
	c := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	defer c.Close()
	if err := c.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatal(err)
	}
	faulttest.WaitFor(t, "WatchCluster to report the failover", 10*time.Second, func() bool {
		err := r.WatchCluster(context.Background())
		return err != nil && strings.Contains(err.Error(), "a failover")
	})
}

// A failover that lost an invalidation: replica A invalidates an org
// (its INCR acknowledged by the master), the master dies, and its replica
// is promoted without that INCR, so the counter is back on the generation
// that replica B holds a stale entry under in its near cache. B sent
// nothing during the outage, so no error told it: its probe's Watch must,
// and the epoch must move, before B serves the entry again. The lost write
// is made by hand (the counter set back on the promoted replica): on
// loopback the replication stream is never behind long enough to lose it
// on cue.
func TestRedisCluster_AFailoverThatLostAnInvalidationRevivesNothing(t *testing.T) {
	t.Parallel()
	cl := faulttest.StartRedisCluster(t, 6)
	prefix := "taskflow-test:" + rand.Text()[:12]
	replica := func() (*Redis, *Breaker) {
		client := testClusterClient(t, cl)
		breaker := testBreaker()
		r := NewRedis(client, prefix, time.Minute, breaker)
		probe := NewProbe(breaker, r.Ping, r.MoveEpoch)
		probe.Watch, probe.WatchEvery = r.WatchCluster, 100*time.Millisecond
		probe.Interval = 50 * time.Millisecond
		probe.Start()
		t.Cleanup(probe.Stop)
		return r, breaker
	}
	a, _ := replica()
	b, _ := replica()
	ctx := t.Context()
	const org domain.OrgID = 11

	_, gen, err := lookup(ctx, b, org, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, org, tasks, gen, "k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	key := a.genKey(org, tasks)
	before, err := a.client.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(ctx, org, tasks); err != nil {
		t.Fatal(err)
	}
	// Both probes have watched the healthy cluster: a move is news.
	faulttest.WaitFor(t, "both probes to watch the cluster", 5*time.Second, func() bool {
		return a.seenConfigEpoch() != 0 && b.seenConfigEpoch() != 0
	})

	master := cl.MasterOf(key)
	master.Kill()
	cl.WaitOK()
	// The INCR is lost: the counter is back where B's entry was stored.
	promoted := cl.MasterOf(key)
	pc := redis.NewClient(&redis.Options{Addr: promoted.Addr()})
	defer pc.Close()
	if err := pc.Set(ctx, key, before, 0).Err(); err != nil {
		t.Fatalf("set the counter back on the promoted replica: %v", err)
	}
	okAt := time.Now()
	faulttest.WaitFor(t, "B to read the org under a new generation", 2*time.Second, func() bool {
		v, _, err := lookup(ctx, b, org, "k")
		return err == nil && v == nil
	})
	t.Logf("B read the org afresh %v after the cluster was ok", time.Since(okAt).Round(time.Millisecond))
	// And it stays so (a read the breaker skips is no answer).
	for range 3 {
		if v, _, err := lookup(ctx, b, org, "k"); v != nil {
			t.Fatalf("B's read after the failover = %q, %v; want a miss", v, err)
		}
	}
}

func (r *Redis) seenConfigEpoch() int64 {
	r.epochMu.Lock()
	defer r.epochMu.Unlock()
	return r.configEpoch
}

// The cached list on a cluster, as BenchmarkRedis_GetHitParallel on one
// node: each read is one MGET on the org's node (and the epoch, at most
// every EpochEvery), pipelined with concurrent readers' by node.
func BenchmarkRedisCluster_GetHitParallel(b *testing.B) {
	cl := faulttest.StartRedisCluster(b, 3)
	r := newClusterRedis(testClusterClient(b, cl), time.Hour)
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
	b.SetParallelism(16)
	b.ResetTimer() // the cluster's start is not the read's cost
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		org := domain.OrgID(next.Add(1) % orgs)
		for pb.Next() {
			if v, _, err := lookup(ctx, r, org, "status=CREATED&limit=20"); err != nil || v == nil {
				b.Error("miss: ", err)
				return
			}
		}
	})
}
