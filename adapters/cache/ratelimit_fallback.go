package cache

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/taskflow/taskflow/ports"
)

var _ ports.RateLimiter = (*FallbackLimiter)(nil)

// probeKey is the key a probe counts under in the shared limiter. Its
// count means nothing; probeLimit keeps it from ever being refused.
const (
	probeKey   = "fallback-probe"
	probeLimit = 1 << 30
)

// FallbackLimiter counts in a shared limiter (Redis) while it answers and
// in a local one (per replica) while it does not, so that rate limits
// hold, per replica, through a Redis outage instead of switching off.
//
// The first error from the shared limiter switches to the local one: that
// request is counted locally, and so is every later one, without trying
// Redis again, so no request waits out a Redis timeout after the first.
// Probe (driven by Run, which bootstrap starts and stops with the
// application) tries the shared limiter in the background and switches
// back once it answers. Each switch logs one line.
//
// The local limiter counts every request this replica allows or refuses,
// also while the shared one answers, so that a switch does not hand a
// client a fresh limit: after a Redis timeout (an outage, or a slow
// moment under load), a client that used up its limit on this replica
// stays refused. Counts do not move back: after Redis returns, it counts
// from what it held (empty after a restart), so a client may get up to
// one more limit's worth of requests there. Any error
// from the shared limiter switches, not only network ones: a Redis that
// answers with errors (out of memory, loading its data) counts nothing
// either, and the probe, which counts as Allow does, tells when it does
// again.
type FallbackLimiter struct {
	shared ports.RateLimiter
	local  ports.RateLimiter
	log    *slog.Logger
	// away is true from the shared limiter's first error until a probe
	// finds it answering.
	away atomic.Bool
	// skip, when set, reports that Redis is known to be away already (the
	// list cache's breaker is open): then not even the first request
	// waits on it.
	skip func() bool
}

// SkipWhile makes the limiter count locally, without trying the shared
// limiter, while skip reports true: give it the list cache's Breaker.Open,
// so that a Redis the cache found away costs the limiter no timeout.
func (l *FallbackLimiter) SkipWhile(skip func() bool) { l.skip = skip }

// NewFallbackLimiter returns a FallbackLimiter over shared, counting in
// local while shared fails.
func NewFallbackLimiter(shared, local ports.RateLimiter, log *slog.Logger) *FallbackLimiter {
	return &FallbackLimiter{shared: shared, local: local, log: log}
}

// Allow counts one request for key in the shared limiter, or in the local
// one while the shared one is away. It returns an error only for a window
// that is not positive, as every RateLimiter does.
func (l *FallbackLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	return l.do(ctx, key, limit, window, ports.RateLimiter.Allow, true)
}

// Peek reports whether one more request for key would be allowed, from
// the shared limiter or, while it is away, the local one.
func (l *FallbackLimiter) Peek(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	return l.do(ctx, key, limit, window, ports.RateLimiter.Peek, false)
}

// do runs op on the shared limiter, or on the local one while the shared
// one is away; shadow: an op that counts, which the local limiter counts
// too when the shared one answers.
func (l *FallbackLimiter) do(ctx context.Context, key string, limit int, window time.Duration,
	op func(ports.RateLimiter, context.Context, string, int, time.Duration) (ports.RateDecision, error),
	shadow bool) (ports.RateDecision, error) {
	if limit <= 0 {
		return unlimited, nil
	}
	// Checked here so that a caller's mistake is returned as an error,
	// not taken for Redis being away.
	if err := checkWindow(window); err != nil {
		return ports.RateDecision{}, err
	}
	if !l.away.Load() && (l.skip == nil || !l.skip()) {
		// Bounded like the cache's own commands: a frozen Redis costs
		// the one request that finds it so at most CommandTimeout.
		sctx, cancel := context.WithTimeout(ctx, CommandTimeout)
		d, err := op(l.shared, sctx, key, limit, window)
		cancel()
		if err == nil {
			if shadow {
				// Its answer is the shared one's; the window is
				// valid, so the memory limiter returns no error.
				_, _ = op(l.local, ctx, key, limit, window)
			}
			return d, nil
		}
		if l.away.CompareAndSwap(false, true) {
			l.log.Warn("rate limiter: redis unreachable, counting per replica until it answers", "err", err)
		}
	}
	return op(l.local, ctx, key, limit, window)
}

// Away reports whether the local limiter is counting.
func (l *FallbackLimiter) Away() bool { return l.away.Load() }

// Probe tries the shared limiter if it is away, and switches back to it
// if it answers. It reports whether the shared limiter is in use.
func (l *FallbackLimiter) Probe(ctx context.Context) bool {
	if !l.away.Load() {
		return true
	}
	// A real count, not a PING: a Redis that answers PING but refuses
	// writes still cannot count.
	if _, err := l.shared.Allow(ctx, probeKey, probeLimit, time.Minute); err != nil {
		return false
	}
	if l.away.CompareAndSwap(true, false) {
		l.log.Info("rate limiter: redis answers again, counting shared")
	}
	return true
}

// Run probes every interval until ctx ends. Each probe gets at most one
// interval, so a frozen Redis cannot stall the loop.
func (l *FallbackLimiter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if l.away.Load() {
				pctx, cancel := context.WithTimeout(ctx, every)
				l.Probe(pctx)
				cancel()
			}
		}
	}
}
