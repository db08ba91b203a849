package bootstrap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/telemetry"
	"github.com/taskflow/taskflow/bootstrap"
)

// syncBuffer is a log destination that the server's goroutines and the
// test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines are the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// accessLine is the access-log line of the request with id requestID.
func accessLine(t *testing.T, logs *syncBuffer, requestID string) map[string]any {
	t.Helper()
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" && l["request_id"] == requestID {
			return l
		}
	}
	t.Fatalf("no access-log line for request %s", requestID)
	return nil
}

// startTraced starts a server whose spans go to an in-memory exporter and
// whose log is captured, at info level.
func startTraced(t *testing.T, backend, databaseURL string) (*api, *tracetest.InMemoryExporter, *syncBuffer) {
	t.Helper()
	cfg := testConfig(t, backend, databaseURL)
	cfg.LogLevel = "info"
	exp := tracetest.NewInMemoryExporter()
	logs := &syncBuffer{}
	var tr *telemetry.Tracing
	a := startServer(t, cfg, fx.Supply(&bootstrap.TraceExporter{SpanExporter: exp}, &bootstrap.LogOutput{Writer: logs}), fx.Populate(&tr))
	if !tr.Enabled() {
		t.Fatal("tracing is off with a TraceExporter supplied")
	}
	return a, exp, logs
}

// spanOf finds the one server span with name, failing if there is not
// exactly one.
func spanOf(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name && s.SpanKind == trace.SpanKindServer {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d server spans named %q, want 1; spans: %v", len(found), name, spanNames(spans))
	}
	return found[0]
}

func spanNames(spans tracetest.SpanStubs) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// One request, one trace: the server span of GET /tasks (named by its
// route template) and, under it, the spans of its SQL statements and of
// its Redis commands, on Postgres and on SQLite, with the Redis cache.
func TestTracing_RequestSpansHTTPThroughSQLAndRedis(t *testing.T) {
	for _, c := range []struct {
		name, system string
		database     func(*testing.T) string
	}{
		{"postgres", "postgresql", newDatabase},
		{"sqlite", "sqlite", func(*testing.T) string { return "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, exp, logs := startTraced(t, "redis", c.database(t))
			tn := a.newTenant(t)
			tk := a.newTask(t, tn.Admin.Token, "traced")
			// On Postgres the creation's event is published through Redis
			// off the request path, after it is numbered a moment after the
			// commit, in a trace of its own: wait for it, so that it is not
			// taken for part of the next request's. (SQLite, one replica,
			// tells its streams in process.)
			if c.system == "postgresql" {
				pollUntil(t, "the task's event published", func() bool {
					return slices.ContainsFunc(exp.GetSpans(), func(s tracetest.SpanStub) bool { return s.Name == "publish" })
				})
			}
			exp.Reset()

			r := a.expect(t, http.StatusOK, "", "GET", taskPath(tk.ID), tn.Admin.Token, nil)
			spans := exp.GetSpans()
			// Another request on the same keep-alive connection: fasthttp
			// reuses its buffers, which a span's attributes must not share.
			a.expect(t, http.StatusNotFound, "task_not_found", "GET", "/tasks/98765432", tn.Admin.Token, nil)
			server := spanOf(t, spans, "GET /tasks/{id}")
			if got := attr(server, "url.path"); got != taskPath(tk.ID) {
				t.Errorf("url.path = %q, want %q", got, taskPath(tk.ID))
			}
			if got := attr(server, "http.route"); got != "/tasks/{id}" {
				t.Errorf("http.route = %q", got)
			}
			if got := attr(server, "http.response.status_code"); got != "200" {
				t.Errorf("http.response.status_code = %q", got)
			}
			if server.Parent.IsValid() {
				t.Errorf("server span has a parent %v; the request carried no traceparent", server.Parent)
			}
			traceID := server.SpanContext.TraceID()
			byID := map[trace.SpanID]tracetest.SpanStub{}
			for _, s := range spans {
				byID[s.SpanContext.SpanID()] = s
			}
			// under reports whether s descends from the server span.
			under := func(s tracetest.SpanStub) bool {
				for p := s.Parent; p.IsValid(); {
					if p.SpanID() == server.SpanContext.SpanID() {
						return true
					}
					parent, ok := byID[p.SpanID()]
					if !ok {
						return false
					}
					p = parent.Parent
				}
				return false
			}
			var sql, redis int
			for _, s := range spans {
				if s.SpanContext.TraceID() != traceID {
					t.Errorf("span %q is in trace %s, not the request's %s", s.Name, s.SpanContext.TraceID(), traceID)
					continue
				}
				switch {
				case attr(s, "db.system.name") == c.system:
					sql++
					if !under(s) {
						t.Errorf("SQL span %q is not under the server span", s.Name)
					}
					if attr(s, "db.query.text") == "" && strings.Contains(s.Name, "query") {
						t.Errorf("SQL span %q carries no statement", s.Name)
					}
				case attr(s, "db.system") == "redis" || attr(s, "db.system.name") == "redis":
					redis++
					if !under(s) {
						t.Errorf("Redis span %q is not under the server span", s.Name)
					}
				}
			}
			if sql == 0 || redis == 0 {
				t.Errorf("%d SQL spans and %d Redis spans in the request's trace, want some of each; spans: %v", sql, redis, spanNames(spans))
			}

			// Its access-log line names the trace and the server span.
			line := accessLine(t, logs, r.header.Get("X-Request-ID"))
			if line["trace_id"] != traceID.String() || line["span_id"] != server.SpanContext.SpanID().String() {
				t.Errorf("access log trace_id=%v span_id=%v, want %s %s", line["trace_id"], line["span_id"], traceID, server.SpanContext.SpanID())
			}
		})
	}
}

// A caller's W3C traceparent is continued: the server span joins its
// trace as a child of its span, and the log line says so.
func TestTracing_ContinuesIncomingTraceparent(t *testing.T) {
	a, exp, logs := startTraced(t, "memory", "")
	tn := a.newTenant(t)
	exp.Reset()

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r := a.expect(t, http.StatusOK, "", "GET", "/tasks", tn.Admin.Token, nil,
		"traceparent", "00-"+traceID+"-"+parentID+"-01")
	server := spanOf(t, exp.GetSpans(), "GET /tasks")
	if got := server.SpanContext.TraceID().String(); got != traceID {
		t.Errorf("server span trace id %s, want the caller's %s", got, traceID)
	}
	if got := server.Parent.SpanID().String(); got != parentID || !server.Parent.IsRemote() {
		t.Errorf("server span parent %s (remote %v), want the caller's span %s", got, server.Parent.IsRemote(), parentID)
	}
	line := accessLine(t, logs, r.header.Get("X-Request-ID"))
	if line["trace_id"] != traceID || line["span_id"] != server.SpanContext.SpanID().String() {
		t.Errorf("access log trace_id=%v span_id=%v, want %s %s", line["trace_id"], line["span_id"], traceID, server.SpanContext.SpanID())
	}

	// A malformed traceparent starts a trace of its own.
	exp.Reset()
	a.expect(t, http.StatusOK, "", "GET", "/tasks", tn.Admin.Token, nil, "traceparent", "00-zz-"+parentID+"-01")
	server = spanOf(t, exp.GetSpans(), "GET /tasks")
	if server.Parent.IsValid() || !server.SpanContext.TraceID().IsValid() {
		t.Errorf("malformed traceparent: span parent %v, trace %s", server.Parent, server.SpanContext.TraceID())
	}
}

// With no OTEL_* endpoint, tracing is off: no span is made, not even by a
// library that would fall back on OpenTelemetry's global provider (one
// that records is installed for the test), and no log line carries a
// trace_id, even for a request that sends a traceparent.
func TestTracing_OffRecordsNothing(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	global := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(global)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	for _, c := range []struct {
		name, backend string
		database      func(*testing.T) string
	}{
		{"postgres-redis", "redis", newDatabase},
		{"sqlite-redis", "redis", func(*testing.T) string { return "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, c.backend, c.database(t))
			cfg.LogLevel = "info"
			logs := &syncBuffer{}
			var tr *telemetry.Tracing
			a := startServer(t, cfg, fx.Supply(&bootstrap.LogOutput{Writer: logs}), fx.Populate(&tr))
			if tr.Enabled() || tr.Provider() != nil {
				t.Fatal("tracing is on with no OTEL_EXPORTER_OTLP_ENDPOINT")
			}
			tn := a.newTenant(t)
			tk := a.newTask(t, tn.Admin.Token, "untraced")
			r := a.expect(t, http.StatusOK, "", "GET", taskPath(tk.ID), tn.Admin.Token, nil,
				"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			a.expect(t, http.StatusOK, "", "GET", "/tasks", tn.Admin.Token, nil)
			if spans := global.GetSpans(); len(spans) != 0 {
				t.Errorf("tracing off, yet %d spans were made: %v", len(spans), spanNames(spans))
			}
			accessLine(t, logs, r.header.Get("X-Request-ID")) // the log was captured
			for _, l := range logs.lines(t) {
				if _, ok := l["trace_id"]; ok {
					t.Errorf("tracing off, yet a log line has a trace_id: %v", l)
				}
				if _, ok := l["span_id"]; ok {
					t.Errorf("tracing off, yet a log line has a span_id: %v", l)
				}
			}
		})
	}
}

// A webhook delivery is a client span of its own (the dispatcher's loop
// is no request's), with the hook, the event, the attempt, the answer's
// status and the URL without its query's secret; the receiver gets its
// traceparent, so it can continue the trace.
func TestTracing_WebhookDeliverySpan(t *testing.T) {
	cfg := testConfig(t, "memory", "")
	cfg.WebhookAllowPrivate = true
	exp := tracetest.NewInMemoryExporter()
	a := startServer(t, cfg, fx.Supply(&bootstrap.TraceExporter{SpanExporter: exp}))
	tn := a.newTenant(t)

	got := make(chan http.Header, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("webhook-id"), "evt_") {
			got <- r.Header.Clone()
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	var hook struct {
		ID int64 `json:"id"`
	}
	a.expect(t, http.StatusCreated, "", "POST", "/webhooks", tn.Admin.Token,
		map[string]any{"url": srv.URL + "/hook?token=s3cret", "events": []string{"task.created"}}).into(t, &hook)
	a.newTask(t, tn.Admin.Token, "delivered")
	var header http.Header
	select {
	case header = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver got no delivery")
	}
	eventID, err := strconv.ParseInt(strings.TrimPrefix(header.Get("webhook-id"), "evt_"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	// The span ends once the answer is read: poll the exporter for it.
	var span tracetest.SpanStub
	deadline := time.Now().Add(30 * time.Second)
	for found := false; !found; {
		for _, s := range exp.GetSpans() {
			if s.Name == "webhook.deliver" && attr(s, "webhook.event.id") == strconv.FormatInt(eventID, 10) {
				span, found = s, true
			}
		}
		if !found {
			if time.Now().After(deadline) {
				t.Fatalf("no webhook.deliver span; spans: %v", spanNames(exp.GetSpans()))
			}
			time.Sleep(10 * time.Millisecond) // the dispatcher ends the span after the answer
		}
	}
	if span.SpanKind != trace.SpanKindClient {
		t.Errorf("span kind %v, want client", span.SpanKind)
	}
	for key, want := range map[string]string{
		"webhook.id":                strconv.FormatInt(hook.ID, 10),
		"webhook.attempt":           "1",
		"webhook.message.id":        header.Get("webhook-id"),
		"http.request.method":       "POST",
		"http.response.status_code": "202",
		"url.full":                  srv.URL + "/hook?token=REDACTED",
	} {
		if got := attr(span, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if span.Status.Code == codes.Error {
		t.Errorf("a delivered attempt's span has status %v", span.Status)
	}
	// The receiver got the span's own context.
	sc := trace.SpanContextFromContext(telemetry.Propagator().Extract(context.Background(), propagation.HeaderCarrier(header)))
	if !sc.IsValid() || sc.TraceID() != span.SpanContext.TraceID() || sc.SpanID() != span.SpanContext.SpanID() {
		t.Errorf("traceparent %q is not the delivery span's (%s/%s)", header.Get("traceparent"),
			span.SpanContext.TraceID(), span.SpanContext.SpanID())
	}
}
