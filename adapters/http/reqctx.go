package http

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// requestContext is a request's context with a deadline, as
// context.WithDeadline makes one, but whose timer is only armed when
// something asks for Done (a store query, a Redis round trip, a child
// context). A request answered from the in-process cache never does: it
// pays no timer, and one allocation instead of the four of
// context.WithTimeout (BenchmarkRequestContext).
//
// What it promises is what context.WithDeadline's context does: Deadline
// is the deadline; Done closes when it passes or when the request ends
// (end), whichever is first; Err is then DeadlineExceeded or Canceled,
// and nil before. Once asked for Done (or for Err past the deadline), it
// hands everything to a real context.WithDeadline made then, under the
// same deadline: children derived from it join that context's
// cancellation directly, with no goroutine of their own.
type requestContext struct {
	parent   context.Context // no deadline and never cancelled: see newRequestContext
	deadline time.Time

	// inner is the real context, once made (made is then true); from
	// then on every answer is its. Written once under mu, before made;
	// read without the lock after made.
	made   atomic.Bool
	inner  context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	ended  bool
	late   bool // ended at or after the deadline
}

// newRequestContext returns parent with a deadline d from now, and the
// function that ends it. A parent that may be cancelled, or has a
// deadline of its own, gets context.WithTimeout: only the plain parents
// that Fiber gives (Background, perhaps with values) are made lazily.
func newRequestContext(parent context.Context, d time.Duration) (context.Context, func()) {
	if _, ok := parent.Deadline(); ok || parent.Done() != nil {
		return context.WithTimeout(parent, d)
	}
	r := &requestContext{parent: parent, deadline: time.Now().Add(d)}
	return r, r.end
}

func (r *requestContext) Deadline() (time.Time, bool) { return r.deadline, true }

func (r *requestContext) Done() <-chan struct{} { return r.real().Done() }

// Err needs no timer before the deadline: nothing but the deadline or end
// can have ended the context.
func (r *requestContext) Err() error {
	if r.made.Load() {
		return r.inner.Err()
	}
	r.mu.Lock()
	ended := r.ended
	r.mu.Unlock()
	if !ended && time.Now().Before(r.deadline) {
		return nil
	}
	return r.real().Err()
}

// Value asks the real context once there is one: context's own lookups
// (a child finding the cancelCtx it joins) then find it.
func (r *requestContext) Value(key any) any {
	if r.made.Load() {
		return r.inner.Value(key)
	}
	return r.parent.Value(key)
}

// real makes the context.WithDeadline context on first need. Made after
// end, it is an ended one: DeadlineExceeded if the request ended at or
// after its deadline, Canceled before, as a context.WithDeadline ended
// then would say.
func (r *requestContext) real() context.Context {
	if r.made.Load() {
		return r.inner
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.made.Load() {
		return r.inner
	}
	if r.ended && !r.late {
		r.inner, r.cancel = context.WithCancel(r.parent)
	} else {
		r.inner, r.cancel = context.WithDeadline(r.parent, r.deadline)
	}
	if r.ended {
		r.cancel()
	}
	r.made.Store(true)
	return r.inner
}

// end is the request's end: the cancel function of its context.
func (r *requestContext) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	if r.made.Load() {
		r.cancel()
		return
	}
	r.late = !time.Now().Before(r.deadline)
}

func (r *requestContext) String() string { return "http.requestContext" }
