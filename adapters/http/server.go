package http

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/ports"
)

// Check is one dependency probed by GET /ready.
type Check struct {
	Name string
	Ping ports.Pinger
}

// Options configure the HTTP server.
type Options struct {
	BodyLimit      int
	RequestTimeout time.Duration
	Version        string
	// CORSOrigins may call the API from a browser; none by default.
	CORSOrigins []string
	Limits      RateLimits
	// Metrics receives request durations and rate-limit refusals; nil
	// measures nothing.
	Metrics Metrics
	// Tracing makes a server span of each request, continuing the
	// caller's W3C traceparent, and puts trace_id and span_id on its
	// access-log line; nil (tracing off) makes none.
	Tracing trace.TracerProvider
}

// Server holds the use cases the handlers call.
type Server struct {
	auth   *application.Auth
	orgs   *application.Organizations
	tasks  *application.Tasks
	idem   *application.Idempotency
	events *application.Events
	checks []Check
	limit  *limiter
	log    *slog.Logger
	opts   Options
	// handle is the app's error handler, for the middleware that must see
	// an error's answer before it is sent.
	handle fiber.ErrorHandler
	// draining is set by Drain: /ready fails and every answer closes its
	// connection.
	draining atomic.Bool
	// webhooks serves the webhook endpoints (WithWebhooks).
	webhooks *application.Webhooks
	// streams serves GET /events/stream (ServeStreams); nil: none.
	streams *application.Streams
}

// NewServer builds the handlers around the use cases. rl counts requests
// for opts.Limits; nil turns rate limiting off.
func NewServer(auth *application.Auth, orgs *application.Organizations, tasks *application.Tasks,
	idem *application.Idempotency, checks []Check, rl ports.RateLimiter, log *slog.Logger, opts Options) *Server {
	return &Server{auth: auth, orgs: orgs, tasks: tasks, idem: idem, checks: checks, log: log, opts: opts,
		limit: &limiter{rl: rl, limits: opts.Limits, log: log, metrics: opts.Metrics}}
}

// WithEvents adds the event log's reading endpoints (GET /events, GET
// /tasks/{id}/events), served from events.
func (s *Server) WithEvents(events *application.Events) *Server {
	s.events = events
	return s
}

// ServeStreams hands the live feed to the server: GET /events/stream
// opens its streams, and Drain closes them.
func (s *Server) ServeStreams(st *application.Streams) { s.streams = st }

// App builds the Fiber application: error handling, limits, middleware
// and routes.
func (s *Server) App() *fiber.App {
	handle := errorHandler(s.log)
	s.handle = handle
	app := fiber.New(fiber.Config{
		AppName: "taskflow",
		// Bodies are streamed: fasthttp hands the handlers a body it has
		// read at most 8 KiB of, and limitBody reads no more than the limit
		// of it and answers 413 past that. (Buffered, fasthttp would read
		// a body whole up to its limit before any handler ran, and refuse
		// one over it by closing the connection: a reset, not a 413.)
		BodyLimit:             s.opts.BodyLimit,
		StreamRequestBody:     true,
		ErrorHandler:          handle,
		DisableStartupMessage: true,
		// Room for long tokens; anything larger is 431.
		ReadBufferSize: 16 * 1024,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
	})
	// Requests that arrive while the server shuts down (after the drain)
	// close their connection too.
	app.Server().CloseOnShutdown = true
	app.Use(s.closeWhileDraining)
	// limitBody comes before anything that may answer without reading
	// the body (a CORS preflight): it reads every streamed body to its end.
	labels := routeLabels{}
	var tracer trace.Tracer
	if s.opts.Tracing != nil {
		tracer = s.opts.Tracing.Tracer("github.com/taskflow/taskflow/adapters/http")
	}
	app.Use(observe(s.log, handle, s.opts.Metrics, tracer, &labels), securityHeaders, limitBody(s.opts.BodyLimit), corsFor(s.opts.CORSOrigins),
		recoverPanics(s.log), deadline(s.opts.RequestTimeout))
	s.routes(app)
	labels = newRouteLabels(app)
	return app
}

// noRoute answers a request that no route took. Asked for the handler
// after the last, Fiber's router scans the routes of every other method
// for this path and appends each one it finds to Allow, so Allow follows
// routes.go by construction (a GET route serves HEAD too). A path served
// with other methods is a 405 with that Allow (RFC 9110 15.5.6), or, for
// an OPTIONS that corsFor did not take as a preflight, a 204 with it
// (RFC 9110 9.3.7); a path served with no method is a 404.
func (s *Server) noRoute(c *fiber.Ctx) error {
	c.Locals(keyNoRoute, true) // its route is "unmatched" in the metrics
	err := c.Next()
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return err
	}
	switch fe.Code {
	case fiber.StatusMethodNotAllowed:
		c.Append(fiber.HeaderAllow, fiber.MethodOptions)
		if c.Method() == fiber.MethodOptions {
			return c.SendStatus(fiber.StatusNoContent)
		}
		allow := string(c.Response().Header.Peek(fiber.HeaderAllow))
		return fiber.NewError(fiber.StatusMethodNotAllowed, c.Method()+" is not served here; allowed: "+allow)
	case fiber.StatusNotFound:
		return fiber.NewError(fiber.StatusNotFound, "no such route: "+c.Method()+" "+c.Path())
	}
	return err
}
