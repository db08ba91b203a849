package metrics

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.ListCache = (*countedCache)(nil)

// countedCache counts the lookups of the ListCache it wraps.
type countedCache struct {
	ports.ListCache
	hit, miss, err, skipped prometheus.Counter
}

// CountCache returns c, counting each lookup in
// taskflow_cache_requests_total under backend. A lookup is a Get, whose
// answer is a hit, a miss or an error; a Generations call that fails is
// a lookup too (the caller then reads the store without a Get), counted
// as skipped when the backend is known to be away (ports.ErrCacheSkipped:
// the Redis breaker is open) and as an error otherwise. Writes and
// invalidations are not lookups.
func (m *Metrics) CountCache(c ports.ListCache, backend string) ports.ListCache {
	with := func(result string) prometheus.Counter { return m.cache.WithLabelValues(backend, result) }
	return &countedCache{ListCache: c,
		hit: with(CacheHit), miss: with(CacheMiss), err: with(CacheError), skipped: with(CacheSkipped)}
}

func (c *countedCache) failed(err error) {
	if errors.Is(err, ports.ErrCacheSkipped) {
		c.skipped.Inc()
	} else {
		c.err.Inc()
	}
}

func (c *countedCache) Generations(ctx context.Context, org domain.OrgID) (ports.Generations, error) {
	gens, err := c.ListCache.Generations(ctx, org)
	if err != nil {
		c.failed(err)
	}
	return gens, err
}

func (c *countedCache) Get(ctx context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string) ([]byte, error) {
	v, err := c.ListCache.Get(ctx, org, space, gen, key)
	switch {
	case err != nil:
		c.failed(err)
	case v == nil:
		c.miss.Inc()
	default:
		c.hit.Inc()
	}
	return v, err
}
