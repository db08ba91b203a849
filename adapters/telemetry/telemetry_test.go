package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow/taskflow/adapters/telemetry"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSetup_OnlyAnEndpointTurnsTracingOn(t *testing.T) {
	const endpoint = "http://127.0.0.1:4318"
	for _, c := range []struct {
		name string
		env  map[string]string
		on   bool
		err  string
	}{
		{"nothing set", nil, false, ""},
		{"only a service name", map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, false, ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, true, ""},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces"}, true, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"http/protobuf", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		{"traces protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, true, ""},
		{"console exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_EXPORTER": "console"}, false, "OTEL_TRACES_EXPORTER=console"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := telemetry.Setup(t.Context(), env(c.env), "test")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Setup: err %v, want one naming %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
			if tr.Enabled() != c.on || (tr.Provider() != nil) != c.on {
				t.Fatalf("Enabled %v, Provider %v; want on=%v", tr.Enabled(), tr.Provider(), c.on)
			}
		})
	}
}

// Off, the helpers hand back what they were given and make no span.
func TestOff_IsFree(t *testing.T) {
	tr := telemetry.Off()
	ctx := t.Context()
	got, end := tr.Span(ctx, "x", trace.SpanKindClient)
	end(nil)
	if got != ctx {
		t.Error("Span changed the context with tracing off")
	}
	if trace.SpanFromContext(got).SpanContext().IsValid() {
		t.Error("Span made a span with tracing off")
	}
	h := slog.NewJSONHandler(&bytes.Buffer{}, nil)
	if tr.LogHandler(h) != slog.Handler(h) {
		t.Error("LogHandler wrapped the handler with tracing off")
	}
	if tr.Tracer() == nil {
		t.Error("Tracer is nil with tracing off; want a no-op one")
	}
	var nilTr *telemetry.Tracing
	if nilTr.Enabled() || nilTr.Provider() != nil || nilTr.Shutdown(ctx) != nil {
		t.Error("a nil Tracing is not off")
	}
}

// On, every line logged with a context that carries a span names its
// trace and span; a line logged without one names none.
func TestLogHandler_StampsTheSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewWithExporter(t.Context(), exp, "test")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(tr.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx, end := tr.Span(t.Context(), "work", trace.SpanKindInternal)
	log.InfoContext(ctx, "inside")
	end(nil)
	log.Info("outside")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sc := spans[0].SpanContext
	if in["trace_id"] != sc.TraceID().String() || in["span_id"] != sc.SpanID().String() || in["component"] != "test" {
		t.Errorf("line inside the span: %v; want trace %s span %s", in, sc.TraceID(), sc.SpanID())
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("line outside any span has a trace_id: %v", out)
	}
}

// Span records an error as the span's status, and Inject writes the
// traceparent a receiver continues.
func TestSpan_ErrorAndInject(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := telemetry.New(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	ctx, end := tr.Span(t.Context(), "webhook.deliver", trace.SpanKindClient)
	h := make(map[string][]string)
	tr.Inject(ctx, h)
	end(context.DeadlineExceeded)
	s := exp.GetSpans()[0]
	if s.Status.Code.String() != "Error" || s.SpanKind != trace.SpanKindClient {
		t.Errorf("span status %v kind %v", s.Status, s.SpanKind)
	}
	want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
	if got := h["Traceparent"]; len(got) != 1 || got[0] != want {
		t.Errorf("traceparent %v, want %s", got, want)
	}
}
