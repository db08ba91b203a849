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
)

var _ ports.ListCache = (*Memory)(nil)

// Memory is a ListCache local to one process. It holds at most a fixed
// number of entries per space; past that, Set evicts an arbitrary one of
// the same space (Go randomizes map iteration, which makes this a cheap
// random eviction). Expired entries are dropped when read and by a sweep
// that a Set runs at most once per ttl, so no goroutine is needed and
// there is nothing to close.
//
// Set stores a copy of the value, so the caller may reuse its buffer. Get
// returns the stored slice itself, to keep the hit path free of
// allocations: callers must not modify it.
type Memory struct {
	ttl        time.Duration
	maxEntries int

	mu   sync.RWMutex
	orgs map[memScope]*memOrg
	size [ports.NumCacheSpaces]int // entries over all orgs, per space
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
	gen     uint64
	entries map[string]memEntry // nil after an invalidation until the next Set
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// NewMemory returns a Memory holding at most DefaultMaxEntries entries
// per space, each for ttl (DefaultTTL when ttl is not positive).
func NewMemory(ttl time.Duration) *Memory {
	return NewMemoryWithLimit(ttl, DefaultMaxEntries)
}

// NewMemoryWithLimit is NewMemory with another bound on the number of
// entries per space (DefaultMaxEntries when maxEntries is not positive).
func NewMemoryWithLimit(ttl time.Duration, maxEntries int) *Memory {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &Memory{
		ttl:        ttl,
		maxEntries: maxEntries,
		orgs:       make(map[memScope]*memOrg),
		nextSweep:  time.Now().Add(ttl),
	}
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
		delete(o.entries, key)
		m.size[sc.space]--
	}
}

// Set stores value unless gen is no longer org's generation: a list loaded
// before an invalidation must not be served after it.
func (m *Memory) Set(_ context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string, value []byte) error {
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
		o = &memOrg{gen: gen}
		m.orgs[sc] = o
	} else if gen != o.gen {
		return nil
	}
	m.put(sc.space, o, key, v, now.Add(m.ttl), now)
	return nil
}

// put stores value, which it owns, in o, of space; the caller holds the
// write lock.
func (m *Memory) put(space ports.CacheSpace, o *memOrg, key string, value []byte, expires, now time.Time) {
	if o.entries == nil {
		o.entries = make(map[string]memEntry)
	}
	if _, ok := o.entries[key]; !ok {
		if m.size[space] >= m.maxEntries {
			m.evictOne(space)
		}
		m.size[space]++
	}
	// The key may alias a buffer the caller reuses (Fiber's c.Query, for
	// one); a map key must own its bytes. Cloned for a replaced entry
	// too: assigning to a key already in a map stores the new key's
	// string in place of the old one.
	o.entries[strings.Clone(key)] = memEntry{value: value, expires: expires}
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
	sc := memScope{org, space}
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[sc]
	switch {
	case o == nil:
		o = &memOrg{gen: gen}
		m.orgs[sc] = o
	case gen != o.gen:
		// Usually a newer generation; an older one only from a loader
		// that lost a race, which costs the newer entries a reload.
		// Generations are not ordered across epochs.
		m.size[sc.space] -= len(o.entries)
		o.gen, o.entries = gen, nil
	}
	m.put(space, o, key, value, expires, now)
}

// drop lets go of everything held for org's space.
func (m *Memory) drop(org domain.OrgID, space ports.CacheSpace) {
	sc := memScope{org, space}
	m.mu.Lock()
	defer m.mu.Unlock()
	if o := m.orgs[sc]; o != nil {
		m.size[sc.space] -= len(o.entries)
		delete(m.orgs, sc)
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
		m.orgs[sc] = &memOrg{gen: m.floor + 1}
		return nil
	}
	m.size[sc.space] -= len(o.entries)
	o.gen++
	o.entries = nil
	return nil
}

// sweep drops expired entries and the state of orgs left with none, so
// that neither grows with the number of organizations ever seen.
func (m *Memory) sweep(now time.Time) {
	for sc, o := range m.orgs {
		for k, e := range o.entries {
			if !now.Before(e.expires) {
				delete(o.entries, k)
				m.size[sc.space]--
			}
		}
		if len(o.entries) == 0 {
			m.floor = max(m.floor, o.gen)
			delete(m.orgs, sc)
		}
	}
	m.nextSweep = now.Add(m.ttl)
}

// evictOne drops an arbitrary entry of space: each space has its own
// bound, so a burst of distinct list queries evicts lists, never the
// session checks every request needs.
func (m *Memory) evictOne(space ports.CacheSpace) {
	for sc, o := range m.orgs {
		if sc.space != space {
			continue
		}
		for k := range o.entries {
			delete(o.entries, k)
			m.size[space]--
			return
		}
	}
}
