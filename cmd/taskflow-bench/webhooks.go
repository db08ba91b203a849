package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// scWebhooks measures webhook delivery against the writes producing it:
// POST /tasks at full speed in the writes organization, which has one
// hook on task.created pointing at a receiver in this process. The row's
// rate is POST /tasks; its note gives the deliveries per second and
// their ratio to that rate (1: the dispatcher keeps up), and the lag from
// each event's occurred_at to its arrival.
const scWebhooks = "webhooks"

// hookReceiver counts first arrivals per webhook-id (a retry is not a
// new delivery) and answers 204.
type hookReceiver struct {
	mu    sync.Mutex
	seen  map[string]bool
	first time.Time // of the deliveries counted since reset
	last  time.Time
	n     int
	lag   histogram
	srv   *http.Server
	url   string
}

func startHookReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookReceiver{seen: map[string]bool{}}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	h.url = "http://" + ln.Addr().String() + "/hook"
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	now := time.Now()
	var ev struct {
		OccurredAt time.Time `json:"occurred_at"`
	}
	_ = json.Unmarshal(body, &ev)
	id := r.Header.Get("webhook-id")
	h.mu.Lock()
	if !h.seen[id] {
		h.seen[id] = true
		if h.n == 0 {
			h.first = now
		}
		h.n++
		h.last = now
		if !ev.OccurredAt.IsZero() {
			h.lag.record(now.Sub(ev.OccurredAt))
		}
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// reset starts counting afresh.
func (h *hookReceiver) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n, h.lag = 0, histogram{}
}

func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func (h *hookReceiver) close() { _ = h.srv.Close() }

// benchCall sends one JSON request with the token and decodes the answer.
func benchCall(ctx context.Context, method, url, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, nil
}

func (b *bench) webhookDeliveries(ctx context.Context) error {
	base, token := b.srv.base, b.ds.writes.token
	rcv, err := startHookReceiver()
	if err != nil {
		return err
	}
	defer rcv.close()
	st, hook, err := benchCall(ctx, "POST", base+"/webhooks", token,
		map[string]any{"url": rcv.url, "events": []string{"task.created"}, "description": "taskflow-bench"})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("webhooks: register a hook: %d %v (the service runs with WEBHOOK_ALLOW_PRIVATE=true): %w", st, hook, err)
	}
	hookURL := base + "/webhooks/" + strconv.FormatFloat(hook["id"].(float64), 'f', -1, 64)
	defer func() { _, _, _ = benchCall(context.WithoutCancel(ctx), "DELETE", hookURL, token, nil) }()

	// A probe: the build must record an event for each POST /tasks.
	if st, _, err := benchCall(ctx, "POST", base+"/tasks", token, map[string]any{"title": "webhook probe"}); err != nil || st != http.StatusCreated {
		return fmt.Errorf("webhooks: probe task: %d: %w", st, err)
	}
	if !waitUntil(ctx, 5*time.Second, func() bool { return rcv.count() >= 1 }) {
		b.note("webhooks: skipped: no delivery within 5 s of a POST /tasks (does this build record an event for each write?)")
		b.logf("webhooks: no delivery of the probe task: skipped")
		return nil
	}
	rcv.reset()
	r, err := b.measure(ctx, scWebhooks, "", b.o.conc, b.o.duration, func() (httpGen, error) {
		rcv.reset()
		return genCreateTask(base, b.ds), nil
	})
	if err != nil {
		return err
	}
	// Wait for the deliveries to stop arriving (the dispatcher catching
	// up), at most a minute.
	deadline := time.Now().Add(time.Minute)
	for prev := -1; time.Now().Before(deadline); {
		n := rcv.count()
		if n == prev {
			break
		}
		prev = n
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	rcv.mu.Lock()
	n, span, lag := rcv.n, rcv.last.Sub(rcv.first), rcv.lag
	rcv.mu.Unlock()
	rate := 0.0
	if span > 0 {
		rate = float64(n-1) / span.Seconds()
	}
	ratio := 0.0
	if r.res.rate() > 0 {
		ratio = rate / r.res.rate()
	}
	r.note = fmt.Sprintf("%d deliveries to one hook at %.0f/s: %.2f of the POST /tasks rate; lag from commit to arrival p50 %s, p99 %s",
		n, rate, ratio, fmtDur(lag.quantile(0.5)), fmtDur(lag.quantile(0.99)))
	b.note("WEBHOOK_DELIVERY_RATIO %.3f (%s)", ratio, r.note)
	b.logf("  %s", r.note)
	return nil
}

func waitUntil(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
