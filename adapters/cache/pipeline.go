package cache

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// autoPipeline sends the commands of concurrent callers to Redis together:
// the callers that arrive while a pipeline is on the wire queue up, and
// the next one carries all their commands. Under load that turns one
// Redis round trip per call into one per batch; the syscalls of those
// round trips were most of the service's CPU on a cached list.
//
// Every caller's commands are sent after it arrived and have been
// answered when it returns, as with a round trip of its own: a generation
// read sees every INCR that completed before it began, and an INCR has
// happened when Invalidate returns.
//
// No goroutine runs while nobody calls. The caller that finds one of the
// maxFlights slots free starts a flight; a flight that finds callers
// queued when it lands takes them on the next one.
type autoPipeline struct {
	// exec sends one pipeline with the commands that queue adds and
	// returns the first command's error; each caller reads its own
	// commands' results and errors.
	exec       func(ctx context.Context, queue func(redis.Pipeliner)) error
	maxFlights int
	// skip, when set and non-nil, fails a batch without sending it: the
	// callers queued behind a flight that met a dead Redis learn it at
	// once instead of waiting out a timeout of their own.
	skip func() error
	// failed, when set, hears of a batch's error before its callers do,
	// so that skip already says so to the batch queued behind it.
	failed func(error)

	mu      sync.Mutex
	flights int
	queue   []*pipeCall
}

// CommandTimeout bounds each pipeline the cache sends, retries and
// reconnection included: the client's own timeouts add up (a read timeout,
// a retry on a new connection, its handshake) to three times its read
// timeout against a frozen Redis.
const CommandTimeout = 500 * time.Millisecond

func newAutoPipeline(client redis.UniversalClient, maxFlights int) *autoPipeline {
	return &autoPipeline{
		exec: func(ctx context.Context, queue func(redis.Pipeliner)) error {
			ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
			defer cancel()
			// Pipelined's error is only the first failed command's (a
			// GET's redis.Nil among them); each caller reads its own.
			_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error { queue(p); return nil })
			return err
		},
		maxFlights: maxFlights,
	}
}

// pipeCall is one caller's place in a batch. done is buffered, so a flight
// never blocks on a caller that stopped waiting.
type pipeCall struct {
	add  func(context.Context, redis.Pipeliner)
	span trace.Span // the caller's redis.autopipeline span; nil when not tracing
	err  error      // set when the batch was skipped, before done
	done chan struct{}
	// Set before done, for the caller's span: how many callers its batch
	// carried, and whether this one was the first.
	batch int
	first bool
}

var pipeCallPool = sync.Pool{New: func() any { return &pipeCall{done: make(chan struct{}, 1)} }}

// do has add queue the caller's commands on the next pipeline, with the
// flight's context, and returns when they have been answered: their
// results and errors are then in the commands. It returns an error only
// when ctx ends first (the commands still go, and their results are
// dropped, so add must not capture anything the caller reuses) or when
// skip dropped the batch (add was never called).
//
// With tracing on (ctx carries a recording span: a request's), the wait
// is a span of the caller's, redis.autopipeline, saying how many callers
// its batch carried and whether this caller was the first, whose trace
// then also holds the pipeline's own span (redisotel's, naming its
// commands), under this one. Without a recording span this costs one
// context lookup.
func (p *autoPipeline) do(ctx context.Context, add func(context.Context, redis.Pipeliner)) error {
	var span trace.Span
	if s := trace.SpanFromContext(ctx); s.IsRecording() {
		ctx, span = s.TracerProvider().Tracer(tracerName).Start(ctx, "redis.autopipeline")
	}
	c := pipeCallPool.Get().(*pipeCall)
	c.add, c.span, c.err = add, span, nil

	p.mu.Lock()
	p.queue = append(p.queue, c)
	start := p.flights < p.maxFlights
	if start {
		p.flights++
	}
	p.mu.Unlock()
	if start {
		// In a goroutine of its own, so that this caller still returns at
		// its deadline; the flight ends with the client's read timeout,
		// not with this caller's request, since it answers others too.
		go p.fly(context.WithoutCancel(ctx))
	}

	select {
	case <-c.done:
		err := c.err
		if span != nil {
			span.SetAttributes(attribute.Int("taskflow.redis.batch_callers", c.batch), attribute.Bool("taskflow.redis.batch_first", c.first))
			endSpan(span, err)
		}
		c.add, c.span, c.err = nil, nil, nil
		pipeCallPool.Put(c)
		return err
	case <-ctx.Done():
		// c stays with its batch, which will still signal it; it is not
		// returned to the pool.
		if span != nil {
			endSpan(span, ctx.Err())
		}
		return ctx.Err()
	}
}

// fly takes the queue as a batch and sends it, again while callers keep
// queueing; it frees its slot when none did.
//
// With tracing on, a batch is sent under the redis.autopipeline span of
// its first caller (see do), so that the pipeline's span (redisotel's,
// naming every command in it) joins that caller's trace, the request
// that was waiting first, rather than the trace of whichever request
// started the flight, which may have ended long before. The other
// callers of the batch have their redis.autopipeline span only.
func (p *autoPipeline) fly(ctx context.Context) {
	for {
		// The callers that are about to queue (handlers already running
		// on another P, or runnable) get a chance to join this batch.
		runtime.Gosched()
		p.mu.Lock()
		batch := p.queue
		if len(batch) == 0 {
			p.flights--
			p.mu.Unlock()
			return
		}
		p.queue = make([]*pipeCall, 0, cap(batch))
		p.mu.Unlock()

		sendCtx := underSpan(ctx, batch[0].span)
		if p.skip != nil {
			if err := p.skip(); err != nil {
				for i, c := range batch {
					c.err, c.batch, c.first = err, len(batch), i == 0
					c.done <- struct{}{}
				}
				continue
			}
		}
		err := p.exec(sendCtx, func(pipe redis.Pipeliner) {
			for _, c := range batch {
				c.add(sendCtx, pipe)
			}
		})
		if err != nil && p.failed != nil {
			p.failed(err)
		}
		for i, c := range batch {
			c.batch, c.first = len(batch), i == 0
			c.done <- struct{}{}
		}
	}
}

// underSpan is ctx, under span if there is one (with tracing on).
func underSpan(ctx context.Context, span trace.Span) context.Context {
	if span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, span)
}

// tracerName names the tracer of the cache's own spans.
const tracerName = "github.com/taskflow/taskflow/adapters/cache"

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
