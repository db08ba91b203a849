package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// keyRecorder is an IdempotencyStore that hands out a claim for every key
// and records what the middleware does with it afterwards.
type keyRecorder struct {
	completed []ports.StoredResponse
	released  int
}

func (k *keyRecorder) Begin(_ context.Context, key ports.IdempotencyKey, fp string, _ time.Time, _, _ time.Duration) (ports.IdempotencyClaim, *ports.StoredResponse, error) {
	return ports.IdempotencyClaim{IdempotencyKey: key, Fingerprint: fp, Token: "t"}, nil, nil
}

func (k *keyRecorder) Complete(_ context.Context, _ ports.IdempotencyClaim, resp ports.StoredResponse) error {
	k.completed = append(k.completed, resp)
	return nil
}

func (k *keyRecorder) Release(context.Context, ports.IdempotencyClaim) error {
	k.released++
	return nil
}

type nowClock struct{}

func (nowClock) Now() time.Time { return time.Now() }

// idempotentApp serves POST /x with handler behind the idempotency
// middleware, for an ADMIN, with keys recorded by keys.
func idempotentApp(keys *keyRecorder, handler fiber.Handler) *fiber.App {
	s := NewServer(nil, nil, nil, application.NewIdempotency(keys, nowClock{}, time.Minute), nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	s.handle = errorHandler(s.log)
	app := fiber.New(fiber.Config{ErrorHandler: s.handle})
	app.Post("/x", func(c *fiber.Ctx) error {
		c.Locals(keyActor, domain.Actor{OrgID: 1, UserID: 2, Role: domain.RoleAdmin})
		return c.Next()
	}, s.idempotent, handler)
	return app
}

func postWithKey(t *testing.T, app *fiber.App) int {
	t.Helper()
	req := httptest.NewRequest("POST", "/x", strings.NewReader(`{}`))
	req.Header.Set("Idempotency-Key", "k")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestIdempotent_A5xxReleasesTheKey(t *testing.T) {
	for name, err := range map[string]error{
		"a bug":                    errors.New("boom"),
		"the database unavailable": domain.ErrDatabaseUnavailable,
		"the request out of time":  context.DeadlineExceeded,
	} {
		t.Run(name, func(t *testing.T) {
			keys := &keyRecorder{}
			status := postWithKey(t, idempotentApp(keys, func(*fiber.Ctx) error { return err }))
			if status < 500 || keys.released != 1 || len(keys.completed) != 0 {
				t.Fatalf("status %d: released %d, completed %d; want a 5xx, released once, never completed",
					status, keys.released, len(keys.completed))
			}
		})
	}
}

func TestIdempotent_A4xxIsStoredAsAnswered(t *testing.T) {
	keys := &keyRecorder{}
	status := postWithKey(t, idempotentApp(keys, func(*fiber.Ctx) error {
		return domain.Invalid(domain.FieldError{Field: "title", Message: "must not be empty"})
	}))
	if status != 422 || keys.released != 0 || len(keys.completed) != 1 {
		t.Fatalf("status %d: released %d, completed %d; want 422 stored once", status, keys.released, len(keys.completed))
	}
	got := keys.completed[0]
	if got.Status != 422 || !strings.Contains(string(got.Body), `"validation_failed"`) ||
		len(got.Header) != 1 || got.Header[0] != [2]string{fiber.HeaderContentType, problemJSON} {
		t.Fatalf("stored %d %v %s, want the 422 problem", got.Status, got.Header, got.Body)
	}
}

func TestIdempotent_AnAnswerStoredWithTheResourceIsNotStoredAgain(t *testing.T) {
	keys := &keyRecorder{}
	status := postWithKey(t, idempotentApp(keys, func(c *fiber.Ctx) error {
		r := receiptFor(c, func(string) ports.StoredResponse { return created("made") })
		// What the use case's transaction does with the receipt.
		if err := keys.Complete(c.UserContext(), r.Claim, r.Answer("made")); err != nil {
			return err
		}
		return sendStored(c, created("made"))
	}))
	if status != 201 || keys.released != 0 || len(keys.completed) != 1 {
		t.Fatalf("status %d: released %d, completed %d; want 201 stored once, in the transaction",
			status, keys.released, len(keys.completed))
	}
}
