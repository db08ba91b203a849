package cache

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// genReader reads generation counters for many callers at once: the
// callers that arrive while a read is on the wire queue up, and the next
// read fetches all their keys with one MGET. Under load that turns one
// Redis round trip per request into one per batch; the syscalls of those
// round trips were most of the service's CPU on a cached list.
//
// Every caller gets a value read after it arrived, never one read before,
// so a caller still sees every INCR that completed before it called: the
// "stale at once" promise holds as it does with one GET per caller.
//
// No goroutine runs while nobody reads. The caller that finds one of the
// maxFlights slots free starts a flight; a flight that finds callers
// queued when it lands takes them on the next one.
type genReader struct {
	mget       func(ctx context.Context, keys []string) ([]any, error)
	maxFlights int

	mu      sync.Mutex
	flights int
	queue   []*genWait
}

// genWait is one caller's place in a batch: its keys, and the values read
// for them. done is buffered, so a flight never blocks on a caller that
// stopped waiting.
type genWait struct {
	keys []string
	gens []uint64
	done chan struct{}
	err  error
}

var genWaitPool = sync.Pool{New: func() any { return &genWait{done: make(chan struct{}, 1)} }}

// read stores in gens the generation under each of keys (a missing key is
// 0); gens must be as long as keys.
func (g *genReader) read(ctx context.Context, keys []string, gens []uint64) error {
	w := genWaitPool.Get().(*genWait)
	w.keys, w.gens, w.err = keys, append(w.gens[:0], make([]uint64, len(keys))...), nil

	g.mu.Lock()
	g.queue = append(g.queue, w)
	start := g.flights < g.maxFlights
	if start {
		g.flights++
	}
	g.mu.Unlock()
	if start {
		// In a goroutine of its own, so that this caller still returns at
		// its deadline; the flight ends with the client's read timeout,
		// not with this caller's request, since it answers others too.
		go g.fly(context.WithoutCancel(ctx))
	}

	select {
	case <-w.done:
		copy(gens, w.gens)
		err := w.err
		w.keys = nil
		genWaitPool.Put(w)
		return err
	case <-ctx.Done():
		// w stays with its batch, which will still write to it; it is not
		// returned to the pool.
		return ctx.Err()
	}
}

// take empties the queue into a batch; the caller holds mu.
func (g *genReader) take() []*genWait {
	batch := g.queue
	g.queue = make([]*genWait, 0, cap(batch))
	return batch
}

// fly takes the queue as a batch, reads its keys and answers each caller,
// again while callers keep queueing; it frees its slot when none did.
func (g *genReader) fly(ctx context.Context) {
	for {
		// The callers that are about to queue (handlers already running
		// on another P, or runnable) get a chance to join this batch.
		runtime.Gosched()
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.flights--
			g.mu.Unlock()
			return
		}
		batch := g.take()
		g.mu.Unlock()
		g.answer(ctx, batch)
	}
}

func (g *genReader) answer(ctx context.Context, batch []*genWait) {
	var keys []string
	for _, w := range batch {
		keys = append(keys, w.keys...)
	}
	vals, err := g.mget(ctx, keys)
	if err == nil && len(vals) != len(keys) {
		err = fmt.Errorf("MGET returned %d values for %d keys", len(vals), len(keys))
	}
	for _, w := range batch {
		w.err = err
		for i := range w.keys {
			if w.err != nil {
				break
			}
			w.gens[i], w.err = parseGen(vals[i])
		}
		if err == nil {
			vals = vals[len(w.keys):]
		}
		w.done <- struct{}{}
	}
}

func parseGen(v any) (uint64, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
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
