package cache

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/taskflow/taskflow/adapters/cachetest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

func TestMemory_ListCacheContract(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, ttl time.Duration) ports.ListCache {
		return NewMemory(ttl)
	})
}

// The contract holds while the byte bound evicts: what is evicted is a
// miss, never a stale hit.
func TestMemory_ListCacheContract_under_a_small_byte_bound(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T, ttl time.Duration) ports.ListCache {
		return NewMemoryWithLimits(ttl, DefaultMaxEntries, 16<<10)
	})
}

// One process's cache is what both "replicas" of the contract see.
func TestMemory_RefusalsContract(t *testing.T) {
	t.Parallel()
	cachetest.RunRefusals(t, func(t *testing.T, ttl time.Duration) (ports.ListCache, ports.ListCache) {
		m := NewMemory(ttl)
		return m, m
	})
}

// entries counts what the maps hold, to check the size bookkeeping, and
// checks the byte bookkeeping and that no org keeps an empty map.
func (m *Memory) entries() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	var bytes [ports.NumCacheSpaces]int
	for sc, o := range m.orgs {
		n += len(o.entries)
		if o.entries != nil && len(o.entries) == 0 {
			panic("an org keeps an empty map")
		}
		ob := 0
		if o.entries != nil {
			ob += memMapCost
		}
		for k, e := range o.entries {
			ob += memCost(k, e.value)
		}
		if ob != o.bytes {
			panic(fmt.Sprintf("org %v counts %d bytes, holds %d", sc, o.bytes, ob))
		}
		bytes[sc.space] += memOrgCost + ob
	}
	total := 0
	for _, size := range m.size {
		total += size
	}
	if n != total {
		panic("size bookkeeping is off")
	}
	if bytes != m.bytes || m.held != m.bytes[0]+m.bytes[1] {
		panic(fmt.Sprintf("byte bookkeeping is off: %v held %d, want %v", m.bytes, m.held, bytes))
	}
	return n
}

// heldBytes is what m counts against its byte bound.
func (m *Memory) heldBytes() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.held
}

func TestMemory_Set(t *testing.T) {
	t.Parallel()

	t.Run("beyond_max_entries_evicts", func(t *testing.T) {
		t.Parallel()
		m := NewMemoryWithLimits(time.Minute, 10, DefaultMaxBytes)
		ctx := t.Context()
		for i := range 100 {
			org := domain.OrgID(i%3 + 1)
			_, gen, _ := lookup(ctx, m, org, "k")
			if err := m.Set(ctx, org, tasks, gen, string(rune('a'+i%26))+string(rune('a'+i/26)), []byte("v")); err != nil {
				t.Fatal(err)
			}
			if n := m.entries(); n > 10 {
				t.Fatalf("after %d sets: %d entries, want at most 10", i+1, n)
			}
		}
		// The newest entry is never the one evicted to make room for it.
		if v, _, _ := lookup(ctx, m, 1, "vd"); string(v) != "v" {
			t.Fatalf("newest entry missing: %q", v)
		}
	})

	t.Run("a_burst_of_lists_never_evicts_a_session_check", func(t *testing.T) {
		t.Parallel()
		m := NewMemoryWithLimits(time.Minute, 10, DefaultMaxBytes)
		ctx := t.Context()
		const sessions = ports.SpaceSessions
		gens, _ := m.Generations(ctx, 1)
		for i := range 5 {
			if err := m.Set(ctx, 1, sessions, gens[sessions], fmt.Sprint("p:", i), []byte("ADMIN")); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 1000 { // every one a new list, as a crawler's filters would be
			if err := m.Set(ctx, 1, tasks, gens[tasks], fmt.Sprint("l:", i), []byte("[]")); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 5 {
			if v, err := m.Get(ctx, 1, sessions, gens[sessions], fmt.Sprint("p:", i)); err != nil || string(v) != "ADMIN" {
				t.Fatalf("session check %d after 1000 lists = %q, %v; want it kept", i, v, err)
			}
		}
		if n := m.entries(); n != 15 {
			t.Fatalf("%d entries, want 10 lists (the bound) and 5 session checks", n)
		}
	})

	t.Run("beyond_max_bytes_evicts_and_keeps_the_newest", func(t *testing.T) {
		t.Parallel()
		// Room for about 30 pages of 1 KB, or fewer orgs' maps.
		const bound = 32 << 10
		m := NewMemoryWithLimits(time.Minute, DefaultMaxEntries, bound)
		ctx := t.Context()
		page := make([]byte, 1<<10)
		for i := range 500 {
			org := domain.OrgID(i%50 + 1)
			_, gen, _ := lookup(ctx, m, org, "k")
			key := fmt.Sprint("limit=10&cursor=", i)
			if err := m.Set(ctx, org, tasks, gen, key, page); err != nil {
				t.Fatal(err)
			}
			m.entries() // checks the bookkeeping
			if held := m.heldBytes(); held > bound {
				t.Fatalf("after %d sets: %d bytes held, want at most %d", i+1, held, bound)
			}
			if v, _, _ := lookup(ctx, m, org, key); len(v) != len(page) {
				t.Fatalf("after %d sets: the newest entry is missing", i+1)
			}
		}
		if n := m.entries(); n < 10 {
			t.Fatalf("%d entries kept, want the bound about full", n)
		}
	})

	t.Run("a_burst_of_lists_never_evicts_session_checks_within_their_share", func(t *testing.T) {
		t.Parallel()
		const bound = 64 << 10
		m := NewMemoryWithLimits(time.Minute, DefaultMaxEntries, bound)
		ctx := t.Context()
		const sessions = ports.SpaceSessions
		// Ten orgs' session checks: well under half the bound.
		for org := range domain.OrgID(10) {
			gens, _ := m.Generations(ctx, org+1)
			if err := m.Set(ctx, org+1, sessions, gens[sessions], "p:1", []byte("ADMIN")); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 1000 {
			org := domain.OrgID(i%10 + 1)
			_, gen, _ := lookup(ctx, m, org, "k")
			if err := m.Set(ctx, org, tasks, gen, fmt.Sprint("l:", i), make([]byte, 2<<10)); err != nil {
				t.Fatal(err)
			}
		}
		if held := m.heldBytes(); held > bound {
			t.Fatalf("%d bytes held, want at most %d", held, bound)
		}
		for org := range domain.OrgID(10) {
			gens, _ := m.Generations(ctx, org+1)
			if v, _ := m.Get(ctx, org+1, sessions, gens[sessions], "p:1"); string(v) != "ADMIN" {
				t.Fatalf("org %d's session check after 1000 lists = %q, want it kept", org+1, v)
			}
		}
	})

	t.Run("session_checks_beyond_their_share_yield_to_lists", func(t *testing.T) {
		t.Parallel()
		const bound = 64 << 10
		m := NewMemoryWithLimits(time.Minute, DefaultMaxEntries, bound)
		ctx := t.Context()
		const sessions = ports.SpaceSessions
		for org := range domain.OrgID(500) { // far more than the bound holds
			gens, _ := m.Generations(ctx, org+1)
			_ = m.Set(ctx, org+1, sessions, gens[sessions], "p:1", []byte("ADMIN"))
		}
		for i := range 100 {
			_, gen, _ := lookup(ctx, m, 1, "k")
			_ = m.Set(ctx, 1, tasks, gen, fmt.Sprint("l:", i), make([]byte, 1<<10))
		}
		m.entries()
		m.mu.RLock()
		lists, checks := m.bytes[tasks], m.bytes[sessions]
		m.mu.RUnlock()
		if lists < bound/4 || checks < bound/4 || lists+checks > bound {
			t.Fatalf("lists hold %d bytes, session checks %d; want each a fair part of %d", lists, checks, bound)
		}
	})

	t.Run("a_value_larger_than_the_bound_is_not_stored_and_evicts_nothing", func(t *testing.T) {
		t.Parallel()
		const bound = 16 << 10
		m := NewMemoryWithLimits(time.Minute, DefaultMaxEntries, bound)
		ctx := t.Context()
		_ = m.Set(ctx, 1, tasks, 0, "small", []byte("v"))
		_ = m.Set(ctx, 1, tasks, 0, "huge", make([]byte, bound))
		if v, _, _ := lookup(ctx, m, 1, "huge"); v != nil {
			t.Fatal("a value larger than the bound was stored")
		}
		if v, _, _ := lookup(ctx, m, 1, "small"); string(v) != "v" {
			t.Fatalf("small entry = %q after a huge Set, want it kept", v)
		}
	})

	t.Run("an_org_whose_entries_are_all_evicted_keeps_its_generation_but_no_map", func(t *testing.T) {
		t.Parallel()
		m := NewMemoryWithLimits(time.Minute, DefaultMaxEntries, 8<<10)
		ctx := t.Context()
		_, stale, _ := lookup(ctx, m, 1, "k")
		_ = m.Invalidate(ctx, 1, tasks)
		_, gen, _ := lookup(ctx, m, 1, "k")
		_ = m.Set(ctx, 1, tasks, gen, "k", []byte("v"))
		for i := range 100 { // other orgs' pages evict org 1's only entry
			_ = m.Set(ctx, domain.OrgID(i+2), tasks, 0, "k", make([]byte, 1<<10))
		}
		m.entries()
		m.mu.RLock()
		o := m.orgs[memScope{1, tasks}]
		m.mu.RUnlock()
		if o == nil || o.gen != gen || o.entries != nil {
			t.Fatalf("org 1's state = %+v, want generation %d and no map", o, gen)
		}
		_ = m.Set(ctx, 1, tasks, stale, "k", []byte("stale"))
		if v, _, _ := lookup(ctx, m, 1, "k"); v != nil {
			t.Fatalf("Set under a generation older than an Invalidate served after an eviction: %q", v)
		}
	})

	t.Run("invalidate_and_drop_give_the_bytes_back", func(t *testing.T) {
		t.Parallel()
		m := NewMemory(time.Minute)
		ctx := t.Context()
		for i := range 10 {
			_ = m.Set(ctx, 1, tasks, 0, fmt.Sprint(i), make([]byte, 100))
			m.setAt(2, tasks, 7, fmt.Sprint(i), make([]byte, 100), time.Now().Add(time.Minute))
		}
		_ = m.Invalidate(ctx, 1, tasks)
		m.setAt(2, tasks, 8, "k", []byte("v"), time.Now().Add(time.Minute)) // a new generation
		m.entries()
		if held, want := m.heldBytes(), 2*memOrgCost+memMapCost+memCost("k", []byte("v")); held != want {
			t.Fatalf("%d bytes held, want %d (two orgs' states and one entry)", held, want)
		}
		m.drop(2, tasks)
		if held := m.heldBytes(); held != memOrgCost {
			t.Fatalf("%d bytes held after drop, want %d (org 1's generation)", held, memOrgCost)
		}
	})

	t.Run("stores_a_copy_of_the_value", func(t *testing.T) {
		t.Parallel()
		m := NewMemory(time.Minute)
		buf := []byte("original")
		_ = m.Set(t.Context(), 1, tasks, 0, "k", buf)
		copy(buf, "CHANGED!")
		if v, _, _ := lookup(t.Context(), m, 1, "k"); string(v) != "original" {
			t.Fatalf("Get = %q after the caller reused its buffer, want %q", v, "original")
		}
	})

	t.Run("owns_its_key_even_when_the_caller_reuses_the_bytes", func(t *testing.T) {
		t.Parallel()
		m := NewMemory(time.Minute)
		// What Fiber's c.Query returns: a string over a buffer that the
		// next request overwrites.
		b := []byte("status=CREATED")
		aliased := unsafe.String(&b[0], len(b))
		_ = m.Set(t.Context(), 1, tasks, 0, aliased, []byte("v"))
		copy(b, "XXXXXX")
		if v, _, _ := lookup(t.Context(), m, 1, "status=CREATED"); string(v) != "v" {
			t.Fatalf("Get = %q, want %q", v, "v")
		}
	})

	t.Run("owns_its_key_when_an_entry_is_replaced", func(t *testing.T) {
		t.Parallel()
		m := NewMemory(time.Minute)
		ctx := t.Context()
		_ = m.Set(ctx, 1, tasks, 0, "status=CREATED", []byte("old"))
		// Assigning to a key already in a Go map stores the new key's
		// string: the map would keep the caller's buffer.
		b := []byte("status=CREATED")
		_ = m.Set(ctx, 1, tasks, 0, unsafe.String(&b[0], len(b)), []byte("new"))
		copy(b, "XXXXXX")
		if v, _, _ := lookup(ctx, m, 1, "status=CREATED"); string(v) != "new" {
			t.Fatalf("Get = %q, want %q", v, "new")
		}
		if n := m.entries(); n != 1 {
			t.Fatalf("%d entries, want 1", n)
		}
	})

	t.Run("expired_entries_and_empty_orgs_are_swept", func(t *testing.T) {
		t.Parallel()
		const ttl = 50 * time.Millisecond
		m := NewMemory(ttl)
		ctx := t.Context()
		for _, k := range []string{"a", "b", "c"} {
			_ = m.Set(ctx, 1, tasks, 0, k, []byte("v"))
		}
		_ = m.Invalidate(ctx, 2, tasks) // an org with state and no entry
		time.Sleep(2 * ttl)
		_, gen3, _ := lookup(ctx, m, 3, "k")
		_ = m.Set(ctx, 3, tasks, gen3, "k", []byte("v")) // runs the sweep
		if n := m.entries(); n != 1 {
			t.Fatalf("%d entries after the sweep, want 1", n)
		}
		m.mu.RLock()
		_, has1 := m.orgs[memScope{1, tasks}]
		_, has2 := m.orgs[memScope{2, tasks}]
		m.mu.RUnlock()
		if has1 || has2 {
			t.Fatalf("state of orgs without entries kept: org 1 %v, org 2 %v", has1, has2)
		}
	})

	t.Run("old_generation_stays_dead_after_the_org_is_swept", func(t *testing.T) {
		t.Parallel()
		const ttl = 50 * time.Millisecond
		m := NewMemory(ttl)
		ctx := t.Context()
		_, before, _ := lookup(ctx, m, 1, "k")
		_ = m.Invalidate(ctx, 1, tasks)
		_, after, _ := lookup(ctx, m, 1, "k")
		time.Sleep(2 * ttl)
		_ = m.Set(ctx, 2, tasks, 0, "k", []byte("v")) // sweeps org 1 away
		m.mu.RLock()
		_, has1 := m.orgs[memScope{1, tasks}]
		m.mu.RUnlock()
		if has1 {
			t.Fatal("org 1 not swept")
		}

		_ = m.Set(ctx, 1, tasks, before, "k", []byte("stale"))
		if v, _, _ := lookup(ctx, m, 1, "k"); v != nil {
			t.Fatalf("Set under a generation older than an Invalidate served after the sweep: %q", v)
		}
		// No Invalidate came after this one was read: what was loaded
		// under it is current and may be stored.
		_ = m.Set(ctx, 1, tasks, after, "k", []byte("fresh"))
		v, now, _ := lookup(ctx, m, 1, "k")
		if string(v) != "fresh" {
			t.Fatalf("Get = %q, want %q", v, "fresh")
		}
		if now < after {
			t.Fatalf("generation went back from %d to %d", after, now)
		}
	})
}

func TestMemory_Get(t *testing.T) {
	t.Run("does_not_allocate", func(t *testing.T) {
		m := NewMemory(time.Minute)
		ctx := t.Context()
		_ = m.Set(ctx, 1, tasks, 0, "hit", []byte("v"))
		if n := testing.AllocsPerRun(100, func() { _, _, _ = lookup(ctx, m, 1, "hit") }); n != 0 {
			t.Errorf("hit: %v allocations, want 0", n)
		}
		if n := testing.AllocsPerRun(100, func() { _, _, _ = lookup(ctx, m, 1, "miss") }); n != 0 {
			t.Errorf("miss: %v allocations, want 0", n)
		}
	})

	t.Run("expired_entry_is_a_miss_and_is_dropped", func(t *testing.T) {
		t.Parallel()
		const ttl = 30 * time.Millisecond
		m := NewMemory(ttl)
		_ = m.Set(t.Context(), 1, tasks, 0, "k", []byte("v"))
		time.Sleep(2 * ttl)
		if v, _, _ := lookup(t.Context(), m, 1, "k"); v != nil {
			t.Fatalf("expired entry served: %q", v)
		}
		if n := m.entries(); n != 0 {
			t.Fatalf("%d entries after reading an expired one, want 0", n)
		}
	})
}

func BenchmarkMemory_GetHit(b *testing.B) {
	m := NewMemory(time.Hour)
	ctx := b.Context()
	_ = m.Set(ctx, 1, tasks, 0, "status=CREATED&limit=20", make([]byte, 4096))
	b.ReportAllocs()
	for b.Loop() {
		if v, _, _ := lookup(ctx, m, 1, "status=CREATED&limit=20"); v == nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkMemory_SetEvicting is the scale scenario's steady state: pages
// of 4 KB over 10,000 organizations, past the byte bound, so that nearly
// every Set evicts.
func BenchmarkMemory_SetEvicting(b *testing.B) {
	m := NewMemory(time.Hour)
	ctx := b.Context()
	page := make([]byte, 4<<10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		org := domain.OrgID(i%10_000 + 1)
		_ = m.Set(ctx, org, tasks, 0, "status=CREATED&limit=20", page)
		i++
	}
}

// tasks is the space of the tests that are not about spaces.
const tasks = ports.SpaceTasks

// lookup is a loader's lookup in tasks: the generations, then the entry
// under the space's.
func lookup(ctx context.Context, c ports.ListCache, org domain.OrgID, key string) ([]byte, uint64, error) {
	gens, err := c.Generations(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	v, err := c.Get(ctx, org, tasks, gens[tasks], key)
	return v, gens[tasks], err
}
