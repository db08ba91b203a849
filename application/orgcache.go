package application

import (
	"context"
	"log/slog"
	"strconv"
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
// It fails open: when the cache errors, the answer comes from the store
// and the error is logged; after an error the cache is bypassed for a
// short cool-down so that an unreachable Redis costs one timeout, not one
// per request. A burst of misses for one key makes one store query.
type OrgCache struct {
	cache    ports.ListCache
	log      *slog.Logger
	group    singleflight.Group
	downTill atomic.Int64 // unix nanoseconds; the cache is skipped until then
	coolDown time.Duration
}

// NewOrgCache wraps cache; a nil cache disables caching.
func NewOrgCache(cache ports.ListCache, log *slog.Logger) *OrgCache {
	return &OrgCache{cache: cache, log: log, coolDown: 2 * time.Second}
}

func (l *OrgCache) usable() bool {
	return l != nil && l.cache != nil && time.Now().UnixNano() >= l.downTill.Load()
}

func (l *OrgCache) failed(op string, org domain.OrgID, err error) {
	// Only the first failure of a burst is logged: the cool-down makes the
	// rest skip the cache.
	if l.downTill.Swap(time.Now().Add(l.coolDown).UnixNano()) < time.Now().UnixNano() {
		l.log.Error("list cache unavailable, serving from the database",
			"op", op, "organization_id", int64(org), "err", err, "retry_in", l.coolDown)
	}
}

// load returns the cached value for (org, space, key) or calls fetch once
// for all concurrent callers of the same key and caches what it returns.
func (l *OrgCache) load(ctx context.Context, org domain.OrgID, space ports.CacheSpace, key string,
	fetch func() ([]byte, error)) ([]byte, error) {
	if !l.usable() {
		return fetch()
	}
	gens, err := l.generations(ctx, org)
	if err != nil {
		l.failed("generations", org, err)
		return fetch()
	}
	gen := gens[space]
	val, err := l.cache.Get(ctx, org, space, gen, key)
	if err != nil {
		l.failed("get", org, err)
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
			l.failed("set", org, err)
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
		// Tried even during a cool-down: a missed invalidation is worse
		// than a slow one.
		if err := l.cache.Invalidate(ctx, org, space); err != nil {
			l.failed("invalidate", org, err)
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
