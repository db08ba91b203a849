package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// A frozen Redis (SIGSTOP: connections open, nothing answers) costs the
// first call its timeout, and no other: every call after it is skipped at
// once until the probe finds Redis answering, and then the epoch has moved.
func TestRedis_Breaker_FrozenRedisCostsOneTimeout(t *testing.T) {
	t.Parallel()
	srv, client := faultRedis(t)
	breaker := testBreaker()
	r := NewRedis(client, "taskflow-test", time.Minute, breaker)
	probe := NewProbe(breaker, r.Ping, r.MoveEpoch)
	ctx := t.Context()
	if _, gen, err := lookup(ctx, r, 1, "k"); err != nil {
		t.Fatal(err)
	} else if err := r.Set(ctx, 1, tasks, gen, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	before := epochOf(t, r)

	srv.Freeze()
	// A call sends a flight that Redis never answers; twenty more queue
	// behind it. All of them are answered when that flight times out:
	// the queued ones are failed with it, not sent on a flight of their
	// own to wait out another timeout.
	pipeState := func() (flights, queued int) {
		r.pipe.mu.Lock()
		defer r.pipe.mu.Unlock()
		return r.pipe.flights, len(r.pipe.queue)
	}
	began := time.Now()
	var wg sync.WaitGroup
	call := func() {
		if _, err := r.Generations(ctx, 1); err == nil {
			t.Error("Generations against a frozen Redis: nil error")
		}
	}
	wg.Go(call)
	faulttest.WaitFor(t, "the first flight to leave", time.Second, func() bool { f, q := pipeState(); return f == 1 && q == 0 })
	for range 20 {
		wg.Go(call)
	}
	faulttest.WaitFor(t, "twenty calls to queue behind it", time.Second, func() bool { _, q := pipeState(); return q == 20 })
	wg.Wait()
	took := time.Since(began)
	t.Logf("21 calls against a frozen Redis, 20 of them queued behind the first: all failed after %v", took.Round(time.Millisecond))
	// A queued call sent on a flight of its own would have waited out a
	// second timeout.
	if took >= 2*CommandTimeout {
		t.Fatalf("calls against a frozen Redis took %v: some waited out a second CommandTimeout (%v)", took, CommandTimeout)
	}
	if !breaker.Open() {
		t.Fatal("the breaker is closed after a timeout")
	}
	calls := map[string]func() error{
		"Generations": func() error { _, err := r.Generations(ctx, 1); return err },
		"Get":         func() error { _, err := r.Get(ctx, 1, tasks, 0, "k"); return err },
		"Set":         func() error { return r.Set(ctx, 1, tasks, 0, "k", []byte("v")) },
		"Invalidate":  func() error { return r.Invalidate(ctx, 1, tasks) },
	}
	for range 10 {
		for name, call := range calls {
			// ErrCacheSkipped is returned only by a call that did not go
			// to Redis.
			if err := call(); !errors.Is(err, ports.ErrCacheSkipped) {
				t.Fatalf("%s with the breaker open: %v, want ports.ErrCacheSkipped", name, err)
			}
		}
	}
	if probe.Step(ctx) {
		t.Fatal("a probe step closed the breaker while Redis is frozen")
	}

	srv.Thaw()
	steps := 0
	faulttest.WaitFor(t, "a probe step to close the breaker", 5*time.Second, func() bool {
		steps++
		return probe.Step(ctx)
	})
	t.Logf("closed by probe step %d after the thaw", steps)
	if after := epochOf(t, r); after == before {
		t.Fatalf("epoch %d did not move on recovery", after)
	}
	// The entry from before the outage (and the invalidation that was
	// skipped) are behind a dead generation.
	if v, _, err := lookup(ctx, r, 1, "k"); err != nil || v != nil {
		t.Fatalf("lookup after recovery = %q, %v; want a miss", v, err)
	}
}

// A killed Redis: the first call fails (connection refused, promptly),
// the breaker opens, and a Redis started again empty is back in use
// after one probe step.
func TestRedis_Breaker_KilledRedisIsSkippedUntilItIsBack(t *testing.T) {
	t.Parallel()
	srv, client := faultRedis(t)
	breaker := testBreaker()
	r := NewRedis(client, "taskflow-test", time.Minute, breaker)
	probe := NewProbe(breaker, r.Ping, r.MoveEpoch)
	ctx := t.Context()
	if err := r.Invalidate(ctx, 1, tasks); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := r.Invalidate(ctx, 1, tasks); err == nil || !breaker.Open() {
		t.Fatalf("Invalidate against a killed Redis: %v, breaker open %v; want an error and an open breaker", err, breaker.Open())
	}
	if probe.Step(ctx) {
		t.Fatal("a probe step closed the breaker while Redis is dead")
	}
	srv.Start()
	faulttest.WaitFor(t, "a probe step to close the breaker", 5*time.Second, func() bool { return probe.Step(ctx) })
	if _, _, err := lookup(ctx, r, 1, "k"); err != nil {
		t.Fatalf("lookup after recovery: %v", err)
	}
}

// A replica cut off from Redis acknowledges a write whose invalidation is
// lost; another replica, which never lost Redis, still holds the list
// from before, in Redis and in its near cache. When the first replica's
// probe finds Redis again it moves the epoch, and the other replica's
// next lookup misses.
func TestRedis_Breaker_RecoveryMakesEveryReplicaForgetTheOldEntries(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	other := newTestRedis(t, c, time.Minute)
	breaker := testBreaker()
	cutOff := NewRedis(c, other.prefix, time.Minute, breaker)
	ctx := t.Context()

	_, gen, err := lookup(ctx, other, 1, "list")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Set(ctx, 1, tasks, gen, "list", []byte("before the write")); err != nil {
		t.Fatal(err)
	}
	// A timeout, as the cut-off replica would see it.
	breaker.Trip("test", context.DeadlineExceeded)
	if err := cutOff.Invalidate(ctx, 1, tasks); !errors.Is(err, ports.ErrCacheSkipped) {
		t.Fatalf("Invalidate with the breaker open: %v, want skipped", err)
	}
	if v, _, _ := lookup(ctx, other, 1, "list"); string(v) != "before the write" {
		t.Fatalf("the other replica = %q; the test needs it to hold the old list", v)
	}

	probe := NewProbe(breaker, cutOff.Ping, cutOff.MoveEpoch)
	if !probe.Step(ctx) {
		t.Fatal("the probe did not close the breaker with Redis answering")
	}
	if v, gen2, err := lookup(ctx, other, 1, "list"); err != nil || v != nil || gen2 == gen {
		t.Fatalf("the other replica after recovery = %q under %#x (was %#x), %v; want a miss under a new generation", v, gen2, gen, err)
	}
}

// Writes keep coming while the probe recovers. Their invalidations must
// reach Redis rather than be skipped and counted as failures, or a steady
// flow of writes would keep the breaker open for ever.
func TestRedis_Breaker_WritesDuringRecoveryLetItClose(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	breaker := testBreaker()
	r := NewRedis(c, newTestRedis(t, c, time.Minute).prefix, time.Minute, breaker)
	ctx := t.Context()
	if _, err := r.Generations(ctx, 1); err != nil {
		t.Fatal(err)
	}
	counter := func() uint64 {
		t.Helper()
		n, err := c.Get(ctx, r.genKey(1, tasks)).Uint64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := counter()
	probe := NewProbe(breaker, r.Ping, func(ctx context.Context) error {
		// A write's invalidation lands between the ping and the move.
		if err := r.Invalidate(ctx, 1, tasks); err != nil {
			return err
		}
		return r.MoveEpoch(ctx)
	})
	breaker.Trip("test", context.DeadlineExceeded)
	if !probe.Step(ctx) {
		t.Fatal("an invalidation made while the probe recovered kept the breaker open")
	}
	if after := counter(); after != before+1 {
		t.Fatalf("counter %d after an invalidation made while the probe recovered, want %d", after, before+1)
	}
}

// A request whose deadline is spent (on a slow query, say) before it
// stores its list says nothing about Redis: the breaker stays closed, and
// the cache is not flushed for it.
func TestRedis_Breaker_ACallersOwnDeadlineDoesNotOpenIt(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	breaker := testBreaker()
	r := NewRedis(c, newTestRedis(t, c, time.Minute).prefix, time.Minute, breaker)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, _ = r.Generations(ctx, 1)
	_, _ = r.Get(ctx, 1, tasks, 1, "k")
	_ = r.Set(ctx, 1, tasks, 1, "k", []byte("v"))
	if breaker.Open() {
		t.Fatal("a caller's spent deadline opened the breaker")
	}
}

// A failure reported while the probe recovers may postdate the epoch
// move: the breaker stays open, and the next step moves the epoch again.
func TestProbe_AFailureDuringRecoveryKeepsTheBreakerOpen(t *testing.T) {
	t.Parallel()
	breaker := testBreaker()
	moves := 0
	failDuringMove := true
	probe := NewProbe(breaker, func(context.Context) error { return nil }, func(context.Context) error {
		moves++
		if failDuringMove {
			breaker.Trip("invalidate", errors.New("timeout"))
			failDuringMove = false
		}
		return nil
	})
	if !probe.Step(t.Context()) || moves != 0 {
		t.Fatalf("a step with the breaker closed moved the epoch %d times, or did not report it closed", moves)
	}
	breaker.Trip("generations", errors.New("timeout"))
	if probe.Step(t.Context()) {
		t.Fatal("the breaker closed although a failure came in during the epoch move")
	}
	if !breaker.Open() {
		t.Fatal("the breaker is closed")
	}
	if !probe.Step(t.Context()) || breaker.Open() || moves != 2 {
		t.Fatalf("second step: open %v after %d moves; want closed after 2", breaker.Open(), moves)
	}
}

// Neither a failed ping nor a failed epoch move closes the breaker.
func TestProbe_ClosesOnlyAfterPingAndRecovery(t *testing.T) {
	t.Parallel()
	breaker := testBreaker()
	var pingErr, moveErr error
	probe := NewProbe(breaker,
		func(context.Context) error { return pingErr },
		func(context.Context) error { return moveErr })
	breaker.Trip("get", errors.New("timeout"))
	pingErr = errors.New("refused")
	if probe.Step(t.Context()) {
		t.Fatal("closed with the ping failing")
	}
	pingErr, moveErr = nil, errors.New("OOM")
	if probe.Step(t.Context()) {
		t.Fatal("closed with the epoch move failing")
	}
	moveErr = nil
	if !probe.Step(t.Context()) {
		t.Fatal("still open with Redis answering")
	}
}

// The Watch runs while the breaker is closed, at most every WatchEvery,
// and its error opens the breaker, which then closes as after an outage.
func TestProbe_WatchOpensTheBreaker(t *testing.T) {
	t.Parallel()
	breaker := testBreaker()
	moves := 0
	probe := NewProbe(breaker,
		func(context.Context) error { return nil },
		func(context.Context) error { moves++; return nil })
	var watchErr error
	watched := 0
	probe.Watch = func(context.Context) error { watched++; return watchErr }
	probe.WatchEvery = time.Hour
	if !probe.Step(t.Context()) || watched != 1 {
		t.Fatalf("first step: watched %d times, breaker open %v; want one watch and closed", watched, breaker.Open())
	}
	if !probe.Step(t.Context()) || watched != 1 {
		t.Fatalf("a step within WatchEvery watched again (%d times)", watched)
	}
	probe.WatchEvery = 0
	watchErr = errors.New("a failover")
	if probe.Step(t.Context()) || !breaker.Open() {
		t.Fatal("a failing watch left the breaker closed")
	}
	if watched != 2 || moves != 0 {
		t.Fatalf("watched %d times, moved the epoch %d times; want 2 and 0", watched, moves)
	}
	// Open: the probe pings and recovers, without watching.
	if !probe.Step(t.Context()) || breaker.Open() || moves != 1 || watched != 2 {
		t.Fatalf("recovery step: open %v, moves %d, watched %d; want closed, 1, 2", breaker.Open(), moves, watched)
	}
}

// The probe runs on its own between Start and Stop.
func TestProbe_StartRunsStepsUntilStop(t *testing.T) {
	t.Parallel()
	breaker := testBreaker()
	probe := NewProbe(breaker, func(context.Context) error { return nil }, func(context.Context) error { return nil })
	probe.Interval = 5 * time.Millisecond
	probe.Start()
	breaker.Trip("get", errors.New("timeout"))
	faulttest.WaitFor(t, "the running probe to close the breaker", 5*time.Second, func() bool { return !breaker.Open() })
	probe.Stop()
	breaker.Trip("get", errors.New("timeout"))
	time.Sleep(5 * probe.Interval) // nothing to poll: the probe must not run
	if !breaker.Open() {
		t.Fatal("a stopped probe closed the breaker")
	}
}

// The epoch and the counters carry a TTL, renewed by Invalidate, and by a
// replica's first read of an org in each refresh period.
func TestRedis_KeyTTLsAreRenewedAsTheyAreUsed(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	a := newTestRedis(t, c, time.Minute)
	ctx := t.Context()
	if err := a.Invalidate(ctx, 3, tasks); err != nil {
		t.Fatal(err)
	}
	keys := []string{a.epochKey, a.genKey(3, tasks), a.genKey(3, ports.SpaceSessions)}
	shorten := func() {
		t.Helper()
		for _, k := range keys {
			if err := c.PExpire(ctx, k, 10*time.Second).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	ttl := func(k string) time.Duration {
		t.Helper()
		d, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	renewed := func(k string) bool { return ttl(k) > time.Hour }

	shorten()
	if err := a.Invalidate(ctx, 3, tasks); err != nil {
		t.Fatal(err)
	}
	if !renewed(a.genKey(3, tasks)) {
		t.Fatalf("counter TTL after Invalidate = %v, want renewed to about %v", ttl(a.genKey(3, tasks)), a.keyTTL)
	}

	// A replica's first read of org 3 renews all its keys; the next read
	// within the period does not (a write per read would cost Redis
	// more than the cache saves).
	b := NewRedis(c, a.prefix, time.Minute, testBreaker())
	shorten()
	if _, err := b.Generations(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !renewed(k) {
			t.Errorf("%s TTL after a replica's first read = %v, want renewed", k, ttl(k))
		}
	}
	shorten()
	if _, err := b.Generations(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if renewed(a.genKey(3, tasks)) {
		t.Errorf("a second read within the period renewed the counter's TTL")
	}
	b.refreshMu.Lock()
	b.refreshAt = time.Now().Add(-time.Millisecond) // the period is over
	b.refreshMu.Unlock()
	if _, err := b.Generations(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !renewed(k) {
			t.Errorf("%s TTL after the period = %v, want renewed", k, ttl(k))
		}
	}
}

// Under allkeys-lru Redis may evict a counter (or the epoch) while stale
// entries stored under its old generations are alive, in Redis and in a
// near cache. Had the counter started again from 0, the entry stored
// under counter 0 before the first invalidation would be current again.
func TestRedis_ALostCounterNeverRevivesAnOldEntry(t *testing.T) {
	t.Parallel()
	c := testRedisClient(t)
	for _, lost := range []string{"counter", "epoch", "both"} {
		t.Run(lost, func(t *testing.T) {
			t.Parallel()
			a := newTestRedis(t, c, time.Minute)
			b := NewRedis(c, a.prefix, time.Minute, testBreaker()) // no near copy
			ctx := t.Context()
			const org domain.OrgID = 5
			// Entries under three generations; the last one is current.
			var stale []uint64
			for i := range 3 {
				_, gen, err := lookup(ctx, a, org, "list")
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Set(ctx, org, tasks, gen, "list", []byte{'0' + byte(i)}); err != nil {
					t.Fatal(err)
				}
				stale = append(stale, gen)
				if err := a.Invalidate(ctx, org, tasks); err != nil {
					t.Fatal(err)
				}
			}
			var del []string
			if lost != "epoch" {
				del = append(del, a.genKey(org, tasks))
			}
			if lost != "counter" {
				del = append(del, a.epochKey)
			}
			if err := c.Del(ctx, del...).Err(); err != nil {
				t.Fatal(err)
			}
			// Reads, then the writes a busy org would make, with reads
			// between them: no generation they see is an old one.
			for step := range 4 {
				for name, r := range map[string]*Redis{"a (near copies)": a, "b": b} {
					v, gen, err := lookup(ctx, r, org, "list")
					if err != nil {
						t.Fatal(err)
					}
					if v != nil {
						t.Fatalf("%s after losing the %s and %d writes served %q, stored before", name, lost, step, v)
					}
					for _, old := range stale {
						if gen == old {
							t.Fatalf("%s after losing the %s and %d writes reads generation %#x, an old one", name, lost, step, gen)
						}
					}
				}
				if err := b.Invalidate(ctx, org, tasks); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
