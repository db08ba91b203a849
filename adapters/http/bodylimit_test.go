package http

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listen serves the real App (streamed bodies, the whole middleware
// chain) with the given body limit on a real socket, with no use cases:
// the requests here are answered before any handler needs one.
func listen(t testing.TB, limit int) string {
	t.Helper()
	s := NewServer(nil, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler),
		Options{BodyLimit: limit, RequestTimeout: 5 * time.Second, Version: "test"})
	app := s.App()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	t.Cleanup(func() {
		_ = app.ShutdownWithTimeout(5 * time.Second)
		if err := <-done; err != nil {
			t.Errorf("listener: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawAnswer is one HTTP/1.1 answer read off a raw connection.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
	close  bool // Connection: close
}

// sendWhole is the client the finding is about: it writes the request
// (headers, then the whole body, chunked or not) before it reads anything,
// then reads one answer.
func sendWhole(addr, method, path string, header map[string]string, body []byte, chunked bool) (rawAnswer, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return rawAnswer{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n", method, path)
	for k, v := range header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(body))
	}
	w := bufio.NewWriterSize(conn, 64<<10)
	if _, err := w.WriteString(head.String()); err != nil {
		return rawAnswer{}, fmt.Errorf("write head: %w", err)
	}
	if chunked {
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			fmt.Fprintf(w, "%x\r\n", n)
			_, _ = w.Write(rest[:n]) // a failed write shows in Flush below
			_, _ = w.WriteString("\r\n")
			rest = rest[n:]
		}
		_, _ = w.WriteString("0\r\n\r\n")
	} else if _, err := w.Write(body); err != nil {
		return rawAnswer{}, fmt.Errorf("write body: %w", err)
	}
	if err := w.Flush(); err != nil {
		return rawAnswer{}, fmt.Errorf("write body: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read answer body: %w", err)
	}
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: b, close: resp.Close}, nil
}

func wantProblem(t *testing.T, a rawAnswer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d %s, want %d", a.status, a.body, status)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, problemJSON) {
		t.Fatalf("Content-Type %q, want %s", ct, problemJSON)
	}
	var p struct {
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(a.body, &p); err != nil || p.Code != code || p.RequestID == "" {
		t.Fatalf("problem %s, want code %q and a request id", a.body, code)
	}
	if a.header.Get("X-Request-ID") == "" {
		t.Fatal("no X-Request-ID")
	}
}

// jsonOfSize is a JSON object of exactly n bytes that a create-organization
// request refuses as invalid (name is a number): it reached the decoder
// whole only if the answer is 422 for the field name.
func jsonOfSize(n int) []byte {
	const head, tail = `{"name":`, `5}`
	return []byte(head + strings.Repeat(" ", n-len(head)-len(tail)) + tail)
}

func TestBodyLimit_OverTheLimitIs413ForAClientThatWritesFirst(t *testing.T) {
	const limit = 1 << 20
	addr := listen(t, limit)
	big := jsonOfSize(8 << 20)
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			// Several times: a lost answer (a reset while the client still
			// writes) may depend on timing.
			for range 3 {
				a, err := sendWhole(addr, "POST", "/organizations", nil, big, chunked)
				if err != nil {
					t.Fatalf("8 MiB body with a 1 MiB limit: %v (want a 413 answer, not a broken connection)", err)
				}
				wantProblem(t, a, http.StatusRequestEntityTooLarge, "body_too_large")
				if !a.close {
					t.Error("no Connection: close with the 413")
				}
			}
		})
	}
	t.Run("go_http_client", func(t *testing.T) {
		resp, err := http.Post("http://"+addr+"/organizations", "application/json", bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		wantProblem(t, rawAnswer{status: resp.StatusCode, header: resp.Header, body: b}, http.StatusRequestEntityTooLarge, "body_too_large")
	})
	t.Run("at_the_limit_the_body_reaches_the_handler_whole", func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			a, err := sendWhole(addr, "POST", "/organizations", nil, jsonOfSize(limit), chunked)
			if err != nil {
				t.Fatal(err)
			}
			wantProblem(t, a, http.StatusUnprocessableEntity, "validation_failed")
			if !bytes.Contains(a.body, []byte(`"field":"name"`)) {
				t.Fatalf("chunked=%v: %s, want the name field refused", chunked, a.body)
			}
		}
		a, err := sendWhole(addr, "POST", "/organizations", nil, jsonOfSize(limit+1), true)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, a, http.StatusRequestEntityTooLarge, "body_too_large")
	})
}

func TestBodyLimit_ACompressedBodyIs415(t *testing.T) {
	addr := listen(t, 1<<20)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	// 64 MiB of spaces inflate from a few kilobytes.
	for _, part := range [][]byte{[]byte(`{"name":`), bytes.Repeat([]byte(" "), 64<<20), []byte(`"x"}`)} {
		if _, err := zw.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := sendWhole(addr, "POST", "/organizations", map[string]string{"Content-Encoding": "gzip"}, gz.Bytes(), false)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, a, http.StatusUnsupportedMediaType, "unsupported_media_type")
}

// TestBodyLimit_AnUnreadBodyIsNeverTakenForTheNextRequest: bodies are
// streamed, so a body no handler reads must still be consumed; otherwise
// its bytes would be parsed as the next request on the connection.
func TestBodyLimit_AnUnreadBodyIsNeverTakenForTheNextRequest(t *testing.T) {
	addr := listen(t, 1<<20)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n"
	for _, tc := range []struct{ name, first string }{
		{"content_length", fmt.Sprintf("GET /health HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled)},
		{"chunked", fmt.Sprintf("GET /health HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			last := "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
			if _, err := io.WriteString(conn, tc.first+last); err != nil {
				t.Fatal(err)
			}
			// The server closes after the request that asked it to: read
			// every answer until then.
			br := bufio.NewReader(conn)
			var statuses []int
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses = append(statuses, resp.StatusCode)
			}
			if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 200 {
				t.Fatalf("answers %v, want [200 200]: a body's bytes were served as a request", statuses)
			}
		})
	}
}

// TestBodyLimit_MemoryDoesNotGrowWithOversizedBodies: the finding's 30
// concurrent 15 MiB bodies took the heap up by their size. Now a refused
// body is never read into memory: the whole run allocates a small
// fraction of what the bodies weigh. (Not parallel: it reads the
// process's allocation counter.)
func TestBodyLimit_MemoryDoesNotGrowWithOversizedBodies(t *testing.T) {
	const (
		limit   = 1 << 20
		size    = 8 << 20
		clients = 16
	)
	addr := listen(t, limit)
	body := jsonOfSize(size) // one buffer, shared by every client
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				wg.Go(func() {
					a, err := sendWhole(addr, "POST", "/organizations", nil, body, chunked)
					if err == nil && a.status != http.StatusRequestEntityTooLarge {
						err = fmt.Errorf("status %d %s, want 413", a.status, a.body)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bodies of %d MiB allocated %.1f MiB in all", clients, size>>20, float64(allocated)/(1<<20))
			// A chunked body is read up to the limit before it is refused;
			// one with Content-Length not at all.
			bound := uint64(clients) * limit * 3
			if !chunked {
				bound = uint64(clients) * limit / 2
			}
			if allocated > bound {
				t.Fatalf("%d refused bodies of %d MiB allocated %d MiB, want under %d MiB (they weigh %d MiB)",
					clients, size>>20, allocated>>20, bound>>20, clients*size>>20)
			}
		})
	}
}
