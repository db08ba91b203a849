package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// receiver is the load's webhook receiver, on loopback (the service runs
// with WEBHOOK_ALLOW_PRIVATE): it answers each delivery 204 at once,
// but takes slowDelay over each during the "slow receiver" phase and
// answers 503 during "receiver down" (so that the deliveries panel shows
// failures, retries and exhausted events, and the lag panel a backlog).
type receiver struct {
	srv      *http.Server
	url      string
	start    time.Time
	duration time.Duration
	got      atomic.Int64
}

// slowDelay is a delivery's time during the slow phase: the hook's
// events (one a second) arrive faster than it takes them.
const slowDelay = 1500 * time.Millisecond

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String()}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// run marks the start of the load, whose phases the answers follow.
func (r *receiver) run(start time.Time, d time.Duration) { r.start, r.duration = start, d }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.got.Add(1)
	frac := -1.0
	if !r.start.IsZero() {
		frac = float64(time.Since(r.start)) / float64(r.duration)
	}
	switch {
	case inPhase("slow receiver", frac):
		select {
		case <-time.After(slowDelay):
		case <-req.Context().Done():
		}
	case inPhase("receiver down", frac):
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) close() { _ = r.srv.Close() }

// addHook registers a hook for the tenant's task events at the receiver.
func addHook(ctx context.Context, c *client, t *tenant, url string) error {
	st, err := c.call(ctx, "POST", "/webhooks", t.token, map[string]any{
		"url": url, "events": []string{"task.*"}, "description": "dashboard render",
	}, nil)
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("POST /webhooks: %d %w", st, err)
	}
	return nil
}

// openStream opens GET /events/stream for the tenant, and reads it in
// the background until ctx ends (the frames are dropped: the stream is
// there to be counted).
func openStream(ctx context.Context, base string, t *tenant) error {
	opened := make(chan error, 1)
	go readStream(ctx, base, t, opened)
	return <-opened
}

// readStream opens the stream, tells opened how that went, and reads it
// to its end.
func readStream(ctx context.Context, base string, t *tenant, opened chan<- error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/events/stream", nil)
	if err != nil {
		opened <- err
		return
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		opened <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		opened <- fmt.Errorf("GET /events/stream: %d", resp.StatusCode)
		return
	}
	opened <- nil
	_, _ = io.Copy(io.Discard, resp.Body)
}
