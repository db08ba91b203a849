package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/ports"
)

var _ ports.RateLimiter = (*RedisLimiter)(nil)

// RedisLimiter is a RateLimiter shared by every instance of the service.
// It has the semantics of MemoryLimiter (fixed windows opened by a key's
// first request, limit of zero or less meaning no limit), with the window
// kept by Redis itself as the key's TTL: replicas whose clocks disagree
// still count in the same window. One key per (key, window):
//
//	<prefix>:rl:{<key>}:<window in ms>    the count, expiring with the window
//
// The key may hold any bytes (':', spaces, braces, NUL): it is followed
// only by "}:" and digits, so the last ':' splits off the window and no two
// (key, window) pairs share a Redis key. Windows are rounded up to whole
// milliseconds, Redis's TTL granularity.
//
// Errors are returned wrapped: whether to fail open is the caller's
// decision. If the client retries a call whose first attempt reached Redis
// (go-redis does on some network errors), that request is counted twice,
// which errs towards refusing.
type RedisLimiter struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisLimiter returns a RedisLimiter whose keys start with prefix.
func NewRedisLimiter(client redis.UniversalClient, prefix string) *RedisLimiter {
	return &RedisLimiter{client: client, prefix: prefix}
}

// allowScript counts and reads the time left in one round trip. It sets
// the TTL whenever the key has none, not only on the first INCR, so that a
// count left without one (written by hand, or restored from a dump) cannot
// block its key for ever. A refused request does not extend the window.
var allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {n, ttl}
`)

// Allow counts one request for key. A limit of zero or less means no
// limit: the request is allowed without a round trip. A positive limit
// with a window that is not positive is an error.
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit int, length time.Duration) (ports.RateDecision, error) {
	if limit <= 0 {
		return unlimited, nil
	}
	if err := checkWindow(length); err != nil {
		return ports.RateDecision{}, err
	}
	ms := int64((length + time.Millisecond - 1) / time.Millisecond)
	res, err := allowScript.Run(ctx, l.client, []string{l.key(key, ms)}, ms).Int64Slice()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			// Not wrapped: to a caller, redis.Nil reads as "no value",
			// and the script always returns one.
			return ports.RateDecision{}, errors.New("redis rate limiter: script returned no reply")
		}
		return ports.RateDecision{}, fmt.Errorf("redis rate limiter: %w", err)
	}
	if len(res) != 2 {
		return ports.RateDecision{}, fmt.Errorf("redis rate limiter: script returned %d values, want 2", len(res))
	}
	count, ttl := res[0], res[1]
	// The key may be a hair from expiring (PTTL 0): the window is still
	// open, so Reset stays positive.
	reset := max(time.Duration(ttl)*time.Millisecond, time.Millisecond)
	// Past limit+1 the count changes no decision; clamping keeps the
	// conversion to int safe on 32-bit platforms.
	if count > int64(limit) {
		count = int64(limit) + 1
	}
	return decide(limit, int(count), reset), nil
}

// peekScript reads the count and the time left in one round trip,
// without creating the key. A count that is not a number is an error, as
// it is for INCR.
var peekScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  return {0, -2}
end
local n = tonumber(v)
if not n then
  return redis.error_reply('ERR rate limit count is not a number')
end
return {n, redis.call('PTTL', KEYS[1])}
`)

// Peek reports whether one more request for key would be allowed, without
// counting it. A limit of zero or less means no limit: allowed without a
// round trip.
func (l *RedisLimiter) Peek(ctx context.Context, key string, limit int, length time.Duration) (ports.RateDecision, error) {
	if limit <= 0 {
		return unlimited, nil
	}
	if err := checkWindow(length); err != nil {
		return ports.RateDecision{}, err
	}
	ms := int64((length + time.Millisecond - 1) / time.Millisecond)
	res, err := peekScript.Run(ctx, l.client, []string{l.key(key, ms)}).Int64Slice()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return ports.RateDecision{}, errors.New("redis rate limiter: peek script returned no reply")
		}
		return ports.RateDecision{}, fmt.Errorf("redis rate limiter: %w", err)
	}
	if len(res) != 2 {
		return ports.RateDecision{}, fmt.Errorf("redis rate limiter: peek script returned %d values, want 2", len(res))
	}
	count, ttl := res[0], res[1]
	if count <= 0 {
		return peeked(limit, 0, length), nil
	}
	// A count without a TTL gets one at its next Allow: until then it
	// counts in a window that starts now.
	reset := length
	if ttl >= 0 {
		reset = min(max(time.Duration(ttl)*time.Millisecond, time.Millisecond), length)
	}
	return peeked(limit, int(min(count, int64(limit)+1)), reset), nil
}

func (l *RedisLimiter) key(key string, windowMS int64) string {
	return l.prefix + ":rl:{" + key + "}:" + strconv.FormatInt(windowMS, 10)
}
