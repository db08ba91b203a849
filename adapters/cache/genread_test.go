package cache

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeMGET answers each key with its own name's number after a release,
// and records the batches it was given.
type fakeMGET struct {
	release chan struct{}
	mu      sync.Mutex
	batches [][]string
	err     error
}

func (f *fakeMGET) mget(_ context.Context, keys []string) ([]any, error) {
	f.mu.Lock()
	f.batches = append(f.batches, append([]string(nil), keys...))
	f.mu.Unlock()
	<-f.release
	if f.err != nil {
		return nil, f.err
	}
	vals := make([]any, len(keys))
	for i, k := range keys {
		vals[i] = k
	}
	return vals, nil
}

func (f *fakeMGET) calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...)
}

// waitFor polls until cond holds or a second passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (g *genReader) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

func TestGenReader(t *testing.T) {
	t.Parallel()

	t.Run("callers_that_queue_behind_busy_flights_share_one_mget", func(t *testing.T) {
		t.Parallel()
		f := &fakeMGET{release: make(chan struct{})}
		g := &genReader{mget: f.mget, maxFlights: 2}
		var wg sync.WaitGroup
		results := make([]uint64, 12)
		read := func(i int) {
			wg.Go(func() {
				gen, err := read1(t.Context(), g, strconv.Itoa(i))
				if err != nil {
					t.Errorf("read %d: %v", i, err)
				}
				results[i] = gen
			})
		}
		// Two callers take the two flights, which stay on the wire...
		read(0)
		waitFor(t, "the first flight", func() bool { return len(f.calls()) == 1 })
		read(1)
		waitFor(t, "the second flight", func() bool { return len(f.calls()) == 2 })
		// ...while ten more queue.
		for i := 2; i < 12; i++ {
			read(i)
		}
		waitFor(t, "ten queued callers", func() bool { return g.queued() == 10 })
		close(f.release)
		wg.Wait()

		calls := f.calls()
		if len(calls) != 3 || len(calls[2]) != 10 {
			t.Fatalf("MGET batches = %v, want [0] [1] and one of the ten others", calls)
		}
		for i, gen := range results {
			if gen != uint64(i) {
				t.Errorf("caller %d got %d, want %d", i, gen, i)
			}
		}
		// A flight frees its slot just after its last answer.
		waitFor(t, "both flights to end", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return g.flights == 0
		})
	})

	t.Run("an_mget_error_reaches_every_caller_of_the_batch", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		f := &fakeMGET{release: make(chan struct{}), err: boom}
		close(f.release)
		g := &genReader{mget: f.mget, maxFlights: 1}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if _, err := read1(t.Context(), g, strconv.Itoa(i)); !errors.Is(err, boom) {
					t.Errorf("read %d: err = %v, want %v", i, err, boom)
				}
			})
		}
		wg.Wait()
	})

	t.Run("a_caller_leaves_at_its_deadline_and_the_flight_still_lands", func(t *testing.T) {
		t.Parallel()
		f := &fakeMGET{release: make(chan struct{})}
		g := &genReader{mget: f.mget, maxFlights: 1}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := read1(ctx, g, "1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read with a 20ms deadline on a stalled MGET: err = %v, want the deadline", err)
		}
		close(f.release)
		// The slot is free again once the abandoned flight lands.
		if gen, err := read1(t.Context(), g, "7"); err != nil || gen != 7 {
			t.Fatalf("read after the stall = %d, %v; want 7", gen, err)
		}
	})

	t.Run("values_that_are_not_counters_are_errors", func(t *testing.T) {
		t.Parallel()
		for _, v := range []any{"x", "-1", int64(3)} {
			if _, err := parseGen(v); err == nil {
				t.Errorf("parseGen(%#v): nil error", v)
			}
		}
		if gen, err := parseGen(nil); err != nil || gen != 0 {
			t.Errorf("parseGen(nil) = %d, %v; want 0 (a missing counter)", gen, err)
		}
	})
}

func read1(ctx context.Context, g *genReader, key string) (uint64, error) {
	var gen [1]uint64
	err := g.read(ctx, []string{key}, gen[:])
	return gen[0], err
}

func TestGenReader_SeveralKeysPerCaller(t *testing.T) {
	t.Parallel()
	f := &fakeMGET{release: make(chan struct{})}
	g := &genReader{mget: f.mget, maxFlights: 1}
	var wg sync.WaitGroup
	// The first caller holds the only flight while the next three queue
	// with two keys each.
	wg.Go(func() {
		if _, err := read1(t.Context(), g, "100"); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, "the first flight", func() bool { return len(f.calls()) == 1 })
	for i := range 3 {
		wg.Go(func() {
			gens := make([]uint64, 2)
			keys := []string{strconv.Itoa(10 * i), strconv.Itoa(10*i + 1)}
			if err := g.read(t.Context(), keys, gens); err != nil {
				t.Errorf("read %v: %v", keys, err)
				return
			}
			if gens[0] != uint64(10*i) || gens[1] != uint64(10*i+1) {
				t.Errorf("read %v = %v", keys, gens)
			}
		})
	}
	waitFor(t, "three queued callers", func() bool { return g.queued() == 3 })
	close(f.release)
	wg.Wait()
	if calls := f.calls(); len(calls) != 2 || len(calls[1]) != 6 {
		t.Fatalf("MGET batches = %v, want the first key, then the six others in one", calls)
	}
}
