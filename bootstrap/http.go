package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/adapters/telemetry"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// HTTPModule provides the HTTP server, bound in OnStart and drained in
// OnStop.
var HTTPModule = fx.Module("http",
	fx.Provide(newServer),
)

// Server is the running HTTP server; Addr is where it listens once the
// app has started (useful with HTTP_ADDR=127.0.0.1:0).
type Server struct {
	app *fiber.App
	h   *httpadapter.Server
	ln  net.Listener
}

// Drain starts a shutdown's drain: /ready fails and every answer closes
// its connection, while the listener still accepts and serves.
func (s *Server) Drain() { s.h.Drain() }

// Addr returns the bound address, or "" before start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

type serverIn struct {
	fx.In
	Cfg     *config.Config
	Log     *slog.Logger
	Info    buildInfo
	Auth    *application.Auth
	Orgs    *application.Organizations
	Tasks   *application.Tasks
	Idem    *application.Idempotency
	Events  *application.Events
	Checks  []httpadapter.Check `group:"checks"`
	Limiter ports.RateLimiter
	Metrics *metrics.Metrics
	// Webhooks serves the webhook endpoints.
	Webhooks *application.Webhooks
	Streams  *application.Streams
	Tracing  *telemetry.Tracing
}

func newServer(lc fx.Lifecycle, in serverIn) *Server {
	h := httpadapter.NewServer(in.Auth, in.Orgs, in.Tasks, in.Idem, in.Checks, in.Limiter, in.Log, httpadapter.Options{
		BodyLimit: in.Cfg.BodyLimit, RequestTimeout: in.Cfg.RequestTimeout, Version: in.Info.Version,
		CORSOrigins: in.Cfg.CORSOrigins, Metrics: in.Metrics, Tracing: in.Tracing.Provider(),
		Limits: httpadapter.RateLimits{Auth: in.Cfg.AuthPerMinute, Org: in.Cfg.OrgPerMinute},
	}).WithEvents(in.Events)
	h.WithWebhooks(in.Webhooks)
	h.ServeStreams(in.Streams)
	s := &Server{app: h.App(), h: h}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", in.Cfg.HTTPAddr)
			if err != nil {
				return fmt.Errorf("listen on %s (HTTP_ADDR): %w", in.Cfg.HTTPAddr, err)
			}
			s.ln = ln
			go func() {
				if err := s.app.Listener(ln); err != nil {
					in.Log.Error("http server stopped", "err", err)
				}
			}()
			in.Log.Info("listening", "addr", ln.Addr().String(), "env", in.Cfg.Env, "version", in.Info.Version)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			// In-flight requests finish; new connections are refused. The
			// deadline comes from SHUTDOWN_TIMEOUT via fx.StopTimeout.
			// Event streams never finish by themselves: they are closed
			// first (Run has closed them already, at the drain).
			in.Streams.CloseAll()
			shutdownCtx, cancel := context.WithTimeout(ctx, in.Cfg.ShutdownTimeout)
			defer cancel()
			return s.app.ShutdownWithContext(shutdownCtx)
		},
	})
	return s
}
