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
// trust the cache again. The zero value is not usable; use NewBreaker.
type Breaker struct {
	open atomic.Bool
	log  *slog.Logger

	mu       sync.Mutex
	failures uint64
	since    time.Time // when it last opened
}

// NewBreaker returns a closed Breaker that logs its transitions to log.
func NewBreaker(log *slog.Logger) *Breaker {
	return &Breaker{log: log}
}

// Open reports whether callers should skip Redis.
func (b *Breaker) Open() bool { return b.open.Load() }

// Trip records a failure of op and opens the breaker. Only the failure
// that opens it is logged: the ones that follow in the same outage say
// nothing new.
func (b *Breaker) Trip(op string, err error) {
	b.mu.Lock()
	b.failures++
	opened := !b.open.Swap(true)
	if opened {
		b.since = time.Now()
	}
	b.mu.Unlock()
	if opened {
		b.log.Error("redis unreachable: skipping it until it answers, serving from the database",
			"op", op, "err", err)
	}
}

// mark is the number of failures so far; closeIf takes it back.
func (b *Breaker) mark() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
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
	closed := b.open.Swap(false)
	down := time.Since(b.since)
	b.mu.Unlock()
	if closed {
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

	stop context.CancelFunc
	done chan struct{}
}

// NewProbe returns a stopped Probe of b with the default interval and
// timeout.
func NewProbe(b *Breaker, ping, recover func(context.Context) error) *Probe {
	return &Probe{breaker: b, ping: ping, recover: recover, Interval: ProbeInterval, Timeout: ProbeTimeout}
}

// Step makes one probe and reports whether the breaker is closed after
// it. A closed breaker costs nothing: Redis is only pinged while callers
// are skipping it.
func (p *Probe) Step(ctx context.Context) bool {
	if !p.breaker.Open() {
		return true
	}
	// Taken before recover runs: a failure reported meanwhile may postdate
	// what recover did, so it keeps the breaker open for another round.
	mark := p.breaker.mark()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	if err := p.ping(ctx); err != nil {
		return false
	}
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
