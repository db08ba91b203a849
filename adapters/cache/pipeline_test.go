package cache

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// gatedPipeline is an autoPipeline on the test Redis whose flights wait
// for a release before they send, and which records how many commands
// each one carried.
type gatedPipeline struct {
	*autoPipeline
	release chan struct{}
	mu      sync.Mutex
	batches []int
}

func newGatedPipeline(client redis.UniversalClient, maxFlights int) *gatedPipeline {
	g := &gatedPipeline{release: make(chan struct{})}
	g.autoPipeline = newAutoPipeline(client, maxFlights)
	send := g.exec
	g.exec = func(ctx context.Context, queue func(redis.Pipeliner)) error {
		<-g.release
		n := 0
		err := send(ctx, func(p redis.Pipeliner) {
			queue(p)
			n = p.Len()
		})
		g.mu.Lock()
		g.batches = append(g.batches, n)
		g.mu.Unlock()
		return err
	}
	return g
}

func (g *gatedPipeline) sent() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.batches...)
}

func (g *gatedPipeline) queued() int {
	g.autoPipeline.mu.Lock()
	defer g.autoPipeline.mu.Unlock()
	return len(g.queue)
}

func (g *gatedPipeline) inFlight() int {
	g.autoPipeline.mu.Lock()
	defer g.autoPipeline.mu.Unlock()
	return g.flights
}

// waitFor polls until cond holds, or fails t once within has passed.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// echo runs ECHO v through p.
func echo(ctx context.Context, p *autoPipeline, v string) (string, error) {
	var cmd *redis.StringCmd
	if err := p.do(ctx, func(ctx context.Context, pipe redis.Pipeliner) { cmd = pipe.Echo(ctx, v) }); err != nil {
		return "", err
	}
	return cmd.Result()
}

func TestAutoPipeline(t *testing.T) {
	t.Parallel()
	client := testRedisClient(t)

	t.Run("callers_that_queue_behind_busy_flights_share_one_pipeline", func(t *testing.T) {
		t.Parallel()
		g := newGatedPipeline(client, 2)
		var wg sync.WaitGroup
		call := func(i int) {
			wg.Go(func() {
				if got, err := echo(t.Context(), g.autoPipeline, strconv.Itoa(i)); err != nil || got != strconv.Itoa(i) {
					t.Errorf("caller %d got %q, %v", i, got, err)
				}
			})
		}
		// Two callers take the two flights, held at the gate...
		call(0)
		waitFor(t, "the first flight", time.Second, func() bool { return g.inFlight() == 1 && g.queued() == 0 })
		call(1)
		waitFor(t, "the second flight", time.Second, func() bool { return g.inFlight() == 2 && g.queued() == 0 })
		// ...while ten more queue.
		for i := 2; i < 12; i++ {
			call(i)
		}
		waitFor(t, "ten queued callers", time.Second, func() bool { return g.queued() == 10 })
		close(g.release)
		wg.Wait()
		waitFor(t, "both flights to end", time.Second, func() bool { return g.inFlight() == 0 })
		sent := g.sent()
		slices.Sort(sent) // the held flights land in any order
		if !slices.Equal(sent, []int{1, 1, 10}) {
			t.Fatalf("pipelines carried %v commands, want 1, 1 and the ten others together", sent)
		}
	})

	t.Run("with_tracing_each_caller_has_a_span_and_the_batch_goes_under_the_firsts", func(t *testing.T) {
		t.Parallel()
		exp := tracetest.NewInMemoryExporter()
		tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)).Tracer("test")
		g := newGatedPipeline(client, 1)
		var mu sync.Mutex
		var sentUnder []trace.SpanID
		send := g.exec
		g.exec = func(ctx context.Context, queue func(redis.Pipeliner)) error {
			mu.Lock()
			sentUnder = append(sentUnder, trace.SpanContextFromContext(ctx).SpanID())
			mu.Unlock()
			return send(ctx, queue)
		}
		requests := map[string]trace.SpanContext{}
		var wg sync.WaitGroup
		call := func(name string) {
			ctx, span := tracer.Start(t.Context(), name)
			requests[name] = span.SpanContext()
			wg.Go(func() {
				defer span.End()
				if _, err := echo(ctx, g.autoPipeline, name); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		call("a")
		waitFor(t, "the flight", time.Second, func() bool { return g.inFlight() == 1 && g.queued() == 0 })
		call("b")
		waitFor(t, "a queued caller", time.Second, func() bool { return g.queued() == 1 })
		call("c")
		waitFor(t, "two queued callers", time.Second, func() bool { return g.queued() == 2 })
		close(g.release)
		wg.Wait()

		waits := map[string]tracetest.SpanStub{} // by the request it is under
		for _, s := range exp.GetSpans() {
			if s.Name != "redis.autopipeline" {
				continue
			}
			for name, sc := range requests {
				if s.Parent.SpanID() == sc.SpanID() && s.SpanContext.TraceID() == sc.TraceID() {
					waits[name] = s
				}
			}
		}
		attrs := func(s tracetest.SpanStub) string {
			var out []string
			for _, kv := range s.Attributes {
				out = append(out, string(kv.Key)+"="+kv.Value.String())
			}
			slices.Sort(out)
			return strings.Join(out, " ")
		}
		for name, want := range map[string]string{
			"a": "taskflow.redis.batch_callers=1 taskflow.redis.batch_first=true",
			"b": "taskflow.redis.batch_callers=2 taskflow.redis.batch_first=true",
			"c": "taskflow.redis.batch_callers=2 taskflow.redis.batch_first=false",
		} {
			s, ok := waits[name]
			if !ok {
				t.Errorf("request %s has no redis.autopipeline span", name)
				continue
			}
			if got := attrs(s); got != want {
				t.Errorf("request %s: %s, want %s", name, got, want)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		want := []trace.SpanID{waits["a"].SpanContext.SpanID(), waits["b"].SpanContext.SpanID()}
		if !slices.Equal(sentUnder, want) {
			t.Errorf("batches sent under spans %v, want the first callers' waits %v", sentUnder, want)
		}
	})

	t.Run("each_caller_reads_its_own_results_and_errors", func(t *testing.T) {
		t.Parallel()
		r := newTestRedis(t, client, time.Minute)
		ctx := t.Context()
		if err := client.Set(ctx, r.prefix+":n", "1", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if err := client.Set(ctx, r.prefix+":s", "text", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				var incr *redis.IntCmd
				var get *redis.StringCmd
				key := r.prefix + ":n"
				if i%2 == 1 {
					key = r.prefix + ":s" // INCR of text fails, for this caller only
				}
				err := r.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) {
					incr, get = p.Incr(ctx, key), p.Get(ctx, r.prefix+":absent")
				})
				if err != nil {
					t.Errorf("do: %v", err)
					return
				}
				if i%2 == 1 && incr.Err() == nil {
					t.Errorf("INCR of a string: nil error")
				}
				if i%2 == 0 && incr.Err() != nil {
					t.Errorf("INCR: %v", incr.Err())
				}
				if !errors.Is(get.Err(), redis.Nil) {
					t.Errorf("GET of an absent key: %v, want redis.Nil", get.Err())
				}
			})
		}
		wg.Wait()
		if n, err := client.Get(ctx, r.prefix+":n").Int(); err != nil || n != 21 {
			t.Fatalf("counter = %d, %v after 20 INCRs from 1; want 21", n, err)
		}
	})

	t.Run("a_caller_leaves_at_its_deadline_and_the_flight_still_lands", func(t *testing.T) {
		t.Parallel()
		g := newGatedPipeline(client, 1)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := echo(ctx, g.autoPipeline, "late"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call with a 20ms deadline on a held flight: err = %v, want the deadline", err)
		}
		close(g.release)
		// The slot is free again once the abandoned flight lands.
		if got, err := echo(t.Context(), g.autoPipeline, "next"); err != nil || got != "next" {
			t.Fatalf("call after the hold = %q, %v", got, err)
		}
	})

	t.Run("generation_values_that_are_not_counters_are_errors", func(t *testing.T) {
		t.Parallel()
		// nil among them: a missing counter is set to a fresh random
		// value before it is parsed, never read as 0.
		for _, v := range []any{"x", "-1", int64(3), nil} {
			if _, err := parseGen(v); err == nil {
				t.Errorf("parseGen(%#v): nil error", v)
			}
		}
	})
}
