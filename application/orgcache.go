package application

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// OrgCache puts the reads that repeat on every request (task lists, and
// the caller's session and role) in front of a ports.ListCache, in two
// key spaces per organization: a write that could change what a space
// holds invalidates all of that space's entries at once (a task write the
// tasks space; the end of a session or a role change the sessions space).
// It fails open: when the cache errors, the answer comes from the store.
// Skipping an unreachable backend without waiting on it is the cache's
// job (the Redis cache has a circuit breaker); errors other than
// ports.ErrCacheSkipped are logged, at most one line per logEvery. A burst
// of misses for one key makes one store query.
//
// An invalidation that fails is not forgotten: the space stays pending,
// and until an Invalidate of it succeeds (retried by each lookup of that
// space, which costs nothing while the cache skips its backend) this
// process serves that space of that organization from the store only. A
// write or a revocation acknowledged while the cache was away is
// therefore never undone by an entry from before it, here; other
// replicas rely on the cache for that (the Redis cache moves its epoch
// when it recovers). The pending set holds at most one entry per
// organization and space written during an outage.
type OrgCache struct {
	cache   ports.ListCache
	log     *slog.Logger
	group   singleflight.Group
	lastLog atomic.Int64 // unix nanoseconds of the last error line

	mu      sync.Mutex
	pending map[orgSpace]uint64 // failed invalidations, counted
	// anyPending is whether pending has entries, read without the lock
	// on every lookup; written with it.
	anyPending atomic.Bool
}

type orgSpace struct {
	org   domain.OrgID
	space ports.CacheSpace
}

// logEvery spaces the error lines of a burst of failures.
const logEvery = 2 * time.Second

// NewOrgCache wraps cache; a nil cache disables caching.
func NewOrgCache(cache ports.ListCache, log *slog.Logger) *OrgCache {
	return &OrgCache{cache: cache, log: log, pending: make(map[orgSpace]uint64)}
}

func (l *OrgCache) usable() bool {
	return l != nil && l.cache != nil
}

func (l *OrgCache) failed(ctx context.Context, op string, org domain.OrgID, err error) {
	if errors.Is(err, ports.ErrCacheSkipped) {
		return
	}
	now := time.Now().UnixNano()
	if last := l.lastLog.Load(); now-last >= int64(logEvery) && l.lastLog.CompareAndSwap(last, now) {
		l.log.ErrorContext(ctx, "list cache unavailable, serving from the database",
			"op", op, "organization_id", int64(org), "err", err)
	}
}

// settled reports whether org's space may be served from the cache: no
// invalidation of it failed, or one has succeeded since. It retries the
// invalidation of a pending space.
func (l *OrgCache) settled(ctx context.Context, org domain.OrgID, space ports.CacheSpace) bool {
	if !l.anyPending.Load() {
		return true
	}
	k := orgSpace{org, space}
	count := func() (uint64, bool) {
		l.mu.Lock()
		defer l.mu.Unlock()
		n, ok := l.pending[k]
		return n, ok
	}
	if _, pending := count(); !pending {
		return true
	}
	// One retry for a burst of lookups: each INCR would retire the
	// entries the others just stored. The count is the one read by the
	// retry that ran, before its INCR went out.
	retry := "i|" + strconv.FormatInt(int64(org), 10) + "|" + strconv.Itoa(int(space))
	v, err, _ := l.group.Do(retry, func() (any, error) {
		failures, _ := count()
		return failures, l.cache.Invalidate(ctx, org, space)
	})
	if err != nil {
		l.failed(ctx, "invalidate", org, err)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Unless another invalidation failed meanwhile: that one may be
	// later than the one that just succeeded.
	if l.pending[k] == v.(uint64) {
		delete(l.pending, k)
		l.anyPending.Store(len(l.pending) > 0)
		return true
	}
	return false
}

// load returns the cached value for (org, space, key) or calls fetch once
// for all concurrent callers of the same key and caches what it returns.
func (l *OrgCache) load(ctx context.Context, org domain.OrgID, space ports.CacheSpace, key string,
	fetch func() ([]byte, error)) ([]byte, error) {
	if !l.usable() || !l.settled(ctx, org, space) {
		return fetch()
	}
	gens, err := l.generations(ctx, org)
	if err != nil {
		l.failed(ctx, "generations", org, err)
		return fetch()
	}
	gen := gens[space]
	val, err := l.cache.Get(ctx, org, space, gen, key)
	if err != nil {
		l.failed(ctx, "get", org, err)
		return fetch()
	}
	if val != nil {
		return val, nil
	}
	// The flight key is the cache key: two tenants asking the same query
	// must never share an answer, and neither may two generations. A
	// caller that read the generation after a write's invalidation must
	// not join a query that began before the write committed.
	v, err, _ := l.group.Do(flightKey(org, space, gen, key), func() (any, error) {
		b, err := fetch()
		if err != nil {
			return nil, err
		}
		// Stored under the generation read before the query: if a write
		// invalidated the list meanwhile, this entry is already dead.
		if err := l.cache.Set(ctx, org, space, gen, key, b); err != nil {
			l.failed(ctx, "set", org, err)
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// generations are org's generations as ctx's snapshot holds them, or as
// the cache says (then kept in the snapshot).
func (l *OrgCache) generations(ctx context.Context, org domain.OrgID) (ports.Generations, error) {
	s, _ := ctx.Value(snapshotKey{}).(*snapshot)
	if s != nil && s.valid && s.org == org {
		return s.gens, nil
	}
	gens, err := l.cache.Generations(ctx, org)
	if err == nil && s != nil {
		s.org, s.gens, s.valid = org, gens, true
	}
	return gens, err
}

// invalidate makes every entry of org's spaces stale; call it after a
// write has committed.
func (l *OrgCache) invalidate(ctx context.Context, org domain.OrgID, spaces ...ports.CacheSpace) {
	if s, _ := ctx.Value(snapshotKey{}).(*snapshot); s != nil {
		s.valid = false
	}
	if l == nil || l.cache == nil {
		return
	}
	for _, space := range spaces {
		if err := l.cache.Invalidate(ctx, org, space); err != nil {
			l.failed(ctx, "invalidate", org, err)
			l.mu.Lock()
			l.pending[orgSpace{org, space}]++
			l.anyPending.Store(true)
			l.mu.Unlock()
		}
	}
}

// WithCacheSnapshot returns a context under which an organization's cache
// generations are read once, by the first lookup, and reused by the
// lookups that follow; an invalidation made under the same context drops
// them, so the next lookup reads them again. Give one to each request, and only to
// one request: its lookups (the session check, then the list) then cost
// one read of the generations, and it still sees every write that completed
// before it began, and its own. A write by another client while it runs
// is concurrent with it, and may or may not be seen, as without the
// snapshot. The snapshot is not safe for concurrent use.
func WithCacheSnapshot(ctx context.Context) context.Context {
	return context.WithValue(ctx, snapshotKey{}, &snapshot{})
}

type snapshotKey struct{}

type snapshot struct {
	org   domain.OrgID
	gens  ports.Generations
	valid bool
}

func flightKey(org domain.OrgID, space ports.CacheSpace, gen uint64, key string) string {
	b := make([]byte, 0, 48+len(key))
	b = appendInt(b, int64(org))
	b = append(b, '|', '0'+byte(space), '|')
	b = strconv.AppendUint(b, gen, 10)
	b = append(b, '|')
	return string(append(b, key...))
}
