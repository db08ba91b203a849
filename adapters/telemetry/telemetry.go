package telemetry

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/XSAM/otelsql"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// instrumentation names the tracer of TaskFlow's own spans.
const instrumentation = "github.com/taskflow/taskflow"

// Tracing is the service's tracing, on or off. The zero value and nil are
// off.
type Tracing struct {
	provider *sdktrace.TracerProvider // nil: off
	tracer   trace.Tracer
}

// Off is tracing switched off.
func Off() *Tracing { return &Tracing{} }

// Setup reads the standard OpenTelemetry variables from the environment
// (getenv, os.Getenv in the service) and returns tracing on or off:
//
//   - off when OTEL_SDK_DISABLED is true, when OTEL_TRACES_EXPORTER is
//     none, or when neither OTEL_EXPORTER_OTLP_ENDPOINT nor
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
//   - on otherwise, exporting over OTLP/HTTP (protobuf) in batches. The
//     exporter reads the OTEL_EXPORTER_OTLP_* variables itself (endpoint,
//     headers, timeout, TLS...), the SDK reads OTEL_TRACES_SAMPLER(_ARG)
//     (default parentbased_always_on) and OTEL_BSP_*, and the resource
//     OTEL_SERVICE_NAME (default taskflow) and OTEL_RESOURCE_ATTRIBUTES.
//
// A setting this build cannot honour is an error rather than silently
// ignored: another exporter than otlp, or the grpc protocol.
func Setup(ctx context.Context, getenv func(string) string, version string) (*Tracing, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return Off(), nil
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return Off(), nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: this build exports traces over otlp only (or none)", exp)
	}
	if strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) == "" && strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) == "" {
		return Off(), nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%s: this build exports over http/protobuf only", k, p)
			}
			break // the traces-specific one wins
		}
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry OTLP exporter: %w", err)
	}
	res, err := newResource(ctx, version)
	if err != nil {
		return nil, errors.Join(err, exporter.Shutdown(ctx))
	}
	return New(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))), nil
}

// newResource describes this process: service.name taskflow unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise (later
// sources win in resource.New), its version, and the SDK's own.
func newResource(ctx context.Context, version string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "taskflow"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	return res, nil
}

// New is tracing on with the given provider (Setup's, or a test's over an
// in-memory exporter). Shutdown shuts the provider down.
func New(provider *sdktrace.TracerProvider) *Tracing {
	return &Tracing{provider: provider, tracer: provider.Tracer(instrumentation)}
}

// NewWithExporter is tracing on with exporter, each span handed to it as
// it ends (tests read them at once), and the resource Setup would build.
func NewWithExporter(ctx context.Context, exporter sdktrace.SpanExporter, version string) (*Tracing, error) {
	res, err := newResource(ctx, version)
	if err != nil {
		return nil, err
	}
	return New(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter), sdktrace.WithResource(res))), nil
}

// Enabled reports whether spans are made.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// Provider is the tracer provider, or nil when tracing is off: adapters
// that take one keep their uninstrumented path on nil.
func (t *Tracing) Provider() trace.TracerProvider {
	if !t.Enabled() {
		return nil
	}
	return t.provider
}

// Tracer is TaskFlow's tracer: a no-op one when tracing is off.
func (t *Tracing) Tracer() trace.Tracer {
	if !t.Enabled() {
		return tracenoop.NewTracerProvider().Tracer(instrumentation)
	}
	return t.tracer
}

// Propagator is how trace context crosses processes: W3C traceparent and
// tracestate, both ways.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Span starts a span named name as a child of ctx's (a root if there is
// none) and returns the context to run under it and the function that
// ends it, recording err as its status if not nil. kind is the span's
// role: trace.SpanKindClient for a call out to another service (a webhook
// delivery), trace.SpanKindInternal for work inside this one. Off, it
// costs nothing: ctx comes back as it is.
//
// A webhook delivery, for instance:
//
//	ctx, end := tr.Span(ctx, "webhook.deliver", trace.SpanKindClient,
//		attribute.Int64("webhook.id", id), attribute.String("url.full", url))
//	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
//	tr.Inject(ctx, req.Header) // the receiver can continue the trace
//	resp, err := client.Do(req)
//	end(err) // or SetStatus the span from trace.SpanFromContext(ctx) first
func (t *Tracing) Span(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	if !t.Enabled() {
		return ctx, func(error) {}
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// Inject writes ctx's trace context into an outgoing request's headers
// (traceparent); nothing when tracing is off.
func (t *Tracing) Inject(ctx context.Context, h http.Header) {
	if !t.Enabled() {
		return
	}
	Propagator().Inject(ctx, propagation.HeaderCarrier(h))
}

// SQLOpener opens a database/sql pool. OpenSQL returns sql.Open itself
// when tracing is off.
type SQLOpener = func(driverName, dsn string) (*sql.DB, error)

// OpenSQL returns how to open the pools of the database system named
// (postgresql, sqlite: the db.system.name attribute): with tracing on,
// through otelsql, with a span per statement (sql.conn.query,
// sql.conn.exec, sql.stmt.*, sql.conn.begin_tx, sql.tx.commit...) that
// carries its SQL text (placeholders only; never the arguments).
//
// Only statements run under a span are traced (a request's, a delivery's):
// migrations and background work add no root spans of their own. Reading
// rows and resetting a pooled connection add none either.
func (t *Tracing) OpenSQL(system string) SQLOpener {
	if !t.Enabled() {
		return sql.Open
	}
	opts := []otelsql.Option{
		otelsql.WithTracerProvider(t.provider),
		otelsql.WithMeterProvider(noop.NewMeterProvider()),
		otelsql.WithAttributes(attribute.String("db.system.name", system)),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			DisableErrSkip:       true,
			OmitConnResetSession: true,
			OmitRows:             true,
			SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
				return trace.SpanContextFromContext(ctx).IsValid()
			},
		}),
	}
	return func(driverName, dsn string) (*sql.DB, error) {
		return otelsql.Open(driverName, dsn, opts...)
	}
}

// InstrumentRedis adds a span per command, and one per pipeline naming
// its commands, to client (redisotel); nothing when tracing is off.
// Commands are recorded without their arguments (keys and cached values
// stay out of the traces).
func (t *Tracing) InstrumentRedis(client redis.UniversalClient) error {
	if !t.Enabled() {
		return nil
	}
	if err := redisotel.InstrumentTracing(client,
		redisotel.WithTracerProvider(t.provider),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
		redisotel.WithDialFilter(true), // no span per dial: connections outlive requests
	); err != nil {
		return fmt.Errorf("trace redis: %w", err)
	}
	return nil
}

// LogHandler returns h stamping every record logged with a context that
// carries a span (a request's: slog's *Context methods) with its trace_id
// and span_id; h itself when tracing is off.
func (t *Tracing) LogHandler(h slog.Handler) slog.Handler {
	if !t.Enabled() {
		return h
	}
	return traceHandler{h}
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// Shutdown ends tracing: the spans still batched are exported (within
// ctx) and the exporter closed. Nothing when off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}
