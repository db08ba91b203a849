package main_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary_SIGTERMClosesEventStreamsAtTheDrain: the real binary, with
// SHUTDOWN_DRAIN=3s and an open event stream. On SIGTERM the stream is
// closed at once (the client reconnects elsewhere with Last-Event-ID)
// rather than holding the shutdown; a stream asked for during the drain
// is told to retry, on a new connection; the process exits 0 without
// waiting for SHUTDOWN_TIMEOUT.
func TestBinary_SIGTERMClosesEventStreamsAtTheDrain(t *testing.T) {
	bin := binary(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	const drain = 3 * time.Second
	p := start(t, bin, baseEnv("DATA_DIR="+t.TempDir(), "HTTP_ADDR=127.0.0.1:"+port,
		"SHUTDOWN_DRAIN="+drain.String(), "SHUTDOWN_TIMEOUT=30s"))
	waitHealthy(t, p, base)
	walkThrough(t, base)
	token := login(t, base)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req) //nolint:bodyclose // closed by the defer below
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events/stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ended := make(chan time.Time, 1)
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			if _, err := br.ReadString('\n'); err != nil {
				ended <- time.Now()
				return
			}
		}
	}()

	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-ended:
		if d := at.Sub(signalled); d >= drain {
			t.Fatalf("the stream ended %s after SIGTERM, not at the drain's start", d)
		}
	case <-time.After(drain):
		t.Fatalf("the stream was still open when the %s drain ended", drain)
	}

	// During the drain: an answer (not a reset) that says retry, and
	// closes its connection.
	sreq, _ := http.NewRequest("GET", base+"/events/stream", nil)
	sreq.Header.Set("Authorization", "Bearer "+token)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatalf("a stream asked for during the drain: %v", err)
	}
	body, _ := io.ReadAll(sresp.Body)
	_ = sresp.Body.Close()
	if sresp.StatusCode != 200 || !strings.HasPrefix(string(body), "retry: ") || !sresp.Close {
		t.Fatalf("a stream asked for during the drain: %d %q, Connection: close %v", sresp.StatusCode, body, sresp.Close)
	}

	waitExit(t, p)
	if d := time.Since(signalled); d > drain+10*time.Second {
		t.Fatalf("exit took %s after SIGTERM: the streams held the shutdown", d)
	}
}
