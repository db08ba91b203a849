package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/domain"
)

// TestErrorHandler_DependencyDownIs503WithRetryAfter: an error of kind
// unavailable, however deeply wrapped on its way up, and a request that
// ran out of time are each a 503 problem with Retry-After; the client
// reads no cause, and the log has it.
func TestErrorHandler_DependencyDownIs503WithRetryAfter(t *testing.T) {
	// How a refused dial looks at the bottom of the chain.
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name     string
		err      error
		wantCode string
		// wantLog must appear in the server log (the cause).
		wantLog string
	}{
		{"database_unavailable", domain.DatabaseUnavailable(refused), "unavailable", "connection refused"},
		{"database_unavailable_wrapped_by_the_use_case",
			fmt.Errorf("authenticate: %w", fmt.Errorf("task store: list: %w", domain.DatabaseUnavailable(refused))),
			"unavailable", "connection refused"},
		{"request_timeout", fmt.Errorf("task store: get: %w", context.DeadlineExceeded), "timeout", "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			handle := errorHandler(log)
			app := fiber.New(fiber.Config{ErrorHandler: handle, DisableStartupMessage: true})
			app.Use(observe(log, handle, nil, nil, nil))
			app.Get("/tasks", func(*fiber.Ctx) error { return tc.err })

			resp, err := app.Test(httptest.NewRequest("GET", "/tasks", nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != fiber.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503; body %s", resp.StatusCode, raw)
			}
			if ct := resp.Header.Get(fiber.HeaderContentType); !strings.HasPrefix(ct, problemJSON) {
				t.Fatalf("Content-Type %q, want %s", ct, problemJSON)
			}
			if s, err := strconv.Atoi(resp.Header.Get(fiber.HeaderRetryAfter)); err != nil || s < 1 || s > 60 {
				t.Fatalf("Retry-After %q, want a few seconds", resp.Header.Get(fiber.HeaderRetryAfter))
			}
			var p problem
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			if p.Status != 503 || p.Code != tc.wantCode || p.Detail == "" || p.RequestID == "" ||
				p.RequestID != resp.Header.Get(fiber.HeaderXRequestID) {
				t.Fatalf("problem %+v, want status 503, code %s, a detail and the request id", p, tc.wantCode)
			}
			if strings.Contains(string(raw), "refused") || strings.Contains(string(raw), "store") {
				t.Fatalf("the client is shown the cause: %s", raw)
			}
			if !strings.Contains(logs.String(), tc.wantLog) || !strings.Contains(logs.String(), p.RequestID) {
				t.Fatalf("the log does not name the cause %q with the request id:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

// TestErrorHandler_OnlyUnavailableIsRetryable: the other kinds keep their
// status and carry no Retry-After (a 429 has its own, from the limiter).
func TestErrorHandler_OnlyUnavailableIsRetryable(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(log), DisableStartupMessage: true})
	errs := map[string]error{
		"/internal":  errors.New("a bug"),
		"/not-found": domain.ErrTaskNotFound,
		"/conflict":  domain.ErrInvalidTransition,
	}
	want := map[string]int{"/internal": 500, "/not-found": 404, "/conflict": 409}
	for path, err := range errs {
		app.Get(path, func(*fiber.Ctx) error { return err })
	}
	for path, status := range want {
		resp, err := app.Test(httptest.NewRequest("GET", path, nil), int(5*time.Second/time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || resp.Header.Get(fiber.HeaderRetryAfter) != "" {
			t.Errorf("%s: status %d Retry-After %q, want %d and none", path, resp.StatusCode, resp.Header.Get(fiber.HeaderRetryAfter), status)
		}
	}
}
