// Package cachetest holds the contract suites of ports.ListCache (Run, and
// RunRefusals for the session-check cache's refusals, through the Auth use
// case) and ports.RateLimiter (RunRateLimiter): every implementation runs
// them and so behaves the same behind the port. It imports the domain, the
// ports, the application (for RunRefusals) and the standard library
// (testing included); only tests import it.
package cachetest

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// ShortTTL is the ttl the expiry test asks for; it waits twice as long.
const ShortTTL = 150 * time.Millisecond

// longTTL outlives every test that is not about expiry.
const longTTL = time.Minute

// space is where the tests that are not about spaces store.
const space = ports.SpaceTasks

// Run checks the ListCache contract. newCache must return an empty cache
// whose entries live for ttl, isolated from every other cache it returns
// (the subtests run in parallel), and register its own cleanup on t.
func Run(t *testing.T, newCache func(t *testing.T, ttl time.Duration) ports.ListCache) {
	const orgA, orgB domain.OrgID = 1, 2

	t.Run("miss_returns_nil_value", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		if v, _ := mustGet(t, c, orgA, "absent"); v != nil {
			t.Fatalf("Get of an absent key = %q, want nil", v)
		}
	})

	t.Run("set_then_get_returns_the_same_bytes", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		ctx := t.Context()
		want := []byte(`{"tasks":[{"id":1}],"has_more":false}`)
		gen := mustSet(t, c, orgA, "k", want)
		got, gen2 := mustGet(t, c, orgA, "k")
		if !bytes.Equal(got, want) {
			t.Fatalf("Get = %q, want %q", got, want)
		}
		if gen2 != gen {
			t.Fatalf("generation moved from %d to %d without an invalidation", gen, gen2)
		}
		// An empty list is a value too, not a miss.
		mustSet(t, c, orgA, "empty", []byte{})
		if got, err := c.Get(ctx, orgA, space, gen, "empty"); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Get of an empty value = %q, %v; want empty non-nil", got, err)
		}
	})

	t.Run("entries_expire_after_the_ttl", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, ShortTTL)
		mustSet(t, c, orgA, "k", []byte("v"))
		if got, _ := mustGet(t, c, orgA, "k"); got == nil {
			t.Fatal("entry missing right after Set")
		}
		time.Sleep(2 * ShortTTL)
		if got, _ := mustGet(t, c, orgA, "k"); got != nil {
			t.Fatalf("entry still served after twice its ttl: %q", got)
		}
	})

	t.Run("invalidate_drops_that_org_only", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		genA := mustSet(t, c, orgA, "k1", []byte("a1"))
		mustSet(t, c, orgA, "k2", []byte("a2"))
		genB := mustSet(t, c, orgB, "k1", []byte("b1"))

		if err := c.Invalidate(t.Context(), orgA, space); err != nil {
			t.Fatalf("Invalidate: %v", err)
		}
		for _, k := range []string{"k1", "k2"} {
			got, gen := mustGet(t, c, orgA, k)
			if got != nil {
				t.Errorf("org A %s after Invalidate = %q, want a miss", k, got)
			}
			if gen == genA {
				t.Errorf("org A generation still %d after Invalidate", gen)
			}
		}
		got, gen := mustGet(t, c, orgB, "k1")
		if string(got) != "b1" {
			t.Errorf("org B k1 after org A's Invalidate = %q, want %q", got, "b1")
		}
		if gen != genB {
			t.Errorf("org B generation moved from %d to %d by org A's Invalidate", genB, gen)
		}
	})

	t.Run("set_under_an_old_generation_is_never_served", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		ctx := t.Context()
		// A loader reads the generation, a write invalidates, then the
		// loader stores what it read before the write.
		_, oldGen := mustGet(t, c, orgA, "k")
		if err := c.Invalidate(ctx, orgA, space); err != nil {
			t.Fatalf("Invalidate: %v", err)
		}
		if err := c.Set(ctx, orgA, space, oldGen, "k", []byte("stale")); err != nil {
			t.Fatalf("Set under an old generation: %v, want nil (it is not an error)", err)
		}
		got, gen := mustGet(t, c, orgA, "k")
		if got != nil {
			t.Fatalf("value stored under an old generation was served: %q", got)
		}
		if gen == oldGen {
			t.Fatalf("generation still %d after Invalidate", gen)
		}
		// The next loader's value is served, and a late stale Set does not
		// replace it.
		if err := c.Set(ctx, orgA, space, gen, "k", []byte("fresh")); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := c.Set(ctx, orgA, space, oldGen, "k", []byte("stale")); err != nil {
			t.Fatalf("Set under an old generation: %v", err)
		}
		if got, _ := mustGet(t, c, orgA, "k"); string(got) != "fresh" {
			t.Fatalf("Get = %q, want %q", got, "fresh")
		}
	})

	t.Run("same_key_in_different_orgs_does_not_collide", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		mustSet(t, c, orgA, "status=CREATED", []byte("a"))
		mustSet(t, c, orgB, "status=CREATED", []byte("b"))
		if got, _ := mustGet(t, c, orgA, "status=CREATED"); string(got) != "a" {
			t.Errorf("org A = %q, want %q", got, "a")
		}
		if got, _ := mustGet(t, c, orgB, "status=CREATED"); string(got) != "b" {
			t.Errorf("org B = %q, want %q", got, "b")
		}
		// Nor does a third org, which has nothing.
		if got, _ := mustGet(t, c, 3, "status=CREATED"); got != nil {
			t.Errorf("org 3 = %q, want a miss", got)
		}
	})

	t.Run("spaces_are_invalidated_apart", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		ctx := t.Context()
		for sp := range ports.NumCacheSpaces {
			_, gen := mustGetIn(t, c, orgA, sp, "k")
			if err := c.Set(ctx, orgA, sp, gen, "k", []byte{'0' + byte(sp)}); err != nil {
				t.Fatalf("Set in space %d: %v", sp, err)
			}
		}
		for victim := range ports.NumCacheSpaces {
			before, err := c.Generations(ctx, orgA)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Invalidate(ctx, orgA, victim); err != nil {
				t.Fatalf("Invalidate space %d: %v", victim, err)
			}
			after, err := c.Generations(ctx, orgA)
			if err != nil {
				t.Fatal(err)
			}
			for sp := range ports.NumCacheSpaces {
				got, _ := mustGetIn(t, c, orgA, sp, "k")
				switch {
				case sp <= victim && (got != nil || after[sp] == before[sp] && sp == victim):
					t.Errorf("space %d after invalidating space %d: %q, generation %d -> %d; want a miss under a new generation",
						sp, victim, got, before[sp], after[sp])
				case sp > victim && (string(got) != string([]byte{'0' + byte(sp)}) || after[sp] != before[sp]):
					t.Errorf("space %d after invalidating space %d: %q, generation %d -> %d; want its entry, same generation",
						sp, victim, got, before[sp], after[sp])
				}
			}
		}
	})

	t.Run("concurrent_get_set_invalidate_never_serves_invalidated_data", func(t *testing.T) {
		t.Parallel()
		c := newCache(t, longTTL)
		concurrent(t, c)
	})
}

// concurrent plays readers and writers against each other the way the
// application does: a reader that misses loads the current version of the
// org's data and stores it under the generation its Get saw; a writer bumps
// the version, then invalidates. Once an Invalidate has returned, no Get
// may serve a version older than the one it followed.
func concurrent(t *testing.T, c ports.ListCache) {
	const (
		orgs    = 3
		keys    = 4
		readers = 8
		writers = 2
		rounds  = 150
	)
	ctx := t.Context()
	var version, settled [orgs]atomic.Int64 // settled: newest version whose Invalidate returned

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds / 3 {
				org := (w + i) % orgs
				v := version[org].Add(1)
				if err := c.Invalidate(ctx, domain.OrgID(org+1), space); err != nil {
					t.Errorf("Invalidate: %v", err)
					return
				}
				for {
					cur := settled[org].Load()
					if cur >= v || settled[org].CompareAndSwap(cur, v) {
						break
					}
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for i := range rounds {
				org := (r + i) % orgs
				key := "k" + strconv.Itoa(i%keys)
				floor := settled[org].Load()
				gens, err := c.Generations(ctx, domain.OrgID(org+1))
				if err != nil {
					t.Errorf("Generations: %v", err)
					return
				}
				gen := gens[space]
				got, err := c.Get(ctx, domain.OrgID(org+1), space, gen, key)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if got == nil {
					loaded := strconv.AppendInt(nil, version[org].Load(), 10)
					// The query a real loader runs here takes a while,
					// which is when writes slip in.
					runtime.Gosched()
					if err := c.Set(ctx, domain.OrgID(org+1), space, gen, key, loaded); err != nil {
						t.Errorf("Set: %v", err)
						return
					}
					continue
				}
				v, err := strconv.ParseInt(string(got), 10, 64)
				if err != nil {
					t.Errorf("Get = %q, not a value any Set stored", got)
					return
				}
				if v < floor {
					t.Errorf("org %d %s: served version %d after the invalidation that followed version %d",
						org+1, key, v, floor)
					return
				}
			}
		})
	}
	wg.Wait()
}

// mustGet looks key up in space as a loader does: under the generation it
// reads first, which it returns.
func mustGet(t *testing.T, c ports.ListCache, org domain.OrgID, key string) ([]byte, uint64) {
	t.Helper()
	return mustGetIn(t, c, org, space, key)
}

func mustGetIn(t *testing.T, c ports.ListCache, org domain.OrgID, sp ports.CacheSpace, key string) ([]byte, uint64) {
	t.Helper()
	gens, err := c.Generations(t.Context(), org)
	if err != nil {
		t.Fatalf("Generations(%d): %v", org, err)
	}
	v, err := c.Get(t.Context(), org, sp, gens[sp], key)
	if err != nil {
		t.Fatalf("Get(%d, %d, %d, %q): %v", org, sp, gens[sp], key, err)
	}
	return v, gens[sp]
}

// mustSet stores value under org's current generation and returns it.
func mustSet(t *testing.T, c ports.ListCache, org domain.OrgID, key string, value []byte) uint64 {
	t.Helper()
	_, gen := mustGet(t, c, org, key)
	if err := c.Set(t.Context(), org, space, gen, key, value); err != nil {
		t.Fatalf("Set(%d, %q): %v", org, key, err)
	}
	return gen
}
