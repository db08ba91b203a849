package cache

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is a circuit breaker in front of Redis: the first failure of any
// command opens it, and while it is open callers skip Redis (a miss, an
// answer from the database) instead of waiting on it. Only a Probe closes
// it, once Redis answers and, for the list cache, once the epoch has moved
// (see Redis.MoveEpoch): no request pays Redis's timeout twice in one
// outage, and no request is the one that finds out whether Redis is back.
//
// It is not sony/gobreaker: its half-open state lets real requests through
// to test the backend, and each of those pays the timeout again while
// Redis is still away; closing also needs a step of our own (the epoch
// move) between "Redis answers" and "callers may trust it".
//
// It counts the failures it is told of, so that a Probe can tell whether
// one came in while it was recovering (Probe.Step): a failed invalidation
// reported after the epoch moved needs another move before callers may
// trust the cache again. While the probe recovers (Redis has answered its
// ping, the epoch is moving) the breaker still reads as open, but
// invalidations are sent again: a write acknowledged then is invalidated
// for real, rather than skipped and counted as a failure, which under a
// steady flow of writes would keep the breaker open for ever.
//
// Another user of the same Redis (the rate limiter) may share it: skip
// Redis while Open, call Trip when a command gets no answer. The zero
// value is not usable; use NewBreaker.
type Breaker struct {
	state atomic.Int32 // closed, open or recovering
	log   *slog.Logger

	mu       sync.Mutex
	failures uint64
	since    time.Time // when it last opened
}

const (
	closed int32 = iota
	open
	recovering
)

// NewBreaker returns a closed Breaker that logs its transitions to log.
func NewBreaker(log *slog.Logger) *Breaker {
	return &Breaker{log: log}
}

// Open reports whether callers should skip Redis: until a probe has
// closed the breaker.
func (b *Breaker) Open() bool { return b.state.Load() != closed }

// refusing reports whether even an invalidation should skip Redis: open,
// and no probe has found Redis answering since.
func (b *Breaker) refusing() bool { return b.state.Load() == open }

// Trip records a failure of op and opens the breaker. Only the failure
// that opens it is logged: the ones that follow in the same outage say
// nothing new.
func (b *Breaker) Trip(op string, err error) {
	b.mu.Lock()
	b.failures++
	opened := b.state.Swap(open) == closed
	if opened {
		b.since = time.Now()
	}
	b.mu.Unlock()
	if opened {
		b.log.Error("redis unreachable: skipping it until it answers, serving from the database",
			"op", op, "err", err)
	}
}

// recover marks an open breaker as recovering and returns the number of
// failures so far, for closeIf.
func (b *Breaker) recover() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state.CompareAndSwap(open, recovering)
	return b.failures
}

// closeIf closes the breaker unless a failure came in since mark was
// taken, and reports whether it is closed.
func (b *Breaker) closeIf(mark uint64) bool {
	b.mu.Lock()
	if b.failures != mark {
		b.mu.Unlock()
		return false
	}
	closedNow := b.state.Swap(closed) != closed
	down := time.Since(b.since)
	b.mu.Unlock()
	if closedNow {
		b.log.Info("redis answers again: cache back in use", "down_for", down.Round(time.Millisecond).String())
	}
	return true
}

// Probe defaults: a frozen Redis costs the probe one timeout per step, so
// a step every interval+timeout; Redis answering again is noticed within
// about that.
const (
	ProbeInterval = 100 * time.Millisecond
	ProbeTimeout  = 200 * time.Millisecond
)

// Probe closes an open Breaker once Redis answers again. Each step, while
// the breaker is open, pings Redis with a short timeout and, when it
// answers, runs recover (for the list cache: move the epoch, so that what
// this replica could not invalidate during the outage is stale everywhere)
// before closing the breaker. It is a background loop (Start, Stop) that a
// test may also drive one Step at a time.
type Probe struct {
	breaker *Breaker
	ping    func(context.Context) error
	recover func(context.Context) error
	// Interval is the pause between steps, Timeout the limit of each one.
	Interval, Timeout time.Duration
	// Watch, when set, runs at most every WatchEvery while the breaker is
	// closed; an error from it opens the breaker as a failed command does
	// (for a cluster: Redis.WatchCluster, which reports failovers).
	Watch      func(context.Context) error
	WatchEvery time.Duration

	watched time.Time

	stop context.CancelFunc
	done chan struct{}
}

// NewProbe returns a stopped Probe of b with the default interval and
// timeout.
func NewProbe(b *Breaker, ping, recover func(context.Context) error) *Probe {
	return &Probe{breaker: b, ping: ping, recover: recover, Interval: ProbeInterval, Timeout: ProbeTimeout}
}

// Step makes one probe and reports whether the breaker is closed after
// it. A closed breaker costs nothing but the Watch, when one is set and
// due: Redis is only pinged while callers are skipping it.
func (p *Probe) Step(ctx context.Context) bool {
	if !p.breaker.Open() {
		if p.Watch == nil || time.Since(p.watched) < p.WatchEvery {
			return true
		}
		p.watched = time.Now()
		ctx, cancel := context.WithTimeout(ctx, p.Timeout)
		defer cancel()
		if err := p.Watch(ctx); err != nil {
			p.breaker.Trip("cache watch", err)
			return false
		}
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	if err := p.ping(ctx); err != nil {
		return false
	}
	// Taken before recover runs: a failure reported meanwhile may postdate
	// what recover did, so it keeps the breaker open for another round.
	mark := p.breaker.recover()
	if err := p.recover(ctx); err != nil {
		return false
	}
	return p.breaker.closeIf(mark)
}

// Start runs Step every Interval in a goroutine until Stop. It returns at
// once.
func (p *Probe) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.Step(ctx)
			}
		}
	}()
}

// Stop ends the loop that Start began and waits for it.
func (p *Probe) Stop() {
	if p.stop == nil {
		return
	}
	p.stop()
	<-p.done
}
