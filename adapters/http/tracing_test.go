package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow/taskflow/domain"
)

// spanLog records, for each line logged, its message and the span its
// context carried (tracing's log handler stamps that span's ids).
type spanLog struct {
	slog.Handler
	mu    *sync.Mutex
	lines map[string]trace.SpanContext
}

func (h spanLog) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines[r.Message] = trace.SpanContextFromContext(ctx)
	return nil
}

// The lines a request logs beside its access-log line (an internal
// error, a dependency down, a timeout) are logged with its context, so
// that with tracing on they name its trace; the server span records a
// 5xx as an error, under its route template.
func TestTracing_RequestLogLinesCarryTheSpan(t *testing.T) {
	for _, tc := range []struct {
		err     error
		message string
		status  int
	}{
		{errors.New("boom"), "internal error", 500},
		{domain.DatabaseUnavailable(errors.New("refused")), "dependency unavailable", 503},
		{context.DeadlineExceeded, "request timed out", 503},
	} {
		t.Run(tc.message, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)).Tracer("test")
			logged := spanLog{Handler: slog.NewJSONHandler(io.Discard, nil), mu: &sync.Mutex{}, lines: map[string]trace.SpanContext{}}
			log := slog.New(logged)
			handle := errorHandler(log)
			app := fiber.New(fiber.Config{ErrorHandler: handle, DisableStartupMessage: true})
			labels := routeLabels{}
			app.Use(observe(log, handle, nil, tracer, &labels))
			app.Get("/tasks/:id", func(*fiber.Ctx) error { return tc.err })
			labels = newRouteLabels(app)

			resp, err := app.Test(httptest.NewRequest("GET", "/tasks/7", nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want the server span", len(spans))
			}
			s := spans[0]
			if s.Name != "GET /tasks/{id}" || s.SpanKind != trace.SpanKindServer || s.Status.Code != codes.Error {
				t.Errorf("span %q kind %v status %v; want GET /tasks/{id}, server, error", s.Name, s.SpanKind, s.Status)
			}
			logged.mu.Lock()
			defer logged.mu.Unlock()
			if got := logged.lines[tc.message]; got.SpanID() != s.SpanContext.SpanID() {
				t.Errorf("line %q logged with span %v, want the request's %v", tc.message, got.SpanID(), s.SpanContext.SpanID())
			}
		})
	}
}

// A request no route took is a span named by its method alone: raw paths
// would make one span name per id.
func TestTracing_UnmatchedRouteSpanName(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)).Tracer("test")
	log := slog.New(slog.DiscardHandler)
	handle := errorHandler(log)
	app := fiber.New(fiber.Config{ErrorHandler: handle, DisableStartupMessage: true})
	labels := routeLabels{}
	app.Use(observe(log, handle, nil, tracer, &labels))
	labels = newRouteLabels(app)
	resp, err := app.Test(httptest.NewRequest("GET", "/no/such/42", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET" || spans[0].Status.Code == codes.Error {
		t.Fatalf("spans %v, want one named GET, not an error (a 404 is the caller's)", spans)
	}
}
