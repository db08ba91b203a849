package main_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a fake OTLP/HTTP collector: it accepts what the binary
// posts to /v1/traces and keeps the spans with their service name.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool
	posts    int
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Method != http.MethodPost ||
		req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want a protobuf POST to /v1/traces", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.posts++
	for _, rs := range msg.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services[a.GetValue().GetStringValue()] = true
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// The real binary, given OTEL_EXPORTER_OTLP_ENDPOINT, exports its spans
// over OTLP/HTTP: the request's server span, continuing the caller's
// traceparent, and its SQL spans, under the service name of
// OTEL_SERVICE_NAME. The batch delay is a minute, so the spans arrive
// only because SIGTERM's shutdown flushes them.
func TestBinary_ExportsTracesOverOTLP(t *testing.T) {
	recv := &otlpReceiver{services: map[string]bool{}}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	bin := binary(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	p := start(t, bin, baseEnv("HTTP_ADDR=127.0.0.1:"+port, "SHUTDOWN_DRAIN=0s",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL, "OTEL_SERVICE_NAME=taskflow-otlp-test",
		"OTEL_BSP_SCHEDULE_DELAY=60000"))
	waitHealthy(t, p, base)

	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	req, _ := http.NewRequest(http.MethodPost, base+"/organizations", strings.NewReader(`{"name":"Traced"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /organizations: %d", resp.StatusCode)
	}
	recv.mu.Lock()
	early := recv.posts
	recv.mu.Unlock()
	if early != 0 {
		t.Logf("%d exports before shutdown (the batch delay is a minute)", early)
	}
	stop(t, p)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if !recv.services["taskflow-otlp-test"] {
		t.Errorf("service names %v, want OTEL_SERVICE_NAME's", recv.services)
	}
	var server *tracepb.Span
	sql := 0
	for _, s := range recv.spans {
		if hex.EncodeToString(s.GetTraceId()) != traceID {
			continue
		}
		switch {
		case s.GetName() == "POST /organizations" && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case strings.HasPrefix(s.GetName(), "sql."):
			sql++
		}
	}
	if server == nil {
		var names []string
		for _, s := range recv.spans {
			names = append(names, s.GetName())
		}
		t.Fatalf("no server span POST /organizations in the caller's trace; exported: %v\noutput:\n%s", names, p.out.String())
	}
	if got := hex.EncodeToString(server.GetParentSpanId()); got != parentID {
		t.Errorf("server span parent %s, want the caller's %s", got, parentID)
	}
	if sql == 0 {
		t.Error("no SQL span exported in the request's trace")
	}
	if !strings.Contains(p.out.String(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("no log line with the trace id:\n%s", p.out.String())
	}
}
