package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// RetentionModule runs the event retention job (EVENT_RETENTION) in the
// background from start to shutdown. Every replica runs it; the store
// lets one purge at a time.
var RetentionModule = fx.Module("retention",
	fx.Provide(
		func(s ports.Stores, clock ports.Clock, cfg *config.Config) (*application.Retention, error) {
			return application.NewRetention(s.Events, clock, cfg.EventRetention)
		},
		newPurgeLoop,
	),
)

// purgeEvery is how often the job runs: events live for at least an hour
// (EVENT_RETENTION's floor), so one that outlives its retention by a few
// minutes is no matter.
const purgeEvery = 5 * time.Minute

func newPurgeLoop(lc fx.Lifecycle, r *application.Retention, log *slog.Logger) *purgeLoop {
	l := newLoop(r.PurgeOnce, purgeEvery, log)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { l.Start(); return nil },
		OnStop:  l.Stop,
	})
	return l
}

// purgeLoop runs a purge at start and then every interval, until stopped.
type purgeLoop struct {
	purge func(context.Context) (int64, error)
	every time.Duration
	log   *slog.Logger
	// rounds receives the outcome of each round, for tests; nil: none.
	rounds chan<- error
	cancel context.CancelFunc
	done   chan struct{}
}

// newLoop returns a loop that calls purge every interval.
func newLoop(purge func(context.Context) (int64, error), every time.Duration, log *slog.Logger) *purgeLoop {
	return &purgeLoop{purge: purge, every: every, log: log}
}

// Start starts the loop in the background; it returns at once.
func (l *purgeLoop) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			n, err := l.purge(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				// The next round tries again: a database away now is
				// no reason to stop.
				l.log.Warn("event retention: purge failed", "err", err, "purged", n)
			case n > 0:
				l.log.Info("event retention: purged old events", "purged", n)
			}
			if l.rounds != nil {
				select {
				case l.rounds <- err:
				case <-ctx.Done():
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop cancels the running purge, if any, and waits for the loop to end
// (or for ctx).
func (l *purgeLoop) Stop(ctx context.Context) error {
	if l.cancel == nil {
		return nil
	}
	l.cancel()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
