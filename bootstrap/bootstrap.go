// Package bootstrap wires TaskFlow together with uber-go/fx: one module per
// adapter, the choice of implementations from config made here and only
// here, and the HTTP server's life cycle. It is the only package that
// imports fx; cmd/taskflow calls it and nothing else does.
package bootstrap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/taskflow/taskflow/config"
)

// New builds the application for cfg. extra options let tests reach into
// the graph (fx.Populate) or replace a piece (fx.Decorate).
func New(cfg *config.Config, version string, extra ...fx.Option) *fx.App {
	log := NewLogger(cfg, os.Stderr)
	opts := []fx.Option{
		fx.Supply(cfg, rootLogger{log}, buildInfo{Version: version}),
		fx.Provide(newServiceLogger),
		fx.WithLogger(func() fxevent.Logger {
			// fx's own lines (provides, hooks) are noise at info level.
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			// Its errors too: each one is also returned, and Run prints it
			// once, as one line without the "could not build arguments"
			// chain.
			l.UseErrorLevel(slog.LevelDebug)
			return l
		}),
		// Constructors wait for the database and Redis (STARTUP_TIMEOUT)
		// before the hooks run; fx's own limit must not cut that short.
		fx.StartTimeout(cfg.StartupTimeout + 2*time.Minute),
		fx.StopTimeout(cfg.ShutdownTimeout + 5*time.Second),
		TelemetryModule,
		MetricsModule,
		StoreModule,
		CacheModule,
		AuthModule,
		ApplicationModule,
		WebhooksModule,
		StreamModule,
		fx.Decorate(publishCommitted),
		HTTPModule,
		RetentionModule,
		// The admin listener starts first and stops last: metrics and
		// profiles are there for the whole of a drain.
		fx.Invoke(func(*AdminServer, *Server, *purgeLoop) {}),
	}
	return fx.New(append(opts, extra...)...)
}

type buildInfo struct{ Version string }

// NewLogger builds the service's slog logger from LOG_LEVEL and LOG_FORMAT.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Run starts the service and blocks until SIGINT or SIGTERM. Then it
// drains: /ready answers 503 and for SHUTDOWN_DRAIN the server still
// serves, closing each connection after its answer; then it stops
// accepting, lets in-flight requests finish (bounded by SHUTDOWN_TIMEOUT)
// and closes the pools.
func Run(cfg *config.Config, version string) error {
	log := NewLogger(cfg, os.Stderr)
	if cfg.SecretKeyGenerated {
		log.Warn("SECRET_KEY is not set: using a random key for this run; tokens will not survive a restart (set SECRET_KEY, at least 32 bytes)")
	}
	var srv *Server
	app := New(cfg, version, fx.Populate(&srv))
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return startError(err)
	}
	sig := <-app.Wait()
	log.Info("shutting down", "signal", sig.Signal.String(), "drain", cfg.ShutdownDrain.String())
	// The drain comes before fx's stop, so SHUTDOWN_TIMEOUT still bounds
	// the in-flight requests alone. A load balancer sees /ready fail and
	// moves the traffic; clients still arriving are served, each answer
	// closing its connection, so none holds an idle keep-alive connection
	// when the listener closes (closing one under a request just sent on
	// it is a reset).
	srv.Drain()
	if cfg.ShutdownDrain > 0 {
		time.Sleep(cfg.ShutdownDrain)
	}
	log.Info("drain over: no longer accepting connections", "shutdown_timeout", cfg.ShutdownTimeout.String())
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}
