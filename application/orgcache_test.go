package application

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// fakeCache is a hand-written ListCache: a map, a switch to make every
// call fail, and counters.
type fakeCache struct {
	mu   sync.Mutex
	data map[string][]byte
	gen  map[domain.OrgID]ports.Generations
	fail bool
	// failInvalidate makes Invalidate alone fail, as an INCR lost in an
	// outage does, while the reads that follow work.
	failInvalidate bool
	getHook        func() // runs inside Get, outside the lock
	calls          atomic.Int64
	genReads       atomic.Int64
}

func newFakeCache() *fakeCache {
	return &fakeCache{data: map[string][]byte{}, gen: map[domain.OrgID]ports.Generations{}}
}

var errDown = errors.New("cache down")

// tasks is the space of the tests that are not about spaces.
const tasks = ports.SpaceTasks

func fakeKey(org domain.OrgID, space ports.CacheSpace, gen uint64, key string) string {
	return fmt.Sprintf("%d/%d/%d/%s", org, space, gen, key)
}

func (f *fakeCache) Generations(_ context.Context, org domain.OrgID) (ports.Generations, error) {
	f.calls.Add(1)
	f.genReads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return ports.Generations{}, errDown
	}
	return f.gen[org], nil
}

func (f *fakeCache) Get(_ context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string) ([]byte, error) {
	f.calls.Add(1)
	if f.getHook != nil {
		f.getHook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errDown
	}
	return f.data[fakeKey(org, space, gen, key)], nil
}

func (f *fakeCache) Set(_ context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string, v []byte) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errDown
	}
	f.data[fakeKey(org, space, gen, key)] = v
	return nil
}

func (f *fakeCache) Invalidate(_ context.Context, org domain.OrgID, space ports.CacheSpace) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail || f.failInvalidate {
		return errDown
	}
	g := f.gen[org]
	g[space]++
	f.gen[org] = g
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOrgCache_HitServesWithoutFetching(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	fetches := 0
	fetch := func() ([]byte, error) { fetches++; return []byte("v"), nil }
	for range 3 {
		got, err := l.load(t.Context(), 1, tasks, "k", fetch)
		if err != nil || string(got) != "v" {
			t.Fatalf("load = %q, %v", got, err)
		}
	}
	if fetches != 1 {
		t.Fatalf("fetched %d times, want 1", fetches)
	}
}

func TestOrgCache_InvalidateMakesTheNextLoadFetch(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	n := 0
	fetch := func() ([]byte, error) { n++; return appendInt(nil, int64(n)), nil }
	a, _ := l.load(t.Context(), 1, tasks, "k", fetch)
	b, _ := l.load(t.Context(), 2, tasks, "k", fetch)
	l.invalidate(t.Context(), 1, tasks)
	a2, _ := l.load(t.Context(), 1, tasks, "k", fetch)
	b2, _ := l.load(t.Context(), 2, tasks, "k", fetch)
	if string(a2) == string(a) {
		t.Fatalf("org 1 served %q after invalidation", a2)
	}
	if string(b2) != string(b) {
		t.Fatalf("org 2 lost its entry when org 1 was invalidated: %q then %q", b, b2)
	}
}

func TestOrgCache_BurstOfMissesMakesOneFetch(t *testing.T) {
	c := newFakeCache()
	l := NewOrgCache(c, quietLog())
	var fetches atomic.Int64
	release := make(chan struct{})
	fetch := func() ([]byte, error) {
		fetches.Add(1)
		<-release
		return []byte("v"), nil
	}
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	ready.Add(20)
	c.getHook = func() { ready.Done() }
	for range 20 {
		wg.Go(func() {
			if got, err := l.load(t.Context(), 1, tasks, "k", fetch); err != nil || string(got) != "v" {
				t.Errorf("load = %q, %v", got, err)
			}
		})
	}
	ready.Wait() // all 20 have missed
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("20 concurrent misses made %d fetches, want 1", n)
	}
}

func TestOrgCache_SameQueryOfTwoOrgsIsNeverShared(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	a, _ := l.load(t.Context(), 1, tasks, "k", func() ([]byte, error) { return []byte("org1"), nil })
	b, _ := l.load(t.Context(), 2, tasks, "k", func() ([]byte, error) { return []byte("org2"), nil })
	if string(a) != "org1" || string(b) != "org2" {
		t.Fatalf("got %q and %q", a, b)
	}
}

func TestOrgCache_FailsOpen(t *testing.T) {
	c := newFakeCache()
	c.fail = true
	l := NewOrgCache(c, quietLog())
	fetches := 0
	fetch := func() ([]byte, error) { fetches++; return []byte("db"), nil }
	for range 5 {
		got, err := l.load(t.Context(), 1, tasks, "k", fetch)
		if err != nil || string(got) != "db" {
			t.Fatalf("load with the cache down = %q, %v; want the database answer", got, err)
		}
	}
	if fetches != 5 {
		t.Fatalf("fetches = %d, want every request served by the database", fetches)
	}
	c.mu.Lock()
	c.fail = false
	c.mu.Unlock()
	for range 2 {
		if _, err := l.load(t.Context(), 1, tasks, "k", fetch); err != nil {
			t.Fatal(err)
		}
	}
	if fetches != 6 {
		t.Fatalf("fetches = %d after recovery, want 6 (one miss, then a hit)", fetches)
	}
}

// setFail switches the fake's failures under its lock.
func (f *fakeCache) setFail(all, invalidate bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.failInvalidate = all, invalidate
}

// An invalidation lost in an outage (the INCR never reached Redis) must not
// let the entry from before the write be served once the cache answers
// again: the org's space stays out of the cache until a retried
// invalidation succeeds. Other orgs keep their entries.
func TestOrgCache_AFailedInvalidationKeepsTheOrgOutOfTheCacheUntilRetried(t *testing.T) {
	c := newFakeCache()
	l := NewOrgCache(c, quietLog())
	ctx := t.Context()
	db := map[domain.OrgID]string{1: "before the write", 2: "org 2"}
	fetches := 0
	fetch := func(org domain.OrgID) func() ([]byte, error) {
		return func() ([]byte, error) { fetches++; return []byte(db[org]), nil }
	}
	for _, org := range []domain.OrgID{1, 2} {
		if _, err := l.load(ctx, org, tasks, "list", fetch(org)); err != nil {
			t.Fatal(err)
		}
	}

	c.setFail(true, false)
	db[1] = "after the write"
	l.invalidate(ctx, 1, tasks) // the write's 201 goes out; its invalidation is lost

	// The cache answers reads again, but invalidations still fail: the
	// entry from before the write is still current in the cache.
	c.setFail(false, true)
	fetches = 0
	for range 3 {
		if got, _ := l.load(ctx, 1, tasks, "list", fetch(1)); string(got) != "after the write" {
			t.Fatalf("org 1 while its invalidation is pending = %q, want the database's %q", got, "after the write")
		}
	}
	if fetches != 3 {
		t.Fatalf("org 1 fetched %d times in 3 loads while pending, want every one from the database", fetches)
	}
	if got, _ := l.load(ctx, 2, tasks, "list", fetch(2)); string(got) != "org 2" || fetches != 3 {
		t.Fatalf("org 2 = %q after %d fetches; want its cached entry, no fetch", got, fetches-3)
	}

	// The cache takes invalidations again: the first lookup retries it,
	// and from then on org 1 is cached again, under its new generation.
	c.setFail(false, false)
	fetches = 0
	for range 3 {
		if got, _ := l.load(ctx, 1, tasks, "list", fetch(1)); string(got) != "after the write" {
			t.Fatalf("org 1 after recovery = %q, want %q", got, "after the write")
		}
	}
	if fetches != 1 {
		t.Fatalf("org 1 fetched %d times in 3 loads after recovery, want 1 (a miss, then hits)", fetches)
	}
}

// Security finding 2: a logout (or a password change, demotion, removal)
// acknowledged while the cache was away must not come undone when it
// answers again. The session check lives in the sessions space.
func TestOrgCache_ARevocationMadeWhileTheCacheIsAwayHolds(t *testing.T) {
	c := newFakeCache()
	l := NewOrgCache(c, quietLog())
	ctx := t.Context()
	session := "live"
	check := func() string {
		t.Helper()
		got, err := l.load(WithCacheSnapshot(ctx), 1, ports.SpaceSessions, "p:1:1", func() ([]byte, error) { return []byte(session), nil })
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	if got := check(); got != "live" {
		t.Fatalf("session check = %q", got)
	}
	c.setFail(true, false)
	session = "revoked"
	l.invalidate(WithCacheSnapshot(ctx), 1, ports.SpaceSessions) // logout answers 204
	c.setFail(false, false)                                      // the cache is back, the invalidation lost
	if got := check(); got != "revoked" {
		t.Fatalf("session check after the cache came back = %q, want \"revoked\"", got)
	}
	// And it stays so when the cache serves the check again.
	if got := check(); got != "revoked" {
		t.Fatalf("second session check = %q, want \"revoked\"", got)
	}
}

// Errors that only say the cache skipped its backend are not logged: the
// cache logged the outage once.
func TestOrgCache_SkippedCallsAreNotLogged(t *testing.T) {
	var buf syncBuffer
	skipping := &skippingCache{}
	l := NewOrgCache(skipping, slog.New(slog.NewTextHandler(&buf, nil)))
	for range 3 {
		if _, err := l.load(t.Context(), 1, tasks, "k", func() ([]byte, error) { return []byte("db"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	l.invalidate(t.Context(), 1, tasks)
	if buf.String() != "" {
		t.Fatalf("logged for skipped calls:\n%s", buf.String())
	}
}

type skippingCache struct{}

func (skippingCache) Generations(context.Context, domain.OrgID) (ports.Generations, error) {
	return ports.Generations{}, fmt.Errorf("test cache: %w", ports.ErrCacheSkipped)
}

func (skippingCache) Get(context.Context, domain.OrgID, ports.CacheSpace, uint64, string) ([]byte, error) {
	return nil, fmt.Errorf("test cache: %w", ports.ErrCacheSkipped)
}

func (skippingCache) Set(context.Context, domain.OrgID, ports.CacheSpace, uint64, string, []byte) error {
	return fmt.Errorf("test cache: %w", ports.ErrCacheSkipped)
}

func (skippingCache) Invalidate(context.Context, domain.OrgID, ports.CacheSpace) error {
	return fmt.Errorf("test cache: %w", ports.ErrCacheSkipped)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func TestOrgCache_FetchErrorIsReturnedAndNotCached(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	boom := errors.New("db down")
	if _, err := l.load(t.Context(), 1, tasks, "k", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fetch error", err)
	}
	got, err := l.load(t.Context(), 1, tasks, "k", func() ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(got) != "ok" {
		t.Fatalf("load after a failed fetch = %q, %v", got, err)
	}
}

func TestCursor_RoundTripAndGarbage(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for _, tc := range []struct {
		sort ports.TaskSort
		c    ports.TaskCursor
	}{
		{ports.SortCreatedDesc, ports.TaskCursor{ID: 1}},
		{ports.SortCreated, ports.TaskCursor{ID: 1 << 62}},
		{ports.SortUpdated, ports.TaskCursor{Time: &at, ID: 1 << 62}},
		{ports.SortDue, ports.TaskCursor{Time: &at, ID: 42}},
		{ports.SortDue, ports.TaskCursor{ID: 42}},
		{ports.SortPriorityDesc, ports.TaskCursor{Rank: 4, ID: 7}},
	} {
		sort, digest, got, err := DecodeCursor(EncodeCursor(tc.sort, "0123456789abcdef", tc.c))
		if err != nil || sort != tc.sort || digest != "0123456789abcdef" || got.ID != tc.c.ID || got.Rank != tc.c.Rank ||
			(got.Time == nil) != (tc.c.Time == nil) || got.Time != nil && !got.Time.Equal(*tc.c.Time) {
			t.Fatalf("round trip of %s %+v = %s %s %+v, %v", tc.sort, tc.c, sort, digest, got, err)
		}
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []string{"", "zzz", "djE6", "djE6MA", "djE6LTE", "djI6NQ", "!!!", enc("v1:5"),
		enc("v2:-created|0123456789abcdef|2030-01-02T03:04:05Z|0|5"),  // an id sort with a time
		enc("v2:updated|0123456789abcdef||0|5"),                       // a time sort without its time
		enc("v2:-priority|0123456789abcdef||0|5"),                     // priority without its rank
		enc("v2:-priority|0123456789abcdef||5|5"),                     // no such rank
		enc("v2:due|0123456789abcdef|2030-01-02T03:04:05Z|0|0"),       // no id
		enc("v2:title|0123456789abcdef|2030-01-02T03:04:05Z|0|5"),     // no such sort
		enc("v2:created|0123|2030-01-02T03:04:05Z|0|5"),               // short digest
		enc("v2:created|0123456789abcdef|yesterday|0|5"),              // no time
		enc("v2:created|0123456789abcdef|2030-01-02T03:04:05Z|0|5|6"), // one part too many
	} {
		if _, _, _, err := DecodeCursor(c); err == nil {
			t.Errorf("DecodeCursor(%q) accepted garbage", c)
		}
	}
}

func TestOrgCache_Snapshot(t *testing.T) {
	constant := func(v string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(v), nil } }

	t.Run("lookups_of_one_request_read_the_generation_once", func(t *testing.T) {
		c := newFakeCache()
		l := NewOrgCache(c, quietLog())
		ctx := WithCacheSnapshot(t.Context())
		for _, k := range []string{"principal", "list", "list"} {
			if _, err := l.load(ctx, 1, tasks, k, constant("v")); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.genReads.Load(); n != 1 {
			t.Fatalf("generation read %d times in one request, want 1", n)
		}
		// Without a snapshot, every lookup reads it.
		for range 2 {
			if _, err := l.load(t.Context(), 1, tasks, "list", constant("v")); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.genReads.Load(); n != 3 {
			t.Fatalf("generation reads = %d after two lookups without a snapshot, want 3", n)
		}
	})

	t.Run("a_request_sees_its_own_write", func(t *testing.T) {
		l := NewOrgCache(newFakeCache(), quietLog())
		ctx := WithCacheSnapshot(t.Context())
		if got, _ := l.load(ctx, 1, tasks, "list", constant("before")); string(got) != "before" {
			t.Fatalf("first load = %q", got)
		}
		l.invalidate(ctx, 1, tasks)
		if got, _ := l.load(ctx, 1, tasks, "list", constant("after")); string(got) != "after" {
			t.Fatalf("load after the request's own invalidation = %q, want \"after\"", got)
		}
	})

	t.Run("the_next_request_sees_a_write_that_completed_before_it", func(t *testing.T) {
		l := NewOrgCache(newFakeCache(), quietLog())
		first := WithCacheSnapshot(t.Context())
		if got, _ := l.load(first, 1, tasks, "list", constant("before")); string(got) != "before" {
			t.Fatalf("first load = %q", got)
		}
		l.invalidate(WithCacheSnapshot(t.Context()), 1, tasks) // another request's write
		next := WithCacheSnapshot(t.Context())
		if got, _ := l.load(next, 1, tasks, "list", constant("after")); string(got) != "after" {
			t.Fatalf("load by a request that began after the write = %q, want \"after\"", got)
		}
	})

	t.Run("another_org_never_uses_the_snapshot", func(t *testing.T) {
		c := newFakeCache()
		c.gen[2] = ports.Generations{tasks: 5}
		l := NewOrgCache(c, quietLog())
		ctx := WithCacheSnapshot(t.Context())
		if _, err := l.load(ctx, 1, tasks, "list", constant("org 1")); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.load(ctx, 2, tasks, "list", constant("org 2")); string(got) != "org 2" {
			t.Fatalf("org 2 under org 1's snapshot = %q, want \"org 2\"", got)
		}
		if n := c.genReads.Load(); n != 2 {
			t.Fatalf("generation reads = %d for two orgs, want 2", n)
		}
		// Org 2's entry went under org 2's own generation.
		if _, ok := c.data[fakeKey(2, tasks, 5, "list")]; !ok {
			t.Fatalf("org 2's entry not under its generation 5: %v", c.data)
		}
	})
}

func TestOrgCache_ATaskWriteKeepsTheSessionChecks(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	fetches := 0
	fetch := func() ([]byte, error) { fetches++; return []byte("ADMIN"), nil }
	if _, err := l.load(t.Context(), 1, ports.SpaceSessions, "p:1:1", fetch); err != nil {
		t.Fatal(err)
	}
	l.invalidate(t.Context(), 1, ports.SpaceTasks)
	if _, err := l.load(t.Context(), 1, ports.SpaceSessions, "p:1:1", fetch); err != nil {
		t.Fatal(err)
	}
	if fetches != 1 {
		t.Fatalf("session check fetched %d times around a task write, want once", fetches)
	}
	l.invalidate(t.Context(), 1, ports.SpaceSessions)
	if _, err := l.load(t.Context(), 1, ports.SpaceSessions, "p:1:1", fetch); err != nil {
		t.Fatal(err)
	}
	if fetches != 2 {
		t.Fatalf("session check fetched %d times after a session event, want twice", fetches)
	}
}

// A query that began before a write committed must not answer a caller
// that read the generation after the write's invalidation: the write's
// author listing right after its 201 would not see its write.
func TestOrgCache_NoFlightIsSharedAcrossAnInvalidation(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		got, err := l.load(t.Context(), 1, tasks, "list", func() ([]byte, error) {
			close(started)
			<-release
			return []byte("before the write"), nil
		})
		if err != nil || string(got) != "before the write" {
			t.Errorf("first load = %q, %v", got, err)
		}
	})
	<-started
	l.invalidate(t.Context(), 1, tasks) // the write commits, then invalidates
	// Were the second load to join the first query, it would wait for
	// this release and get the first query's answer.
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	got, err := l.load(t.Context(), 1, tasks, "list", func() ([]byte, error) { return []byte("after the write"), nil })
	wg.Wait()
	if err != nil || string(got) != "after the write" {
		t.Fatalf("load after the invalidation = %q, %v; want its own query's answer", got, err)
	}
}

// WithRequest carries the request id and a snapshot of its own, as
// WithRequestID and WithCacheSnapshot do: its lookups read the
// generations once, and two requests never share a snapshot.
func TestWithRequest_CarriesTheIDAndASnapshot(t *testing.T) {
	ctx := WithRequest(t.Context(), "req-1")
	if got := RequestID(ctx); got != "req-1" {
		t.Fatalf("RequestID = %q, want req-1", got)
	}
	s, _ := ctx.Value(snapshotKey{}).(*snapshot)
	if s == nil || s.valid {
		t.Fatalf("snapshot %+v, want an empty one", s)
	}
	if s2, _ := ctx.Value(snapshotKey{}).(*snapshot); s2 != s {
		t.Fatal("a second lookup gave another snapshot")
	}
	if other, _ := WithRequest(t.Context(), "req-2").Value(snapshotKey{}).(*snapshot); other == s {
		t.Fatal("two requests share a snapshot")
	}
	type k struct{}
	if got := WithRequest(context.WithValue(t.Context(), k{}, 7), "r").Value(k{}); got != 7 {
		t.Fatalf("a parent's value reads %v, want 7", got)
	}
}
