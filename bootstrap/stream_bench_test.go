package bootstrap_test

import (
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

// TestStreamFanOut_Measure measures the live feed's fan-out: 100 open
// streams of one organization, half on each of two replicas sharing
// Postgres (and Redis), while writers on both replicas record events as
// fast as they can; for every (event, stream) pair, the time from the
// commit (Append returned) to the frame read by the client. It asserts
// only that every stream gets every event exactly once, in order; the
// figures are logged. It runs with STREAM_BENCH=1 (it is a measurement,
// not a check):
//
//	STREAM_BENCH=1 CI=true go test ./bootstrap -run TestStreamFanOut_Measure -v
//
// Client, servers, Postgres and Redis share the machine's cores, so the
// latencies include the client's own parsing of 100 streams.
func TestStreamFanOut_Measure(t *testing.T) {
	if os.Getenv("STREAM_BENCH") != "1" {
		t.Skip("a measurement: set STREAM_BENCH=1 to run it")
	}
	const streams, writers, perWriter = 100, 4, 250
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			a, b := twoReplicas(t, backend, application.DefaultStreamOptions().Poll, nil)
			tn := a.newTenant(t)
			after := strconv.FormatInt(a.lastEvent(t, tn.ID), 10)
			var open []*sse
			for i := range streams {
				r := a
				if i%2 == 1 {
					r = b
				}
				s := r.openStream(t, "/events/stream?after="+after, tn.Admin.Token)
				open = append(open, s)
			}
			defer func() {
				for _, s := range open {
					s.close()
				}
			}()
			var mu sync.Mutex
			committed := map[int64]time.Time{}
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				r := a
				if w%2 == 1 {
					r = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perWriter {
						e := r.emit(t, tn.ID, domain.EventTaskCreated)
						now := time.Now()
						mu.Lock()
						committed[e.ID] = now
						mu.Unlock()
					}
				}()
			}
			total := writers * perWriter
			lat := make([]time.Duration, 0, total*streams)
			var lmu sync.Mutex
			var rg sync.WaitGroup
			for _, s := range open {
				rg.Add(1)
				go func() {
					defer rg.Done()
					var ids []int64
					var got []frame
					for range total {
						f := s.next(t, 30*time.Second)
						ids = append(ids, f.ID)
						got = append(got, f)
					}
					if distinct := len(slices.Compact(slices.Clone(ids))); !slices.IsSorted(ids) || distinct != total {
						t.Errorf("a stream got %d distinct ids (in order: %v), want %d", distinct, slices.IsSorted(ids), total)
					}
					wg.Wait() // every commit time is known
					mu.Lock()
					var mine []time.Duration
					for _, f := range got {
						mine = append(mine, max(0, f.At.Sub(committed[f.ID])))
					}
					mu.Unlock()
					lmu.Lock()
					lat = append(lat, mine...)
					lmu.Unlock()
				}()
			}
			wg.Wait()
			writing := time.Since(start)
			rg.Wait()
			slices.Sort(lat)
			q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			t.Logf("%s: %d streams (half per replica), %d events from %d writers in %s (%.0f events/s, %.0f frames/s): "+
				"commit to frame p50 %s, p90 %s, p99 %s, max %s",
				backend, streams, total, writers, writing.Round(time.Millisecond), float64(total)/writing.Seconds(),
				float64(total*streams)/time.Since(start).Seconds(), q(0.5), q(0.9), q(0.99), lat[len(lat)-1])
		})
	}
}
