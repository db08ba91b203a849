package http

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      string            `json:"code"`
	RequestID string            `json:"request_id"`
	Errors    []fieldProblem    `json:"errors,omitempty"`
	Checks    map[string]string `json:"checks,omitempty"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

const problemJSON = "application/problem+json"

// statusOf is the one mapping from error kinds to HTTP statuses.
var statusOf = map[domain.Kind]int{
	domain.KindInvalid:      fiber.StatusUnprocessableEntity,
	domain.KindBadRequest:   fiber.StatusBadRequest,
	domain.KindUnauthorized: fiber.StatusUnauthorized,
	domain.KindForbidden:    fiber.StatusForbidden,
	domain.KindNotFound:     fiber.StatusNotFound,
	domain.KindConflict:     fiber.StatusConflict,
	domain.KindPrecondition: fiber.StatusPreconditionFailed,
	domain.KindUnavailable:  fiber.StatusServiceUnavailable,
}

// codeOfStatus names the errors Fiber and fasthttp raise themselves.
var codeOfStatus = map[int]string{
	fiber.StatusBadRequest:                  "bad_request",
	fiber.StatusNotFound:                    "not_found",
	fiber.StatusMethodNotAllowed:            "method_not_allowed",
	fiber.StatusRequestTimeout:              "request_timeout",
	fiber.StatusRequestEntityTooLarge:       "body_too_large",
	fiber.StatusUnsupportedMediaType:        "unsupported_media_type",
	fiber.StatusRequestHeaderFieldsTooLarge: "headers_too_large",
	fiber.StatusTooManyRequests:             "rate_limited",
	fiber.StatusServiceUnavailable:          "unavailable",
}

// retryAfter is the Retry-After of every 503: long enough for a pool to
// reconnect or a restarting database to come back, short enough that a
// client does not give up on a blip.
const retryAfter = "2"

// streamsRetryAfter is the Retry-After of a stream refused for the
// organization's limit: a slot frees when a client goes, or when the
// lease of a replica that died runs out.
const streamsRetryAfter = "5"

// errorHandler answers every error with problem+json. Domain errors keep
// their code and message; Fiber's own errors get a fixed code; anything
// else is a 500 that reveals nothing but the request id, with the cause in
// the log.
//
// A dependency that is down (domain.KindUnavailable, which the store
// adapters make of a refused, reset or shut-down database connection) is
// a 503 with code unavailable and Retry-After, never a 500; the client
// reads only "the database is unavailable; try again", and the operator
// sees one line per request such as (one line, wrapped here)
//
//	{"level":"WARN","msg":"dependency unavailable","request_id":"...","method":"GET","path":"/tasks/7",
//	 "err":"task store: get: unavailable: the database is unavailable; try again: begin transaction:
//	 dial tcp 127.0.0.1:5432: connect: connection refused"}
//
// next to the request's access line with status 503. A request that ran
// out of time is a 503 with code timeout and the same Retry-After.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p := problem{RequestID: requestID(c)}
		var de *domain.Error
		var fe *fiber.Error
		var rl *errRateLimited
		switch {
		case errors.As(err, &rl):
			q := rateLimitedProblem(c, rl)
			p.Status, p.Code, p.Detail = q.Status, q.Code, q.Detail
		case errors.Is(err, application.ErrTooManyStreams):
			p.Status, p.Code, p.Detail = fiber.StatusTooManyRequests, application.ErrTooManyStreams.Code, application.ErrTooManyStreams.Message
			c.Set(fiber.HeaderRetryAfter, streamsRetryAfter)
		case errors.As(err, &de) && de.Kind != domain.KindInternal:
			p.Status, p.Code, p.Detail = statusOf[de.Kind], de.Code, de.Message
			for _, f := range de.Fields {
				p.Errors = append(p.Errors, fieldProblem{Field: f.Field, Message: f.Message})
			}
			if de.Kind == domain.KindUnavailable {
				log.WarnContext(c.UserContext(), "dependency unavailable", "request_id", p.RequestID, "method", c.Method(), "path", c.Path(), "err", err)
			}
		case errors.As(err, &fe) && fe.Code < 500:
			p.Status, p.Detail = fe.Code, fe.Message
			p.Code = codeOfStatus[fe.Code]
			if p.Code == "" {
				p.Code = "bad_request"
			}
			if fe.Code == fiber.StatusRequestEntityTooLarge {
				p.Detail = "the request body is larger than the limit"
			}
		case errors.Is(err, context.DeadlineExceeded):
			p.Status, p.Code, p.Detail = fiber.StatusServiceUnavailable, "timeout", "the request took too long; try again"
			log.WarnContext(c.UserContext(), "request timed out", "request_id", p.RequestID, "err", err)
		default:
			p.Status, p.Code, p.Detail = fiber.StatusInternalServerError, "internal", "internal error"
			log.ErrorContext(c.UserContext(), "internal error", "request_id", p.RequestID, "method", c.Method(), "path", c.Path(), "err", err)
		}
		p.Type = "/problems/" + problemTypeSegment(p.Code)
		p.Title = titleOf(p.Code)
		switch p.Status {
		case fiber.StatusUnauthorized:
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="taskflow"`)
		case fiber.StatusServiceUnavailable:
			c.Set(fiber.HeaderRetryAfter, retryAfter)
		}
		return writeProblem(c, p)
	}
}

func writeProblem(c *fiber.Ctx, p problem) error {
	// An error may come before authentication has marked the answer; no
	// error answer is worth storing anyway.
	c.Set(fiber.HeaderCacheControl, "no-store")
	setSecurityHeaders(c)
	c.Status(p.Status)
	return c.JSON(p, problemJSON)
}

// titleOf turns a code into a short title: "invalid_status_transition"
// becomes "Invalid status transition".
func titleOf(code string) string {
	if code == "" {
		return ""
	}
	t := strings.ReplaceAll(code, "_", " ")
	return strings.ToUpper(t[:1]) + t[1:]
}
