package http

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/taskflow/taskflow/application"
)

// BenchmarkRequestContext measures what giving a request its context
// costs through Fiber: its id, its deadline, its cache snapshot (all
// three from the deadline middleware now; before requestContext the
// snapshot came from authenticate, and cost two allocations more), as a
// cached hit has them: nobody waits on the context's Done.
func BenchmarkRequestContext(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(deadline(10 * time.Second))
	app.Get("/", func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		if _, ok := ctx.Deadline(); !ok || application.RequestID(ctx) == "" {
			b.Fatal("no deadline or no request id")
		}
		return nil
	})
	h := app.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.ResetUserValues()
		ctx.Request.Header.SetMethod(fasthttp.MethodGet)
		ctx.Request.SetRequestURI("/")
		h(&ctx)
	}
}

// The request's context keeps context.WithTimeout's promises while it
// arms no timer until asked for Done.
func TestRequestContext_BehavesAsWithTimeout(t *testing.T) {
	t.Run("the deadline passing closes Done with DeadlineExceeded", func(t *testing.T) {
		ctx, end := newRequestContext(context.Background(), 20*time.Millisecond)
		defer end()
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 20*time.Millisecond {
			t.Fatalf("deadline %v %v, want one within 20ms", dl, ok)
		}
		if err := ctx.Err(); err != nil {
			t.Fatalf("Err before the deadline = %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed 5s after a 20ms deadline")
		}
		if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("Err past the deadline says so with nobody waiting", func(t *testing.T) {
		ctx, end := newRequestContext(context.Background(), time.Nanosecond)
		defer end()
		for ctx.Err() == nil { // no timer runs: Err reads the clock
		}
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err = %v", ctx.Err())
		}
		select {
		case <-ctx.Done():
		default:
			t.Fatal("Err is DeadlineExceeded but Done is open")
		}
	})
	t.Run("the end cancels it and its children", func(t *testing.T) {
		ctx, end := newRequestContext(context.Background(), time.Hour)
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		end()
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a child of an ended request context is not cancelled")
		}
		if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
			t.Fatalf("Err = %v, child %v; want Canceled", ctx.Err(), child.Err())
		}
	})
	t.Run("ended before anyone asked, it is ended when asked", func(t *testing.T) {
		ctx, end := newRequestContext(context.Background(), time.Hour)
		end()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err = %v, want Canceled", ctx.Err())
		}
		select {
		case <-ctx.Done():
		default:
			t.Fatal("Done open after the end")
		}
	})
	t.Run("values of the parent are seen before and after Done", func(t *testing.T) {
		type key struct{}
		ctx, end := newRequestContext(context.WithValue(context.Background(), key{}, 7), time.Hour)
		defer end()
		if ctx.Value(key{}) != 7 {
			t.Fatal("value lost")
		}
		_ = ctx.Done() // the real context is made
		if ctx.Value(key{}) != 7 {
			t.Fatal("value lost once Done was asked for")
		}
	})
	t.Run("a parent that may be cancelled gets context.WithTimeout", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx, end := newRequestContext(parent, time.Hour)
		defer end()
		if _, lazy := ctx.(*requestContext); lazy {
			t.Fatal("a cancellable parent got the lazy context")
		}
		cancel()
		<-ctx.Done()
	})
}

// BenchmarkSecurityHeaders measures the headers every answer carries:
// set by name and string (as before) and by canonical name and bytes
// (setSecurityHeaders).
func BenchmarkSecurityHeaders(b *testing.B) {
	app := fiber.New()
	var fctx fasthttp.RequestCtx
	fctx.Request.SetRequestURI("/tasks")
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := &c.Response().Header
			h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
			h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
			h.Set(fiber.HeaderXFrameOptions, "DENY")
			h.Set(fiber.HeaderContentSecurityPolicy, apiCSP)
		}
	})
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			setSecurityHeaders(c)
		}
	})
}
