package bootstrap_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/sqlite"
	"github.com/taskflow/taskflow/adapters/telemetry"
)

// queryCheck is a readiness check that runs a statement on the pool: a
// store call under the request.
type queryCheck struct{ db *sqlx.DB }

func (q queryCheck) Ping(ctx context.Context) error {
	var n int
	return q.db.QueryRowxContext(ctx, "SELECT 1").Scan(&n)
}

// discardExporter drops every span: the cost measured is the SDK's
// (sampling, recording, batching), not an export's.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing_RequestWithQuery measures a request through the whole
// middleware chain and router (no network) whose handler runs one SQL
// statement on a SQLite pool, as GET /ready does with a check that
// queries, and writes its access-log line (JSON, discarded):
//
//   - tracing=off: no OTEL_* endpoint, as the service runs by default;
//   - tracing=on: a server span, a span for the statement, both recorded
//     and batched (every request sampled) to an exporter that drops them;
//     for reference.
//
// tracing=off is what the same benchmark measured before tracing existed
// (NOTES-tracing.md has both): off must cost nothing.
func BenchmarkTracing_RequestWithQuery(b *testing.B) {
	on := telemetry.New(sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{})))
	b.Cleanup(func() { _ = on.Shutdown(context.Background()) })
	for _, bc := range []struct {
		name string
		tr   *telemetry.Tracing
	}{
		{"tracing=off", telemetry.Off()},
		{"tracing=on", on},
	} {
		b.Run(bc.name, func(b *testing.B) {
			read, write, err := sqlite.OpenWith(b.Context(), bc.tr.OpenSQL("sqlite"), filepath.Join(b.TempDir(), "bench.db"), 1)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _, _ = read.Close(), write.Close() })
			log := slog.New(bc.tr.LogHandler(slog.NewJSONHandler(io.Discard, nil)))
			h := httpadapter.NewServer(nil, nil, nil, nil, []httpadapter.Check{{Name: "database", Ping: queryCheck{read}}}, nil, log,
				httpadapter.Options{BodyLimit: 1 << 20, RequestTimeout: time.Second, Tracing: bc.tr.Provider()}).App().Handler()
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.ResetUserValues()
				ctx.Request.Header.SetMethod(fasthttp.MethodGet)
				ctx.Request.SetRequestURI("/ready")
				h(&ctx)
				if ctx.Response.StatusCode() != fasthttp.StatusOK {
					b.Fatalf("GET /ready: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}
