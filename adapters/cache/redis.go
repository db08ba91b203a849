package cache

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.ListCache = (*Redis)(nil)
	_ ports.Pinger    = (*Redis)(nil)
)

// Redis is a ListCache shared by every instance of the service. Keys:
//
//	<prefix>:org:{<org>}:gen              the generation counter, no TTL
//	<prefix>:org:{<org>}:g<gen>:<key>     an entry, with the cache's TTL
//
// The braces are a Redis Cluster hash tag: an org's counter and entries
// share a slot, which the Get script needs. Entries of dead generations
// are never read again and go with their TTL. The counter has no TTL, so
// it lives as long as any entry it guards; run Redis with noeviction or a
// volatile-* maxmemory-policy, under which keys without a TTL are never
// evicted (an evicted counter restarts at 0 and could revive entries of
// generation 0 until they expire).
//
// Errors are returned wrapped, never swallowed: whether to fail open is
// the caller's decision.
type Redis struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedis returns a Redis cache whose entries live for ttl (DefaultTTL
// when ttl is not positive) under keys starting with prefix.
func NewRedis(client redis.UniversalClient, prefix string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Redis{client: client, prefix: prefix, ttl: ttl}
}

// getScript reads the generation and the entry under it in one round trip
// and atomically: two separate GETs could pair an entry with a generation
// that an Invalidate already left behind.
var getScript = redis.NewScript(`
local gen = redis.call('GET', KEYS[1])
if not gen then gen = '0' end
return {gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2])}
`)

// Get returns the entry under org's current generation; a missing entry
// (redis.Nil) is a miss, not an error.
func (r *Redis) Get(ctx context.Context, org domain.OrgID, key string) ([]byte, uint64, error) {
	res, err := getScript.Run(ctx, r.client,
		[]string{r.genKey(org)}, r.orgPrefix(org)+"g", ":"+key).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redis cache: get: %w", err)
	}
	if len(res) != 2 {
		return nil, 0, fmt.Errorf("redis cache: get: script returned %d values, want 2", len(res))
	}
	genStr, ok := res[0].(string)
	if !ok {
		return nil, 0, fmt.Errorf("redis cache: get: generation is %T, want string", res[0])
	}
	gen, err := strconv.ParseUint(genStr, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("redis cache: get: generation: %w", err)
	}
	switch v := res[1].(type) {
	case nil:
		return nil, gen, nil
	case string:
		return []byte(v), gen, nil
	default:
		return nil, 0, fmt.Errorf("redis cache: get: value is %T, want string", res[1])
	}
}

// Set stores value under gen as given. Under a generation that is already
// dead the entry is written but never read: Get only looks under the
// current one.
func (r *Redis) Set(ctx context.Context, org domain.OrgID, gen uint64, key string, value []byte) error {
	k := r.orgPrefix(org) + "g" + strconv.FormatUint(gen, 10) + ":" + key
	if err := r.client.Set(ctx, k, value, r.ttl).Err(); err != nil {
		return fmt.Errorf("redis cache: set: %w", err)
	}
	return nil
}

// Invalidate moves org's generation on with one INCR.
func (r *Redis) Invalidate(ctx context.Context, org domain.OrgID) error {
	if err := r.client.Incr(ctx, r.genKey(org)).Err(); err != nil {
		return fmt.Errorf("redis cache: invalidate: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers, for readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis cache: ping: %w", err)
	}
	return nil
}

func (r *Redis) orgPrefix(org domain.OrgID) string {
	return r.prefix + ":org:{" + strconv.FormatInt(int64(org), 10) + "}:"
}

func (r *Redis) genKey(org domain.OrgID) string {
	return r.orgPrefix(org) + "gen"
}

// NewRedisClient parses a redis:// (or rediss://) URL into a client tuned
// for a cache that the application may fail open on: short timeouts, one
// retry, and request deadlines honoured (ContextTimeoutEnabled; Fiber's
// contexts carry no deadline unless a middleware sets one). Values given in
// the URL's query (dial_timeout, read_timeout, pool_size, max_retries...)
// win over these defaults. It does not connect.
func NewRedisClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 500 * time.Millisecond
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 500 * time.Millisecond
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = 500 * time.Millisecond
	}
	if opt.PoolSize == 0 {
		opt.PoolSize = 10
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = time.Second
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
	// go-redis retries a failed dial 5 times by default: with a dead Redis
	// every request would wait out all of them.
	opt.DialerRetries = 1
	// Maintenance notifications only exist on Redis Cloud/Enterprise; the
	// automatic mode would spend a round trip on every new connection to
	// find that out.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}
