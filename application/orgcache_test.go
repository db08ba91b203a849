package application

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// fakeCache is a hand-written ListCache: a map, a switch to make every
// call fail, and counters.
type fakeCache struct {
	mu      sync.Mutex
	data    map[string][]byte
	gen     map[domain.OrgID]uint64
	fail    bool
	getHook func() // runs inside Get, outside the lock
	calls   atomic.Int64
}

func newFakeCache() *fakeCache {
	return &fakeCache{data: map[string][]byte{}, gen: map[domain.OrgID]uint64{}}
}

var errDown = errors.New("cache down")

func (f *fakeCache) Get(_ context.Context, org domain.OrgID, key string) ([]byte, uint64, error) {
	f.calls.Add(1)
	if f.getHook != nil {
		f.getHook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, 0, errDown
	}
	g := f.gen[org]
	return f.data[string(appendInt(nil, int64(org)))+"/"+string(appendInt(nil, int64(g)))+"/"+key], g, nil
}

func (f *fakeCache) Set(_ context.Context, org domain.OrgID, gen uint64, key string, v []byte) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errDown
	}
	f.data[string(appendInt(nil, int64(org)))+"/"+string(appendInt(nil, int64(gen)))+"/"+key] = v
	return nil
}

func (f *fakeCache) Invalidate(_ context.Context, org domain.OrgID) error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errDown
	}
	f.gen[org]++
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOrgCache_HitServesWithoutFetching(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	fetches := 0
	fetch := func() ([]byte, error) { fetches++; return []byte("v"), nil }
	for range 3 {
		got, err := l.load(t.Context(), 1, "k", fetch)
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
	a, _ := l.load(t.Context(), 1, "k", fetch)
	b, _ := l.load(t.Context(), 2, "k", fetch)
	l.invalidate(t.Context(), 1)
	a2, _ := l.load(t.Context(), 1, "k", fetch)
	b2, _ := l.load(t.Context(), 2, "k", fetch)
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
			if got, err := l.load(t.Context(), 1, "k", fetch); err != nil || string(got) != "v" {
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
	a, _ := l.load(t.Context(), 1, "k", func() ([]byte, error) { return []byte("org1"), nil })
	b, _ := l.load(t.Context(), 2, "k", func() ([]byte, error) { return []byte("org2"), nil })
	if string(a) != "org1" || string(b) != "org2" {
		t.Fatalf("got %q and %q", a, b)
	}
}

func TestOrgCache_FailsOpenAndCoolsDown(t *testing.T) {
	c := newFakeCache()
	c.fail = true
	l := NewOrgCache(c, quietLog())
	fetches := 0
	fetch := func() ([]byte, error) { fetches++; return []byte("db"), nil }
	for range 5 {
		got, err := l.load(t.Context(), 1, "k", fetch)
		if err != nil || string(got) != "db" {
			t.Fatalf("load with the cache down = %q, %v; want the database answer", got, err)
		}
	}
	if fetches != 5 {
		t.Fatalf("fetches = %d, want every request served by the database", fetches)
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("the cache was called %d times during the cool-down, want 1", n)
	}
	// After the cool-down the cache is tried again.
	l.downTill.Store(time.Now().Add(-time.Millisecond).UnixNano())
	c.mu.Lock()
	c.fail = false
	c.mu.Unlock()
	if _, err := l.load(t.Context(), 1, "k", fetch); err != nil {
		t.Fatal(err)
	}
	if _, err := l.load(t.Context(), 1, "k", fetch); err != nil {
		t.Fatal(err)
	}
	if fetches != 6 {
		t.Fatalf("fetches = %d after recovery, want 6 (one miss, then a hit)", fetches)
	}
}

func TestOrgCache_FetchErrorIsReturnedAndNotCached(t *testing.T) {
	l := NewOrgCache(newFakeCache(), quietLog())
	boom := errors.New("db down")
	if _, err := l.load(t.Context(), 1, "k", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fetch error", err)
	}
	got, err := l.load(t.Context(), 1, "k", func() ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(got) != "ok" {
		t.Fatalf("load after a failed fetch = %q, %v", got, err)
	}
}

func TestCursor_RoundTripAndGarbage(t *testing.T) {
	for _, id := range []domain.TaskID{1, 42, 1 << 62} {
		got, err := DecodeCursor(EncodeCursor(id))
		if err != nil || got != id {
			t.Fatalf("round trip of %d = %d, %v", id, got, err)
		}
	}
	for _, c := range []string{"", "zzz", "djE6", "djE6MA", "djE6LTE", "djI6NQ", "!!!"} {
		if _, err := DecodeCursor(c); err == nil {
			t.Errorf("DecodeCursor(%q) accepted garbage", c)
		}
	}
}
