package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/taskflow/taskflow/ports"
)

// DefaultMaxLimiterKeys bounds a MemoryLimiter made by NewMemoryLimiter.
const DefaultMaxLimiterKeys = 100_000

// trimPerAllow is how many ended windows an Allow drops, at most, from the
// least recently used end: enough to keep up with the keys a flood opens,
// few enough that no call does a sweep's worth of work.
const trimPerAllow = 2

var _ ports.RateLimiter = (*MemoryLimiter)(nil)

// MemoryLimiter is a RateLimiter local to one process: with several
// replicas, each counts on its own, so a client spread over n replicas gets
// up to n times the limit. Use RedisLimiter to share the count.
//
// Windows are fixed and start at a key's first request, not on a clock
// boundary: a window of one minute opened at 12:00:40 ends at 12:01:40, and
// the first request after that opens the next one. RedisLimiter does the
// same (a key's TTL is its window), so the two behave alike behind the
// port, and keys do not all reset at the same instant. A key is counted
// separately for each window length it is used with, so one key may carry
// a per-minute and a per-hour limit.
//
// Memory is bounded: at most maxKeys (key, window) pairs are tracked, in
// least-recently-used order. A new key always gets a window: when the
// table is full the pair used longest ago is evicted, whether or not its
// window has ended. Every request for a key, refused ones included, makes
// it the most recently used, so a key under attack is the last to go; a
// flood of distinct keys can only reset counts that nobody has touched
// while maxKeys other pairs were used. (The alternative, not counting new
// keys while full, let a flood switch the limiter off for everyone.) Each
// Allow also drops up to trimPerAllow ended windows from the old end, so
// the table shrinks back when traffic calms down; nothing runs in the
// background and there is nothing to close.
type MemoryLimiter struct {
	now func() time.Time // tests replace it

	mu      sync.Mutex
	windows *simplelru.LRU[windowKey, *window]
}

type windowKey struct {
	key    string
	length time.Duration
}

type window struct {
	count int
	end   time.Time
}

// NewMemoryLimiter returns a MemoryLimiter tracking at most
// DefaultMaxLimiterKeys keys.
func NewMemoryLimiter() *MemoryLimiter {
	return NewMemoryLimiterWithMaxKeys(DefaultMaxLimiterKeys)
}

// NewMemoryLimiterWithMaxKeys is NewMemoryLimiter with another bound on the
// number of (key, window) pairs tracked (DefaultMaxLimiterKeys when maxKeys
// is not positive).
func NewMemoryLimiterWithMaxKeys(maxKeys int) *MemoryLimiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxLimiterKeys
	}
	// NewLRU fails only for a size that is not positive.
	windows, _ := simplelru.NewLRU[windowKey, *window](maxKeys, nil)
	return &MemoryLimiter{now: time.Now, windows: windows}
}

// Allow counts one request for key. A limit of zero or less means no
// limit: the request is allowed and not counted. A positive limit with a
// window that is not positive is an error.
//
// For a key already tracked this is one lock, one map lookup and no
// allocation.
func (l *MemoryLimiter) Allow(_ context.Context, key string, limit int, length time.Duration) (ports.RateDecision, error) {
	if limit <= 0 {
		return unlimited, nil
	}
	if err := checkWindow(length); err != nil {
		return ports.RateDecision{}, err
	}
	now := l.now()

	l.mu.Lock()
	defer l.mu.Unlock()
	l.trim(now)
	w, ok := l.windows.Get(windowKey{key, length})
	switch {
	case ok && now.Before(w.end):
		if w.count <= limit {
			// Past limit+1 the count changes no decision; stopping
			// there keeps a flood from ever overflowing it.
			w.count++
		}
	case ok:
		w.count, w.end = 1, now.Add(length)
	default:
		w = &window{count: 1, end: now.Add(length)}
		// The key may alias a buffer the caller reuses (Fiber's
		// c.IP(), for one); a map key must own its bytes. A full
		// table evicts its least recently used pair.
		l.windows.Add(windowKey{strings.Clone(key), length}, w)
	}
	// now was read before the lock: a request that waited on it may
	// find a window that a later one opened, ending more than a window
	// from its now.
	return decide(limit, w.count, min(w.end.Sub(now), length)), nil
}

// Peek reports whether one more request for key would be allowed, without
// counting it. It refreshes the key in the LRU order as Allow does: a key
// that is being checked is in use.
func (l *MemoryLimiter) Peek(_ context.Context, key string, limit int, length time.Duration) (ports.RateDecision, error) {
	if limit <= 0 {
		return unlimited, nil
	}
	if err := checkWindow(length); err != nil {
		return ports.RateDecision{}, err
	}
	now := l.now()

	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows.Get(windowKey{key, length})
	if !ok || !now.Before(w.end) {
		return peeked(limit, 0, length), nil
	}
	return peeked(limit, w.count, min(w.end.Sub(now), length)), nil
}

// trim drops ended windows from the least recently used end.
func (l *MemoryLimiter) trim(now time.Time) {
	for range trimPerAllow {
		_, w, ok := l.windows.GetOldest()
		if !ok || now.Before(w.end) {
			return
		}
		l.windows.RemoveOldest()
	}
}

// unlimited is the decision for a limit of zero or less.
var unlimited = ports.RateDecision{Allowed: true}

// decide turns the count of the current window into a decision.
func decide(limit, count int, reset time.Duration) ports.RateDecision {
	return ports.RateDecision{
		Allowed:   count <= limit,
		Limit:     limit,
		Remaining: max(0, limit-count),
		Reset:     reset,
	}
}

// peeked is the decision for one more request after count of them.
func peeked(limit, count int, reset time.Duration) ports.RateDecision {
	return ports.RateDecision{
		Allowed:   count < limit,
		Limit:     limit,
		Remaining: max(0, limit-count),
		Reset:     reset,
	}
}

// checkWindow rejects a window that is not positive: a limit with no
// window is a configuration mistake, and an error gets it logged where
// silently allowing or refusing everything would not.
func checkWindow(length time.Duration) error {
	if length <= 0 {
		return fmt.Errorf("rate limiter: window %v is not positive", length)
	}
	return nil
}
