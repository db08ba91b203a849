package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// TTL.
//
// On a Redis Cluster (NewRedisClusterClient) the braces are the hash tag:
// an org's counters and entries share one slot, so its generation read is
// one MGET on one node, and no command names keys of two slots. The epoch
// has a slot of its own; each replica keeps a copy and reads it again, in
// the same pipeline as a generation read, once the copy is EpochEvery old
// (see Generations). What a node may lose, and why no old entry comes back:
//
//   - A master restarted empty, with no replica: its orgs' counters are
//     gone, and start again from fresh random values, as on a single node.
//     The counters are thus each org's own restart epoch, kept in its
//     slot; the entries of the slot went with them, and the near caches'
//     copies are keyed by generations no counter will reach. Were the
//     epoch's key on that node, a fresh random epoch makes everything
//     stale, as on a single node.
//   - A master failed over to its replica: replication is asynchronous, so
//     the replica may lack the master's last acknowledged writes. A lost
//     INCR of Invalidate puts an org's counter back on a generation whose
//     entries (in the replica, and in near caches) predate the write: the
//     one case a fresh random start does not cover, since nothing is
//     missing. Every failover is therefore treated as an outage: a replica
//     whose commands to the failed master get no answer opens its breaker,
//     and one that sent none learns of it from WatchCluster, which the
//     Probe runs every few hundred milliseconds and which reports the
//     cluster's configuration epoch moving on (every promotion moves it).
//     Either way the Probe closes the breaker only once every master
//     answers and the cluster is ok (Ping), after it has moved the epoch:
//     every generation of every org is new, for every replica within
//     EpochEvery. (MoveEpoch takes note of the configuration epoch first:
//     a failover seen then is covered by the move.) A per-org epoch would
//     not do: which orgs' slots were on
//     the failed node is the cluster's business, and the lost write could
//     have been the org epoch's own move.
//   - The epoch's own node failed over, losing a MoveEpoch: the same
//     failover is seen, and the epoch moved again.
//
// What remains is the window between a promotion and its discovery
// (WatchEvery, plus gossip), during which a reverted counter may serve an
// entry that predates the lost write: it is well inside the 2 s a list may
// be stale, and needs a write lost in the failover to begin with.
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

	// cluster is set when client is a Redis Cluster's: the epoch is then
	// read apart from the counters, at most every EpochEvery (see Redis).
	cluster *redis.ClusterClient
	epochMu sync.Mutex
	epoch   uint64    // the epoch last read or set
	epochAt time.Time // when the read that found it began; zero: none
	// configEpoch is the highest cluster_current_epoch WatchCluster has
	// seen: it moves on with every failover.
	configEpoch int64

	// orgKeys holds each org's generation keys, built once rather than on
	// every read (see genKeys).
	orgKeys  sync.Map // domain.OrgID -> *genKeys
	orgCount atomic.Int64
}

// maxOrgKeys bounds orgKeys: past it the map starts again empty.
const maxOrgKeys = 10_000

// genKeys are the keys a Generations read names, in its order: the epoch
// and org's counters, one per space; and the MGET of them, ready to send.
// Read-only once built: concurrent reads share them.
type genKeys struct {
	keys []string
	mget []any
}

// keysOf returns org's genKeys. Building them (the key strings, and the
// MGET's arguments, each string boxed) was a third of a cached hit's
// allocations on the Redis path (BenchmarkRedis_GetHit).
func (r *Redis) keysOf(org domain.OrgID) *genKeys {
	if k, ok := r.orgKeys.Load(org); ok {
		return k.(*genKeys)
	}
	k := &genKeys{keys: make([]string, 1+ports.NumCacheSpaces)}
	k.keys[0] = r.epochKey
	for space := range ports.NumCacheSpaces {
		k.keys[1+space] = r.genKey(org, ports.CacheSpace(space))
	}
	k.mget = make([]any, 0, 1+len(k.keys))
	k.mget = append(k.mget, "mget")
	for _, key := range k.keys {
		k.mget = append(k.mget, key)
	}
	if r.orgCount.Add(1) > maxOrgKeys {
		r.orgKeys.Clear()
		r.orgCount.Store(1)
	}
	r.orgKeys.Store(org, k)
	return k
}

// EpochEvery bounds the age of the epoch a Redis on a cluster uses: an
// epoch moved by one replica (MoveEpoch) is in use by all within this
// long, well inside the 2 s the API allows a list to be stale.
const EpochEvery = 250 * time.Millisecond

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
		near: NewMemoryWithLimits(ttl, NearEntries, DefaultMaxBytes),
		// One pipeline in flight: the callers that arrive meanwhile make
		// the next one bigger. Against two, the cached list's ratio to its
		// ceiling read 0.54 and 0.55 against 0.47 and 0.47 (quick runs).
		pipe:    newAutoPipeline(client, 1),
		breaker: breaker,
		keyTTL:  keyTTL, refreshEvery: keyTTL / 8,
		refreshed: make(map[domain.OrgID]struct{}),
	}
	r.cluster, _ = client.(*redis.ClusterClient)
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
//
// On a cluster the MGET holds only the org's counters, which share its
// hash tag and so one slot: one round trip to one node. The epoch lives
// in a slot of its own; this replica's copy of it is used while it is
// younger than EpochEvery, and read again (in the same pipeline, which
// the cluster client sends to each node at once) when it is older.
func (r *Redis) Generations(ctx context.Context, org domain.OrgID) (ports.Generations, error) {
	var gens ports.Generations
	if r.breaker.Open() {
		return gens, skipped("generations")
	}
	gk := r.keysOf(org)
	keys := gk.keys
	refresh := r.refreshDue(org)
	start := time.Now()
	cached, readEpoch := r.cachedEpoch(start)
	var (
		cmd      *redis.SliceCmd
		mget     *redis.Cmd
		epochCmd *redis.StringCmd
	)
	if err := r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) {
		switch {
		case r.cluster == nil:
			// p.MGet(ctx, keys...) with its arguments made once per org.
			mget = p.Do(ctx, gk.mget...)
		case readEpoch:
			epochCmd = p.Get(ctx, keys[0])
			cmd = p.MGet(ctx, keys[1:]...)
		default:
			cmd = p.MGet(ctx, keys[1:]...)
		}
		// PEXPIRE leaves a missing key missing.
		if refresh {
			for _, k := range keys[1:] {
				p.PExpire(ctx, k, r.keyTTL)
			}
		}
		// On a cluster each read of the epoch renews it: a few times a
		// second per replica, rather than only when it coincides with an
		// org's renewal.
		if readEpoch && (refresh || r.cluster != nil) {
			p.PExpire(ctx, keys[0], r.keyTTL)
		}
	}); err != nil {
		return gens, gaveUp("generations", err)
	}
	var vals []any
	var err error
	if mget != nil {
		vals, err = mget.Slice()
	} else {
		vals, err = cmd.Result()
	}
	if err != nil {
		return gens, r.failed("generations", err)
	}
	if r.cluster != nil {
		var epoch any = strconv.FormatUint(cached, 10)
		if readEpoch {
			v, err := epochCmd.Result()
			switch {
			case errors.Is(err, redis.Nil):
				epoch = nil
			case err != nil:
				return gens, r.failed("generations", err)
			default:
				epoch = v
			}
		}
		vals = append([]any{epoch}, vals...)
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
	if readEpoch {
		r.storeEpoch(epoch, start)
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

// cachedEpoch returns this replica's copy of the epoch and whether it must
// be read again: always on a single node (it costs nothing there, being in
// the MGET), on a cluster when the copy is EpochEvery old.
func (r *Redis) cachedEpoch(now time.Time) (epoch uint64, read bool) {
	if r.cluster == nil {
		return 0, true
	}
	r.epochMu.Lock()
	defer r.epochMu.Unlock()
	return r.epoch, r.epochAt.IsZero() || now.Sub(r.epochAt) >= EpochEvery
}

// storeEpoch keeps epoch, read by a read that began at start, unless the
// copy is younger: a read that began before MoveEpoch set a new epoch must
// not put the old one back.
func (r *Redis) storeEpoch(epoch uint64, start time.Time) {
	if r.cluster == nil {
		return
	}
	r.epochMu.Lock()
	defer r.epochMu.Unlock()
	if start.After(r.epochAt) {
		r.epoch, r.epochAt = epoch, start
	}
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
//
// On a cluster it first takes note of the configuration epoch: a failover
// seen now happened before this move, which covers it, so WatchCluster
// need not open the breaker for it once more.
func (r *Redis) MoveEpoch(ctx context.Context) error {
	if r.cluster != nil {
		if _, _, err := r.observeConfigEpoch(ctx); err != nil {
			return fmt.Errorf("redis cache: move epoch: %w", err)
		}
	}
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
	// Timed after the SET: a read that began earlier may have found the
	// old epoch, and must not put it back.
	n, _ := strconv.ParseUint(next, 10, 64)
	r.storeEpoch(n, time.Now())
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

// Ping reports whether Redis answers, for readiness checks and the
// Probe. On a cluster every master must answer and the cluster must say
// its state is ok: while a failed master's slots have no master (no
// replica promoted yet) the probe keeps the breaker open, so the epoch
// moves only after a promotion, which may have lost the last writes.
func (r *Redis) Ping(ctx context.Context) error {
	if r.cluster == nil {
		if err := r.client.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis cache: ping: %w", err)
		}
		return nil
	}
	err := r.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if state := infoField(info, "cluster_state"); state != "ok" {
			return fmt.Errorf("%s says cluster_state:%s", c.Options().Addr, state)
		}
		return nil
	})
	if err != nil {
		// The client's map of the cluster may be what is out of date (a
		// replica promoted in the failed master's place): read it again,
		// for the next ping.
		r.cluster.ReloadState(ctx)
		return fmt.Errorf("redis cache: ping: %w", err)
	}
	return nil
}

// WatchCluster reads the cluster's configuration epoch
// (cluster_current_epoch), which grows with every failover, and returns
// an error when it has grown since the last call, or when the cluster
// does not answer or says it is not ok. A promoted replica may lack the
// last writes its master acknowledged, an INCR of Invalidate among them:
// an old generation of some organization would be current again, with
// its entries still in Redis and in near caches. The caller (the Probe)
// opens the breaker on the error, which moves the epoch once the cluster
// answers. A single node has nothing to watch.
func (r *Redis) WatchCluster(ctx context.Context) error {
	if r.cluster == nil {
		return nil
	}
	seen, epoch, err := r.observeConfigEpoch(ctx)
	if err != nil {
		return err
	}
	if seen != 0 && epoch > seen {
		return fmt.Errorf("redis cache: cluster configuration epoch moved from %d to %d (a failover)", seen, epoch)
	}
	return nil
}

// observeConfigEpoch reads the cluster's state and configuration epoch
// from one node, keeps the highest epoch seen, and returns the one seen
// before with the one read. A state other than ok is an error.
func (r *Redis) observeConfigEpoch(ctx context.Context) (seen, epoch int64, err error) {
	info, err := r.cluster.ClusterInfo(ctx).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("redis cache: cluster info: %w", err)
	}
	if state := infoField(info, "cluster_state"); state != "ok" {
		return 0, 0, fmt.Errorf("redis cache: cluster_state:%s", state)
	}
	epoch, err = strconv.ParseInt(infoField(info, "cluster_current_epoch"), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("redis cache: cluster_current_epoch: %w", err)
	}
	r.epochMu.Lock()
	defer r.epochMu.Unlock()
	seen = r.configEpoch
	// Nodes learn a new epoch by gossip: one that has not yet reports a
	// lower one, which is no news.
	r.configEpoch = max(seen, epoch)
	return seen, epoch, nil
}

// infoField is the value of name in the text of an INFO-style reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
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
	failFast(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.PoolSize, &opt.MaxRetries)
	// go-redis retries a failed dial 5 times by default: with a dead Redis
	// every request would wait out all of them.
	opt.DialerRetries = 1
	// Maintenance notifications only exist on Redis Cloud/Enterprise; the
	// automatic mode would spend a round trip on every new connection to
	// find that out.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

// failFast gives the timeouts, pool and retries of a client that the
// application may fail open on the defaults that the URL left unset (0):
// 500 ms to dial, read and write, a pool of 10 waited on for at most a
// second, one retry.
func failFast(dial, read, write, poolWait *time.Duration, poolSize, retries *int) {
	for _, d := range []*time.Duration{dial, read, write} {
		if *d == 0 {
			*d = 500 * time.Millisecond
		}
	}
	if *poolWait == 0 {
		*poolWait = time.Second
	}
	if *poolSize == 0 {
		*poolSize = 10
	}
	if *retries == 0 {
		*retries = 1
	}
}

// NewRedisClusterClient parses a cluster URL in go-redis's form
// (redis://host1:port?addr=host2:port&addr=host3:port, see
// redis.ParseClusterURL) into a cluster client with the timeouts of
// NewRedisClient. It reads the cluster's map of slots again every second
// (ClusterStateReloadInterval), not only on a MOVED reply: after a
// failover the old master refuses connections rather than redirecting,
// and the client would keep dialling it. It does not connect.
func NewRedisClusterClient(url string) (*redis.ClusterClient, error) {
	opt, err := redis.ParseClusterURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis cluster url: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	failFast(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.PoolSize, &opt.MaxRetries)
	opt.DialerRetries = 1
	opt.ClusterStateReloadInterval = time.Second
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClusterClient(opt), nil
}
