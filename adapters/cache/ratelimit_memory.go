package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/taskflow/taskflow/ports"
)

// DefaultMaxLimiterKeys bounds a MemoryLimiter made by NewMemoryLimiter.
const DefaultMaxLimiterKeys = 100_000

const (
	// limiterSweepEvery spaces the sweeps that drop ended windows. A
	// sweep walks every key under the lock (a few milliseconds at
	// DefaultMaxLimiterKeys), so it must stay rare.
	limiterSweepEvery = 30 * time.Second
	// limiterFullSweepGap spaces the extra sweeps a full limiter runs to
	// make room. Without it, a flood of new keys against a full table of
	// live windows would pay a whole sweep per call.
	limiterFullSweepGap = time.Second
)

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
// Memory is bounded: an ended window is reused in place by its key's next
// request, dropped by a sweep that an Allow runs at most every
// limiterSweepEvery (no goroutine, nothing to close), and at most maxKeys
// (key, window) pairs are tracked. When that many are live, Allow first
// drops ended windows (at most once per limiterFullSweepGap); if none has
// ended, a key not yet tracked is not tracked at all and every request for
// it is allowed. This fails open on purpose: the alternatives are to
// refuse everyone new, which lets a flood of distinct keys lock out every
// other user, or to evict a live window, which resets a count the flood
// chose. Keys already tracked keep being counted while the limiter is full.
type MemoryLimiter struct {
	maxKeys int
	now     func() time.Time // tests replace it

	mu            sync.Mutex
	windows       map[windowKey]*window
	nextSweep     time.Time
	nextFullSweep time.Time
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
	now := time.Now()
	return &MemoryLimiter{
		maxKeys:   maxKeys,
		now:       time.Now,
		windows:   make(map[windowKey]*window),
		nextSweep: now.Add(limiterSweepEvery),
	}
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
	if !now.Before(l.nextSweep) {
		l.sweep(now)
	}
	w := l.windows[windowKey{key, length}]
	switch {
	case w != nil && now.Before(w.end):
		if w.count <= limit {
			// Past limit+1 the count changes no decision; stopping
			// there keeps a flood from ever overflowing it.
			w.count++
		}
	case w != nil:
		w.count, w.end = 1, now.Add(length)
	default:
		if len(l.windows) >= l.maxKeys && !l.makeRoom(now) {
			// Untracked: allowed, and reported as a first request.
			return decide(limit, 1, length), nil
		}
		w = &window{count: 1, end: now.Add(length)}
		// The key may alias a buffer the caller reuses (Fiber's
		// c.IP(), for one); a map key must own its bytes.
		l.windows[windowKey{strings.Clone(key), length}] = w
	}
	// now was read before the lock: a request that waited on it may
	// find a window that a later one opened, ending more than a window
	// from its now.
	return decide(limit, w.count, min(w.end.Sub(now), length)), nil
}

// makeRoom sweeps a full limiter, unless it did so less than
// limiterFullSweepGap ago, and reports whether a new key fits.
func (l *MemoryLimiter) makeRoom(now time.Time) bool {
	if !now.Before(l.nextFullSweep) {
		l.sweep(now)
		l.nextFullSweep = now.Add(limiterFullSweepGap)
	}
	return len(l.windows) < l.maxKeys
}

func (l *MemoryLimiter) sweep(now time.Time) {
	for k, w := range l.windows {
		if !now.Before(w.end) {
			delete(l.windows, k)
		}
	}
	l.nextSweep = now.Add(limiterSweepEvery)
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

// checkWindow rejects a window that is not positive: a limit with no
// window is a configuration mistake, and an error gets it logged where
// silently allowing or refusing everything would not.
func checkWindow(length time.Duration) error {
	if length <= 0 {
		return fmt.Errorf("rate limiter: window %v is not positive", length)
	}
	return nil
}
