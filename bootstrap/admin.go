package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/config"
)

// MetricsModule provides the metrics every other module reports into, and
// the admin listener on ADMIN_ADDR that serves them with /debug/pprof/.
// The metrics are recorded whether or not ADMIN_ADDR is set: they cost
// little, and the code path is the same with and without a listener.
var MetricsModule = fx.Module("metrics",
	fx.Provide(metrics.New, newAdminServer),
)

// AdminServer is the admin listener, or nothing when ADMIN_ADDR is empty.
type AdminServer struct {
	ln net.Listener
}

// Addr returns the admin listener's bound address; "" before start or
// when it is off.
func (s *AdminServer) Addr() string {
	if s == nil || s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// adminHeaderTimeout bounds a slow client's request headers; a CPU
// profile or trace takes as long as it is asked to (?seconds=), so no
// write timeout.
const adminHeaderTimeout = 10 * time.Second

func newAdminServer(lc fx.Lifecycle, cfg *config.Config, m *metrics.Metrics, log *slog.Logger) *AdminServer {
	s := &AdminServer{}
	if cfg.AdminAddr == "" {
		log.Info("admin listener off (ADMIN_ADDR is empty): no /metrics, no /debug/pprof/")
		return s
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: adminHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.AdminAddr)
			if err != nil {
				return fmt.Errorf("listen on %s (ADMIN_ADDR, metrics and pprof; empty turns it off): %w", cfg.AdminAddr, err)
			}
			s.ln = ln
			go func() {
				defer close(done)
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("admin server stopped", "err", err)
				}
			}()
			log.Info("admin listening: /metrics, /debug/pprof/", "addr", ln.Addr().String())
			return nil
		},
		OnStop: func(ctx context.Context) error {
			// A scrape finishes; a long profile is cut off at the deadline.
			err := srv.Shutdown(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = srv.Close()
			}
			<-done
			return err
		},
	})
	return s
}
