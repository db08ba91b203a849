package http

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

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
}

// Server holds the use cases the handlers call.
type Server struct {
	auth   *application.Auth
	orgs   *application.Organizations
	tasks  *application.Tasks
	checks []Check
	limit  *limiter
	log    *slog.Logger
	opts   Options
	// draining is set by Drain: /ready fails and every answer closes its
	// connection.
	draining atomic.Bool
}

// NewServer builds the handlers around the use cases. rl counts requests
// for opts.Limits; nil turns rate limiting off.
func NewServer(auth *application.Auth, orgs *application.Organizations, tasks *application.Tasks, checks []Check,
	rl ports.RateLimiter, log *slog.Logger, opts Options) *Server {
	return &Server{auth: auth, orgs: orgs, tasks: tasks, checks: checks, log: log, opts: opts,
		limit: &limiter{rl: rl, limits: opts.Limits, log: log}}
}

// App builds the Fiber application: error handling, limits, middleware
// and routes.
func (s *Server) App() *fiber.App {
	handle := errorHandler(s.log)
	app := fiber.New(fiber.Config{
		AppName: "taskflow",
		// fasthttp refuses a body over its limit from Content-Length alone
		// and closes the connection unread, so a client still sending gets
		// a reset instead of the 413. Its hard limit is set well above
		// ours; limitBody answers bodies in between with a proper 413.
		BodyLimit:             max(8*s.opts.BodyLimit, 16<<20),
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
	app.Use(observe(s.log, handle), securityHeaders, corsFor(s.opts.CORSOrigins), limitBody(s.opts.BodyLimit),
		recoverPanics(s.log), deadline(s.opts.RequestTimeout))
	s.routes(app)
	return app
}

func (s *Server) notFound(c *fiber.Ctx) error {
	return fiber.NewError(fiber.StatusNotFound, "no such route: "+c.Method()+" "+c.Path())
}
