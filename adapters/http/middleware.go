package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

type localKey int

const (
	keyRequestID localKey = iota
	keyActor
	keyRate
	keyIdempotency
	keyNoRoute
)

// requestIDs makes ids that are unique per process run and cheap: a random
// prefix fixed at start and a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (r *requestIDs) next() string {
	return r.prefix + strconv.FormatUint(r.n.Add(1), 36)
}

// saneRequestID accepts a client's id if it is short and plain, so that it
// can go into logs and headers as it is.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// requestID returns the request's id, assigning one if no middleware has
// (errors raised by fasthttp itself, such as an oversized body, reach the
// error handler before any middleware runs).
func requestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(keyRequestID).(string); ok {
		return id
	}
	id := string(c.Request().Header.Peek(fiber.HeaderXRequestID))
	if !saneRequestID(id) {
		id = fallbackIDs.next()
	} else {
		id = strings.Clone(id)
	}
	c.Locals(keyRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return id
}

var fallbackIDs = newRequestIDs()

// observe is the outermost middleware: it gives the request its id, runs
// the chain, answers any error through the error handler (so the status is
// final when logged) and writes one access-log line.
//
// With metrics, it counts the request in flight and records its duration
// under its route template (see routeLabels); labels is read when the
// request ends, so it may be filled after this is made, before serving.
//
// With a tracer, the request runs under a server span (see startSpan),
// named by its method and route template once the route is known, and
// the access-log line carries its trace_id and span_id.
func observe(log *slog.Logger, handle fiber.ErrorHandler, metrics Metrics, tracer trace.Tracer, labels *routeLabels) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		entry := c.Route()
		if metrics != nil {
			metrics.RequestStarted()
		}
		requestID(c)
		var span trace.Span
		if tracer != nil {
			span = startSpan(c, tracer)
		}
		if err := c.Next(); err != nil {
			if herr := handle(c, err); herr != nil {
				if metrics != nil {
					metrics.RequestFinished(methodLabel(c), labels.label(c, entry), fiber.StatusInternalServerError, time.Since(start))
				}
				if span != nil {
					endSpan(c, span, labels.label(c, entry), fiber.StatusInternalServerError)
				}
				return herr
			}
		}
		status := c.Response().StatusCode()
		if metrics != nil {
			metrics.RequestFinished(methodLabel(c), labels.label(c, entry), status, time.Since(start))
		}
		if span != nil {
			endSpan(c, span, labels.label(c, entry), status)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if !log.Enabled(c.UserContext(), level) {
			return nil
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Method()),
			slog.String("route", c.Route().Path),
			slog.Int("status", status),
			slog.Duration("latency", time.Since(start)),
		}
		if a, ok := c.Locals(keyActor).(domain.Actor); ok {
			attrs = append(attrs, slog.Int64("organization_id", int64(a.OrgID)), slog.Int64("user_id", int64(a.UserID)))
			if a.ViaAPIKey() { // its id, never the secret
				attrs = append(attrs, slog.Int64("api_key_id", int64(a.APIKeyID)))
			}
		}
		if span != nil {
			sc := span.SpanContext()
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		// Not the request's context: this line names its trace itself.
		log.LogAttrs(context.Background(), level, "request", attrs...)
		return nil
	}
}

// startSpan starts the request's server span, as a child of the caller's
// span if the request carries a W3C traceparent, and makes the request's
// context carry it, so that every span and log line of the request (SQL,
// Redis, the handlers' logs) joins it. Its name is the method until
// endSpan knows the route.
func startSpan(c *fiber.Ctx, tracer trace.Tracer) trace.Span {
	ctx := propagation.TraceContext{}.Extract(c.UserContext(), headerCarrier{&c.Request().Header})
	method := methodLabel(c)
	ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", method),
		// Cloned: Fiber's strings point into fasthttp's buffers, reused by
		// the next request, and a span is exported after its request.
		attribute.String("url.path", strings.Clone(c.Path())),
		attribute.String("url.scheme", c.Protocol()),
		attribute.String("http.request.id", requestID(c)),
	))
	c.SetUserContext(ctx)
	return span
}

// endSpan names the span by its method and route template (just the
// method for a request no route took: raw paths would make a name per
// id), records the status and ends it. A 5xx is an error; a 4xx is the
// caller's, not the server's (OpenTelemetry's HTTP conventions).
func endSpan(c *fiber.Ctx, span trace.Span, route string, status int) {
	method := methodLabel(c)
	if route != UnmatchedRoute {
		span.SetName(method + " " + route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	if a, ok := c.Locals(keyActor).(domain.Actor); ok {
		span.SetAttributes(attribute.Int64("taskflow.organization_id", int64(a.OrgID)))
	}
	span.End()
}

// headerCarrier reads the propagation headers of a fasthttp request.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (hc headerCarrier) Get(key string) string { return string(hc.h.Peek(key)) }
func (hc headerCarrier) Set(key, value string) { hc.h.Set(key, value) }
func (hc headerCarrier) Keys() []string {
	var keys []string
	hc.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}

// limitBody makes sure that no handler sees, and no memory holds, more
// than limit bytes of a request body. The server streams bodies (App):
// when this runs, fasthttp has read at most 8 KiB of one. A Content-Length
// over the limit is refused unread; a chunked body is read up to one byte
// past the limit. What it accepts becomes the request's body, so handlers
// read c.Body() as usual; and the stream is read to its end, so no unread
// body bytes can be taken for the next request on the connection.
//
// A compressed body is refused (415): Fiber's c.Body() would inflate it
// whole, and a small gzip body can inflate to gigabytes.
func limitBody(limit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := c.Request()
		stream := req.BodyStream()
		n := req.Header.ContentLength() // -1: chunked; -2: none
		if ce := req.Header.Peek(fiber.HeaderContentEncoding); len(ce) > 0 && n != 0 && n != -2 &&
			!strings.EqualFold(string(ce), "identity") {
			return refuseBody(c, stream, limit, errEncodedBody)
		}
		if n > limit {
			return refuseBody(c, stream, limit, fiber.ErrRequestEntityTooLarge)
		}
		if stream == nil {
			// No body, or an app that does not stream (the fuzz tests'
			// edge app): whatever there is was read whole already.
			if len(req.Body()) > limit {
				return fiber.ErrRequestEntityTooLarge
			}
			return c.Next()
		}
		var body []byte
		var err error
		if n >= 0 {
			body = make([]byte, n)
			_, err = io.ReadFull(stream, body)
		} else {
			body, err = io.ReadAll(io.LimitReader(stream, int64(limit)+1))
		}
		if err != nil {
			// A broken chunked encoding, or a client gone mid-body: the
			// connection cannot carry another request.
			c.Context().Response.SetConnectionClose()
			return errUnreadableBody
		}
		if len(body) > limit {
			return refuseBody(c, stream, limit, fiber.ErrRequestEntityTooLarge)
		}
		req.SetBodyRaw(body)
		return c.Next()
	}
}

var (
	errEncodedBody    = fiber.NewError(fiber.StatusUnsupportedMediaType, "a Content-Encoding is not accepted; send the body uncompressed")
	errUnreadableBody = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_body", Message: "the request body could not be read"}
)

// drainMin and drainFactor bound what refuseBody reads and throws away.
const (
	drainMin    = 16 << 20
	drainFactor = 8
)

// refuseBody answers err for a body it does not keep, and closes the
// connection after the answer. A client that writes its whole body before
// it reads the answer would get a connection reset instead of the answer
// if the connection closed with its body unread; so up to 8 times the
// limit (at least 16 MiB) of the body is read first and thrown away, in
// small reads (the server's read timeout bounds how long that may take).
// Only a larger body can lose its answer. Nothing of it is kept.
func refuseBody(c *fiber.Ctx, stream io.Reader, limit int, err error) error {
	if stream != nil {
		_, _ = io.CopyN(io.Discard, stream, int64(max(drainMin, drainFactor*limit)))
	}
	c.Context().Response.SetConnectionClose()
	return err
}

// recoverPanics turns a panic into an error the error handler answers as
// a 500, with the stack in the log.
func recoverPanics(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(c.UserContext(), "panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return c.Next()
	}
}

// deadline puts a timeout on the request's context: Fiber never cancels
// UserContext by itself, so without this a stuck query holds its
// connection for ever. The context also carries the request id, which
// the events the request's writes record name, and the request's cache
// snapshot (application.WithRequest). Its timer is armed only if
// something waits on it (requestContext): a cached hit waits on nothing.
func deadline(d time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, end := newRequestContext(application.WithRequest(c.UserContext(), requestID(c)), d)
		defer end()
		c.SetUserContext(ctx)
		return c.Next()
	}
}

// authenticate resolves the bearer token (an access token or an API key)
// to the caller (with the role the store holds now) and marks the answer
// as not cacheable. The request reads its organization's cache generation
// once, for the session check and the handler's lookups together, through
// the snapshot its context carries (deadline, application.WithRequest).
func authenticate(auth *application.Auth) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		h := c.Get(fiber.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return domain.ErrUnauthenticated
		}
		actor, err := auth.Authenticate(c.UserContext(), strings.TrimSpace(token))
		if err != nil {
			return err
		}
		c.Locals(keyActor, actor)
		// A read-only key reads, whatever its member's role: refused here,
		// before any body is read or any use case runs.
		if actor.ReadOnly && c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
			return domain.ErrAPIKeyReadOnly
		}
		return c.Next()
	}
}

func actorOf(c *fiber.Ctx) domain.Actor {
	a, _ := c.Locals(keyActor).(domain.Actor)
	return a
}
