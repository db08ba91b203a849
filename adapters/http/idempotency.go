package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

const (
	headerIdempotencyKey     = "Idempotency-Key"
	headerIdempotentReplayed = "Idempotent-Replayed"
	maxIdempotencyKey        = 255
)

// replayedHeaders are the header fields of an answer that are stored with
// its key and replayed; the others (request id, security headers) belong
// to each response.
var replayedHeaders = []string{fiber.HeaderContentType, fiber.HeaderLocation, fiber.HeaderETag}

var errMalformedKey = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_idempotency_key",
	Message: "Idempotency-Key must be given once, as 1 to 255 visible ASCII characters"}

// idempotentRequest is a request's claim on its key, for its handler.
type idempotentRequest struct {
	claim ports.IdempotencyClaim
	// completed is set when the handler's use case rendered the answer
	// for its transaction: committed, that transaction completed the key.
	completed bool
}

// idempotent makes a route honour Idempotency-Key (see
// application.Idempotency): it claims the key before the handler runs, or
// replays the stored answer, or refuses; and after the handler, stores
// an answer below 500 that the handler's use case did not store with its
// resource, or releases the key after a 5xx. It runs after authentication
// (keys are per caller) and after the role check (a refusal of the role
// is not worth a row). Its handler must complete the key in its use
// case's transaction with receiptFor.
func (s *Server) idempotent(c *fiber.Ctx) error {
	keys := c.Request().Header.PeekAll(headerIdempotencyKey)
	if len(keys) == 0 {
		return c.Next()
	}
	if len(keys) > 1 || !validIdempotencyKey(keys[0]) {
		return errMalformedKey
	}
	key := string(keys[0]) // a copy: fasthttp reuses the header's buffer
	ctx := c.UserContext()
	claim, replay, err := s.idem.Begin(ctx, actorOf(c), key, fingerprint(c))
	if err != nil {
		return err
	}
	if replay != nil {
		c.Set(headerIdempotentReplayed, "true")
		return sendStored(c, renamed(*replay, requestID(c)))
	}
	req := &idempotentRequest{claim: claim}
	c.Locals(keyIdempotency, req)
	if err := c.Next(); err != nil {
		// Answer the error here, so that its answer can be stored.
		if herr := s.handle(c, err); herr != nil {
			return herr
		}
		req.completed = false // the use case's transaction, if any, rolled back
	}
	// The request's own context may have run out (a timeout is a 503),
	// and the key must not stay claimed for a lease because of that.
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	status := c.Response().StatusCode()
	switch {
	case status >= fiber.StatusInternalServerError:
		if err := s.idem.Release(after, claim); err != nil {
			s.log.WarnContext(ctx, "idempotency key not released; it frees itself when its lease ends",
				"request_id", requestID(c), "err", err)
		}
	case !req.completed:
		if err := s.idem.Complete(after, claim, stored(c)); err != nil {
			s.log.WarnContext(ctx, "idempotency key not completed; a retry runs the request again once its lease ends",
				"request_id", requestID(c), "err", err)
		}
	}
	return nil
}

// validIdempotencyKey: 1 to 255 visible ASCII characters.
func validIdempotencyKey(k []byte) bool {
	if len(k) == 0 || len(k) > maxIdempotencyKey {
		return false
	}
	for _, b := range k {
		if b < 0x21 || b > 0x7e {
			return false
		}
	}
	return true
}

// fingerprint identifies the request a key was sent with: its method,
// path and body, hashed (the body may be up to the body limit).
func fingerprint(c *fiber.Ctx) string {
	h := sha256.New()
	h.Write([]byte(c.Method()))
	h.Write([]byte{0})
	h.Write([]byte(c.Path()))
	h.Write([]byte{0})
	h.Write(c.Body())
	return hex.EncodeToString(h.Sum(nil))
}

// receiptFor lets a handler's use case store the answer with its
// resource: answer renders it from what the use case made. nil when the
// request has no key.
func receiptFor[T any](c *fiber.Ctx, answer func(T) ports.StoredResponse) *application.Receipt[T] {
	req, ok := c.Locals(keyIdempotency).(*idempotentRequest)
	if !ok {
		return nil
	}
	return &application.Receipt[T]{Claim: req.claim, Answer: func(v T) ports.StoredResponse {
		req.completed = true
		return answer(v)
	}}
}

// created renders a 201 with body as JSON and the given header fields,
// the same bytes for the first answer and for the stored one.
func created(body any, header ...[2]string) ports.StoredResponse {
	b, err := json.Marshal(body)
	if err != nil {
		// The DTOs are plain structs of strings, numbers and times.
		panic("marshal a response: " + err.Error())
	}
	h := append([][2]string{{fiber.HeaderContentType, fiber.MIMEApplicationJSON}}, header...)
	return ports.StoredResponse{Status: fiber.StatusCreated, Header: h, Body: b}
}

// renamed is a stored answer as it is replayed: as it was, except that a
// problem names the request it answers (its request_id is the response's
// X-Request-ID, as on every problem), not the first one.
func renamed(resp ports.StoredResponse, id string) ports.StoredResponse {
	for _, h := range resp.Header {
		if h[0] != fiber.HeaderContentType || !strings.HasPrefix(h[1], problemJSON) {
			continue
		}
		var p problem
		if json.Unmarshal(resp.Body, &p) != nil {
			return resp
		}
		p.RequestID = id
		if b, err := json.Marshal(p); err == nil {
			resp.Body = b
		}
	}
	return resp
}

// sendStored writes resp as the answer.
func sendStored(c *fiber.Ctx, resp ports.StoredResponse) error {
	for _, h := range resp.Header {
		c.Set(h[0], h[1])
	}
	c.Status(resp.Status)
	c.Response().SetBody(resp.Body)
	return nil
}

// stored is the answer c holds, as it is stored under a key.
func stored(c *fiber.Ctx) ports.StoredResponse {
	resp := ports.StoredResponse{Status: c.Response().StatusCode(),
		Body: append([]byte(nil), c.Response().Body()...)}
	for _, name := range replayedHeaders {
		if v := c.Response().Header.Peek(name); len(v) > 0 {
			resp.Header = append(resp.Header, [2]string{name, string(v)})
		}
	}
	return resp
}
