package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
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
//	<prefix>:epoch                                this installation's epoch
//	<prefix>:org:{<org>}:<space>:gen              a generation counter
//	<prefix>:org:{<org>}:<space>:g<gen>:<key>     an entry, with the cache's TTL
//
// where <space> is t (tasks) or s (sessions). A generation is the epoch
// XOR the counter: moving either one on makes every entry stored under
// the old generation unreachable. The epoch is a random 64-bit number set
// by the first reader that finds none (a new, restarted, flushed or
// evicted Redis), and moved on purpose by MoveEpoch after an outage.
// Entries of dead generations are never read again and go with their
// TTL. The braces are a Redis Cluster hash tag, but Cluster is not
// supported: a generation read spans the epoch and an org's counters,
// which NewRedisClient's single-node client allows.
//
// The epoch and the counters expire after keyTTL (at least a day, and
// many times the entries' TTL) unless used: an Invalidate renews its
// counter, and a Generations read renews the org's keys and the epoch at
// most once per refreshEvery per org in each replica. Neither an expired
// nor an evicted key (allkeys-lru) can make an old entry current again: a
// counter or an epoch found missing starts again from a fresh random
// value, never from 0. An old entry comes back only if the new counter
// steps, within the entry's remaining TTL, onto a generation under which
// a stale entry is still stored: with counters drawn from 2^62 values, k
// invalidations per TTL and m live stale generations, that is (k+1)*m in
// 2^62 per lost key, about 2e-13 for a thousand writes a minute.
//
// Each instance keeps a near cache: a bounded local copy of the entries it
// has read or written, under the same (org, generation, key) and for no
// longer than their time left in Redis. Any value stored under a
// generation was loaded while that generation was current, so it may be
// served for as long as the generation is, whichever replica stored it.
// A hit in the near cache therefore costs only the read of the org's
// generations, which the caller still makes (one MGET for all spaces,
// pipelined with concurrent callers' commands, see autoPipeline): an
// Invalidate by any replica is seen by every Generations read that
// follows it, everywhere.
//
// A Breaker guards every call. The first failure of a command opens it;
// while it is open every call fails at once with ports.ErrCacheSkipped,
// and an Invalidate counts as failed (unless a probe is recovering: see
// Breaker). It closes only after a Probe finds Redis answering and
// MoveEpoch has moved the epoch: what any replica could not invalidate
// while Redis was away from it is then stale for every replica at once,
// and the near caches with it, since they are keyed by generation. The
// price is a cold cache, everywhere, after each outage that any replica
// saw.
//
// Errors are returned wrapped, never swallowed: whether to fail open is
// the caller's decision.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	epochKey string
	ttl      time.Duration
	near     *Memory
	pipe     *autoPipeline
	breaker  *Breaker

	// keyTTL is the epoch's and the counters' time to live; each replica
	// renews an org's at most once per refreshEvery when it reads them.
	keyTTL       time.Duration
	refreshEvery time.Duration
	refreshMu    sync.Mutex
	refreshed    map[domain.OrgID]struct{} // renewed since refreshAt
	refreshAt    time.Time
}

// NearEntries bounds the near cache of a Redis made by NewRedis.
const NearEntries = DefaultMaxEntries

// MinKeyTTL is the least time an epoch or a generation counter lives
// unused; with a long cache TTL it is a multiple of that instead.
const MinKeyTTL = 24 * time.Hour

// NewRedis returns a Redis cache whose entries live for ttl (DefaultTTL
// when ttl is not positive) under keys starting with prefix, guarded by
// breaker (see Breaker and Probe for what opens and closes it).
func NewRedis(client redis.UniversalClient, prefix string, ttl time.Duration, breaker *Breaker) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	keyTTL := max(MinKeyTTL, 100*ttl)
	r := &Redis{
		client: client, prefix: prefix, epochKey: prefix + ":epoch", ttl: ttl,
		near: NewMemoryWithLimit(ttl, NearEntries),
		// One pipeline in flight: the callers that arrive meanwhile make
		// the next one bigger. Against two, the cached list's ratio to its
		// ceiling read 0.54 and 0.55 against 0.47 and 0.47 (quick runs).
		pipe:    newAutoPipeline(client, 1),
		breaker: breaker,
		keyTTL:  keyTTL, refreshEvery: keyTTL / 8,
		refreshed: make(map[domain.OrgID]struct{}),
	}
	r.pipe.skip = func() error {
		// Reads stop at the breaker before they queue, unless they queued
		// just before it opened; an invalidation made while a probe
		// recovers must go.
		if breaker.refusing() {
			return ports.ErrCacheSkipped
		}
		return nil
	}
	r.pipe.failed = func(err error) {
		// Only a batch that got no reply: a reply (a miss, NOSCRIPT, an
		// error of one command) is its caller's to judge.
		var reply redis.Error
		if !errors.As(err, &reply) {
			breaker.Trip("cache pipeline", err)
		}
	}
	return r
}

// skipped is the error of a call the open breaker stopped.
func skipped(op string) error {
	return fmt.Errorf("redis cache: %s: %w", op, ports.ErrCacheSkipped)
}

// failed wraps err, the error of one of op's commands, and opens the
// breaker unless err is a miss.
func (r *Redis) failed(op string, err error) error {
	if !errors.Is(err, redis.Nil) {
		r.breaker.Trip("cache "+op, err)
	}
	return fmt.Errorf("redis cache: %s: %w", op, err)
}

// gaveUp wraps the error of pipe.do in op, without opening the breaker:
// the caller's context ended (its own deadline, perhaps spent on a slow
// query before it came here), or the breaker had the batch skipped.
// Neither is news about Redis: the flight goes on, and its commands' own
// errors, bounded by CommandTimeout, open the breaker if Redis is away.
func gaveUp(op string, err error) error {
	return fmt.Errorf("redis cache: %s: %w", op, err)
}

// Generations reads the epoch and org's generation counters, one per
// space, with one MGET. Keys found missing are first set to fresh random
// values (one more round trip), so that no generation read here is one an
// entry stored before the key was lost may be found under.
func (r *Redis) Generations(ctx context.Context, org domain.OrgID) (ports.Generations, error) {
	var gens ports.Generations
	if r.breaker.Open() {
		return gens, skipped("generations")
	}
	keys := make([]string, 1+len(gens))
	keys[0] = r.epochKey
	for space := range gens {
		keys[1+space] = r.genKey(org, ports.CacheSpace(space))
	}
	refresh := r.refreshDue(org)
	var cmd *redis.SliceCmd
	if err := r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) {
		cmd = p.MGet(ctx, keys...)
		if refresh {
			// PEXPIRE leaves a missing key missing.
			for _, k := range keys {
				p.PExpire(ctx, k, r.keyTTL)
			}
		}
	}); err != nil {
		return gens, gaveUp("generations", err)
	}
	vals, err := cmd.Result()
	if err != nil {
		return gens, r.failed("generations", err)
	}
	if len(vals) != len(keys) {
		return gens, fmt.Errorf("redis cache: generations: MGET returned %d values for %d keys", len(vals), len(keys))
	}
	if slices.Contains(vals, nil) {
		if err := r.initKeys(ctx, keys, vals); err != nil {
			return gens, err
		}
	}
	epoch, err := parseGen(vals[0])
	if err != nil {
		return gens, fmt.Errorf("redis cache: generations: epoch: %w", err)
	}
	for i := range gens {
		counter, err := parseGen(vals[1+i])
		if err != nil {
			return gens, fmt.Errorf("redis cache: generations: %w", err)
		}
		gens[i] = epoch ^ counter
	}
	return gens, nil
}

// initKeys sets each of keys whose value in vals is nil to a fresh random
// value unless another caller just did, and puts whichever won in vals.
// Its errors are wrapped, for Generations to return.
func (r *Redis) initKeys(ctx context.Context, keys []string, vals []any) error {
	gets := make([]*redis.StringCmd, len(keys))
	if err := r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) {
		for i, k := range keys {
			if vals[i] == nil {
				start := newCounter()
				if i == 0 {
					start = newEpoch()
				}
				p.SetNX(ctx, k, strconv.FormatUint(start, 10), r.keyTTL)
				gets[i] = p.Get(ctx, k)
			}
		}
	}); err != nil {
		return gaveUp("generations", err)
	}
	for i, get := range gets {
		if get == nil {
			continue
		}
		v, err := get.Result()
		if err != nil {
			return r.failed("generations", fmt.Errorf("initialise %s: %w", keys[i], err))
		}
		vals[i] = v
	}
	return nil
}

// refreshDue reports whether this replica should renew org's keys' TTLs
// now: once per refreshEvery per org. The set of orgs renewed starts
// afresh every refreshEvery, so it holds no more orgs than were read in
// one such period.
func (r *Redis) refreshDue(org domain.OrgID) bool {
	now := time.Now()
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if now.After(r.refreshAt) {
		clear(r.refreshed)
		r.refreshAt = now.Add(r.refreshEvery)
	}
	if _, ok := r.refreshed[org]; ok {
		return false
	}
	r.refreshed[org] = struct{}{}
	return true
}

// newEpoch is a fresh random epoch; newCounter a fresh random start for a
// counter, with 2^62 increments of room before INCR's int64 overflows.
// They need to be unpredictable to no attacker, only unlikely to repeat.
func newEpoch() uint64   { return rand.Uint64() }      //nolint:gosec // G404: not a secret
func newCounter() uint64 { return rand.Uint64() >> 2 } //nolint:gosec // G404: not a secret

// MoveEpoch sets the epoch to a new random value, different from the
// current one, which makes every entry of every organization stale for
// every replica at once. A Probe runs it before closing the breaker.
// Straight on the client, not the auto-pipeline, whose flight may still
// be waiting on a connection that died in the outage.
func (r *Redis) MoveEpoch(ctx context.Context) error {
	cur, err := r.client.Get(ctx, r.epochKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis cache: move epoch: %w", err)
	}
	next := strconv.FormatUint(newEpoch(), 10)
	for next == cur {
		next = strconv.FormatUint(newEpoch(), 10)
	}
	if err := r.client.Set(ctx, r.epochKey, next, r.keyTTL).Err(); err != nil {
		return fmt.Errorf("redis cache: move epoch: %w", err)
	}
	return nil
}

// Get returns the entry stored under gen, from the near cache when it
// holds it; a missing entry is a miss, not an error.
func (r *Redis) Get(ctx context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string) ([]byte, error) {
	if r.breaker.Open() {
		return nil, skipped("get")
	}
	if v, _ := r.near.Get(ctx, org, space, gen, key); v != nil {
		return v, nil
	}
	k := r.entryKey(org, space, gen, key)
	var (
		get  *redis.StringCmd
		pttl *redis.DurationCmd
	)
	// The entry's time left bounds its copy in the near cache.
	if err := r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) { get, pttl = p.Get(ctx, k), p.PTTL(ctx, k) }); err != nil {
		return nil, gaveUp("get", err)
	}
	val, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, r.failed("get", err)
	}
	// Gone between the two commands (or no TTL, which Set never leaves):
	// served, not copied.
	if left, err := pttl.Result(); err == nil && left > 0 {
		r.near.setAt(org, space, gen, key, val, time.Now().Add(left))
	}
	return val, nil
}

// Set stores value under gen as given. Under a generation that is already
// dead the entry is written but never read: readers look under the
// current one.
func (r *Redis) Set(ctx context.Context, org domain.OrgID, space ports.CacheSpace, gen uint64, key string, value []byte) error {
	if r.breaker.Open() {
		return skipped("set")
	}
	k := r.entryKey(org, space, gen, key)
	expires := time.Now().Add(r.ttl)
	// A copy: the SET may still go after a caller that gave up has
	// reused its buffer, and the near cache keeps it.
	v := bytes.Clone(value)
	var cmd *redis.StatusCmd
	if err := r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) { cmd = p.Set(ctx, k, v, r.ttl) }); err != nil {
		return gaveUp("set", err)
	}
	if err := cmd.Err(); err != nil {
		return r.failed("set", err)
	}
	// Timed from before the SET, so the copy never outlives the entry.
	r.near.setAt(org, space, gen, key, v, expires)
	return nil
}

// invalidateScript moves a counter on and renews its TTL. A counter found
// missing (never set, expired or evicted) starts from ARGV[1], a fresh
// random value, never from 0: see Redis.
var invalidateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
`)

// Invalidate moves org's generation in space on with one script (EVALSHA,
// pipelined). Whatever goes wrong opens the breaker, the open breaker
// included: the generation may not have moved, so the epoch must move
// before any replica trusts the cache again. While a probe recovers, it
// is sent (see Breaker).
func (r *Redis) Invalidate(ctx context.Context, org domain.OrgID, space ports.CacheSpace) error {
	// Dropped whatever Redis answers: the entries are dead or unreachable.
	r.near.drop(org, space)
	if r.breaker.refusing() {
		err := skipped("invalidate")
		r.breaker.Trip("cache invalidate", err)
		return err
	}
	// Not cut short by the caller's deadline: the write has committed, and
	// whether its invalidation happened must be known (a failure opens the
	// breaker). CommandTimeout bounds the wait.
	ctx = context.WithoutCancel(ctx)
	keys := []string{r.genKey(org, space)}
	args := []any{newCounter(), r.keyTTL.Milliseconds()}
	var cmd *redis.Cmd
	run := func(script func(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd) error {
		return r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) { cmd = script(ctx, p, keys, args...) })
	}
	err := run(invalidateScript.EvalSha)
	if err == nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// Redis has not seen the script yet, or lost it in a restart.
		err = run(invalidateScript.Eval)
	}
	if err == nil {
		err = cmd.Err()
	}
	if err != nil {
		r.breaker.Trip("cache invalidate", err)
		return fmt.Errorf("redis cache: invalidate: %w", err)
	}
	return nil
}

func parseGen(v any) (uint64, error) {
	switch v := v.(type) {
	case string:
		gen, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("generation: %w", err)
		}
		return gen, nil
	default:
		return 0, fmt.Errorf("generation is %T, want string", v)
	}
}

// Ping reports whether Redis answers, for readiness checks.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis cache: ping: %w", err)
	}
	return nil
}

// spaceNames are the spaces' parts of the keys.
var spaceNames = [ports.NumCacheSpaces]string{ports.SpaceTasks: "t", ports.SpaceSessions: "s"}

func (r *Redis) spacePrefix(org domain.OrgID, space ports.CacheSpace) string {
	return r.prefix + ":org:{" + strconv.FormatInt(int64(org), 10) + "}:" + spaceNames[space] + ":"
}

func (r *Redis) genKey(org domain.OrgID, space ports.CacheSpace) string {
	return r.spacePrefix(org, space) + "gen"
}

func (r *Redis) entryKey(org domain.OrgID, space ports.CacheSpace, gen uint64, key string) string {
	return r.spacePrefix(org, space) + "g" + strconv.FormatUint(gen, 10) + ":" + key
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
