package cache

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

const (
	// DefaultTTL replaces a non-positive ttl: an entry that never expired
	// would rely on invalidation alone and, in Redis, dead generations
	// would never be freed.
	DefaultTTL = 30 * time.Second
	// DefaultMaxEntries bounds each space of a Memory made by NewMemory.
	DefaultMaxEntries = 10_000
	// DefaultMaxBytes bounds the bytes a Memory made by NewMemory holds
	// (see memCost): 16 MiB, a few thousand list pages. The entry count
	// alone let 10,000 organizations' pages of several KB each take most
	// of the server's memory (issue 14: 153 MB of RSS; 86 MB with this
	// bound, 68 MB with 8 MiB, which the session checks of 10,000
	// organizations overflow: their hit rate fell and throughput with it).
	DefaultMaxBytes = 16 << 20
)

// What Memory counts for each thing it holds, besides the bytes of keys
// and values: estimates of the Go runtime's own cost, measured with
// runtime.MemStats on Go 1.26 (swiss maps) and rounded up.
const (
	// memOrgCost is an org's state: its slot in Memory.orgs and the memOrg.
	memOrgCost = 64
	// memMapCost is an org's map of entries: the header and its first
	// group of 8 slots, allocated with the map's first entry (about 620
	// bytes for a map of one entry, for a map of eight about the same).
	memMapCost = 576
	// memEntryCost is an entry's slot (key and memEntry headers, its
	// share of a group) and the allocator's rounding of key and value.
	memEntryCost = 80
)

var _ ports.ListCache = (*Memory)(nil)

// Memory is a ListCache local to one process. It has two bounds. It
// holds at most a fixed number of entries per space; past that, Set
// evicts an arbitrary one of the same space (Go randomizes map iteration,
// which makes this a cheap random eviction). And it holds at most a fixed
// number of bytes over all spaces, keys, values and an estimate of the
// maps' own cost counted (see memCost); past that, Set evicts arbitrary
// entries until the new one fits, from its own space while that space
// holds more than its share (the bound over the number of spaces), else
// from the space that holds the most. So a burst of lists can take a
// space's unused share, but never evicts the session checks every request
// needs while they hold no more than theirs. Expired entries are dropped
// when read and by a sweep that a Set runs at most once per ttl, so no
// goroutine is needed and there is nothing to close.
//
// Set stores a copy of the value, so the caller may reuse its buffer. Get
// returns the stored slice itself, to keep the hit path free of
// allocations: callers must not modify it.
type Memory struct {
	ttl        time.Duration
	maxEntries int
	maxBytes   int

	mu    sync.RWMutex
	orgs  map[memScope]*memOrg
	size  [ports.NumCacheSpaces]int // entries over all orgs, per space
	bytes [ports.NumCacheSpaces]int // memCost of what each space holds
	held  int                       // the sum of bytes
	// floor is the generation of every org that has no state here. It
	// only grows: when an org's state is dropped, floor rises to at least
	// that org's generation, so no org's generation ever goes back and a
	// loader holding a generation older than an Invalidate can never
	// store under it. The price: raising floor also retires the
	// generation that loaders of other stateless orgs hold, so their next
	// Set is dropped; that happens at most once per sweep.
	floor     uint64
	nextSweep time.Time
}

// memScope is one space of one org: each has its own generation.
type memScope struct {
	org   domain.OrgID
	space ports.CacheSpace
}

type memOrg struct {
	gen uint64
	// entries is nil while there are none (after an invalidation, or
	// when the last one expired or was evicted): an org that keeps only
	// its generation costs no map.
	entries map[string]memEntry
	bytes   int // memCost of entries and their map
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// NewMemory returns a Memory holding at most DefaultMaxEntries entries
// per space and DefaultMaxBytes bytes, each entry for ttl (DefaultTTL when
// ttl is not positive).
func NewMemory(ttl time.Duration) *Memory {
	return NewMemoryWithLimits(ttl, DefaultMaxEntries, DefaultMaxBytes)
}

// NewMemoryWithLimits is NewMemory with other bounds on the number of
// entries per space and on the bytes held (DefaultMaxEntries and
// DefaultMaxBytes when not positive).
func NewMemoryWithLimits(ttl time.Duration, maxEntries, maxBytes int) *Memory {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Memory{
		ttl:        ttl,
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		orgs:       make(map[memScope]*memOrg),
		nextSweep:  time.Now().Add(ttl),
	}
}

// memCost is what an entry counts against the byte bound.
func memCost(key string, value []byte) int {
	return len(key) + len(value) + memEntryCost
}

// Generations returns org's generation in each space: floor where it has
// no state here.
func (m *Memory) Generations(_ context.Context, org domain.OrgID) (ports.Generations, error) {
	var gens ports.Generations
	m.mu.RLock()
	defer m.mu.RUnlock()
	for space := range gens {
		gens[space] = m.floor
		if o := m.orgs[memScope{org, ports.CacheSpace(space)}]; o != nil {
			gens[space] = o.gen
		}
	}
	return gens, nil
}

// Get is the hot path: a read lock and two map lookups, no allocation.
// Only the current generation has entries here.
func (m *Memory) Get(_ context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string) ([]byte, error) {
	now := time.Now()
	sc := memScope{org, space}
	m.mu.RLock()
	o := m.orgs[sc]
	if o == nil || o.gen != gen {
		m.mu.RUnlock()
		return nil, nil
	}
	e, ok := o.entries[key]
	m.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	if now.Before(e.expires) {
		return e.value, nil
	}
	m.dropExpired(sc, key)
	return nil, nil
}

func (m *Memory) dropExpired(sc memScope, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[sc]
	if o == nil {
		return
	}
	// Looked up again: a Set may have refreshed the entry since the read
	// lock was released.
	if e, ok := o.entries[key]; ok && !time.Now().Before(e.expires) {
		m.remove(sc.space, o, key, e)
	}
}

// Set stores value unless gen is no longer org's generation: a list loaded
// before an invalidation must not be served after it.
func (m *Memory) Set(_ context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string, value []byte) error {
	if !m.fits(key, value) {
		return nil
	}
	// A copy, never nil: a nil value would read back as a miss.
	v := make([]byte, len(value))
	copy(v, value)
	now := time.Now()

	sc := memScope{org, space}
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[sc]
	if o == nil {
		if gen != m.floor {
			return nil
		}
		o = m.newOrg(sc, gen)
	} else if gen != o.gen {
		return nil
	}
	m.put(sc.space, o, key, v, now.Add(m.ttl), now)
	return nil
}

// fits says whether an entry of key and value can be held at all: one
// larger than the byte bound would evict everything and still not fit.
func (m *Memory) fits(key string, value []byte) bool {
	return memOrgCost+memMapCost+memCost(key, value) <= m.maxBytes
}

// put stores value, which it owns, in o, of space; the caller holds the
// write lock.
func (m *Memory) put(space ports.CacheSpace, o *memOrg, key string, value []byte, expires, now time.Time) {
	// A replaced entry goes first, so that it is neither counted twice
	// nor evicted in place of another; its map stays, for the new one.
	if e, ok := o.entries[key]; ok {
		delete(o.entries, key)
		m.size[space]--
		m.count(space, o, -memCost(key, e.value))
	}
	if m.size[space] >= m.maxEntries {
		m.evictOne(space)
	}
	cost := memCost(key, value)
	for {
		need := cost
		if o.entries == nil {
			need += memMapCost
		}
		// Evicting may empty o's map too, which the next round counts.
		if m.held+need <= m.maxBytes || !m.evictFor(space) {
			break
		}
	}
	if o.entries == nil {
		o.entries = make(map[string]memEntry)
		m.count(space, o, memMapCost)
	}
	// The key may alias a buffer the caller reuses (Fiber's c.Query, for
	// one); a map key must own its bytes. Cloned for a replaced entry
	// too: assigning to a key already in a map stores the new key's
	// string in place of the old one.
	o.entries[strings.Clone(key)] = memEntry{value: value, expires: expires}
	m.size[space]++
	m.count(space, o, cost)
	// After the store, so that the org just written keeps its state.
	if !now.Before(m.nextSweep) {
		m.sweep(now)
	}
}

// setAt and drop use a Memory as the near cache of another ListCache
// whose generations are authoritative (Redis): storing under another
// generation than the org's drops the org's entries, and the floor plays
// no part.

// setAt stores value, which it owns, under gen until expires.
func (m *Memory) setAt(org domain.OrgID, space ports.CacheSpace, gen uint64, key string, value []byte, expires time.Time) {
	now := time.Now()
	if !now.Before(expires) {
		return
	}
	if !m.fits(key, value) {
		return
	}
	sc := memScope{org, space}
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[sc]
	switch {
	case o == nil:
		o = m.newOrg(sc, gen)
	case gen != o.gen:
		// Usually a newer generation; an older one only from a loader
		// that lost a race, which costs the newer entries a reload.
		// Generations are not ordered across epochs.
		m.clear(sc.space, o)
		o.gen = gen
	}
	m.put(space, o, key, value, expires, now)
}

// drop lets go of everything held for org's space.
func (m *Memory) drop(org domain.OrgID, space ports.CacheSpace) {
	sc := memScope{org, space}
	m.mu.Lock()
	defer m.mu.Unlock()
	if o := m.orgs[sc]; o != nil {
		m.deleteOrg(sc, o)
	}
}

// Invalidate moves org's space to a new generation and lets go of its
// entries.
func (m *Memory) Invalidate(_ context.Context, org domain.OrgID, space ports.CacheSpace) error {
	sc := memScope{org, space}
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[sc]
	if o == nil {
		// A loader may hold floor from a Get made before this call; the
		// org must move past it even though nothing is cached.
		m.newOrg(sc, m.floor+1)
		return nil
	}
	m.clear(sc.space, o)
	o.gen++
	return nil
}

// sweep drops expired entries and the state of orgs left with none, so
// that neither grows with the number of organizations ever seen.
func (m *Memory) sweep(now time.Time) {
	for sc, o := range m.orgs {
		for k, e := range o.entries {
			if !now.Before(e.expires) {
				m.remove(sc.space, o, k, e)
			}
		}
		if len(o.entries) == 0 {
			m.floor = max(m.floor, o.gen)
			m.deleteOrg(sc, o)
		}
	}
	m.nextSweep = now.Add(m.ttl)
}

// evictOne drops an arbitrary entry of space, and says whether it found
// one. Each space has its own bound on entries, so a burst of distinct
// list queries evicts lists, never the session checks every request needs.
func (m *Memory) evictOne(space ports.CacheSpace) bool {
	for sc, o := range m.orgs {
		if sc.space != space {
			continue
		}
		for k, e := range o.entries {
			m.remove(space, o, k, e)
			return true
		}
	}
	return false
}

// evictFor drops an arbitrary entry to make room for one of space, and
// says whether it found one: of space itself while it holds more than its
// share of the byte bound, else of the space that holds the most bytes.
// When that one has no entry to give (what it holds is the state of orgs
// without entries, which the sweep frees), any other space's.
func (m *Memory) evictFor(space ports.CacheSpace) bool {
	victim := space
	if m.bytes[space] <= m.maxBytes/int(ports.NumCacheSpaces) {
		for s := range ports.NumCacheSpaces {
			if m.bytes[s] > m.bytes[victim] {
				victim = s
			}
		}
	}
	if m.evictOne(victim) {
		return true
	}
	for s := range ports.NumCacheSpaces {
		if s != victim && m.evictOne(s) {
			return true
		}
	}
	return false
}

// The bookkeeping below keeps size, bytes, held and each org's bytes
// true; the caller holds the write lock.

// count adds n bytes (fewer when negative) to o, of space.
func (m *Memory) count(space ports.CacheSpace, o *memOrg, n int) {
	o.bytes += n
	m.bytes[space] += n
	m.held += n
}

// newOrg stores and returns sc's state, under gen and with no entries.
func (m *Memory) newOrg(sc memScope, gen uint64) *memOrg {
	o := &memOrg{gen: gen}
	m.orgs[sc] = o
	m.bytes[sc.space] += memOrgCost
	m.held += memOrgCost
	return o
}

// remove deletes o's entry e under key, and o's map with its last entry.
func (m *Memory) remove(space ports.CacheSpace, o *memOrg, key string, e memEntry) {
	delete(o.entries, key)
	m.size[space]--
	m.count(space, o, -memCost(key, e.value))
	if len(o.entries) == 0 {
		o.entries = nil
		m.count(space, o, -memMapCost)
	}
}

// clear lets go of all of o's entries, and of their map.
func (m *Memory) clear(space ports.CacheSpace, o *memOrg) {
	m.size[space] -= len(o.entries)
	m.count(space, o, -o.bytes)
	o.entries = nil
}

// deleteOrg lets go of sc's state, o, and its entries.
func (m *Memory) deleteOrg(sc memScope, o *memOrg) {
	m.clear(sc.space, o)
	delete(m.orgs, sc)
	m.bytes[sc.space] -= memOrgCost
	m.held -= memOrgCost
}
