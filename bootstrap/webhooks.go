package bootstrap

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/adapters/telemetry"
	"github.com/taskflow/taskflow/adapters/webhook"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// WebhooksModule provides the webhook use cases and the dispatcher, which
// runs from OnStart to OnStop: the delivery loop of every replica, each
// attempt made by one of them.
var WebhooksModule = fx.Module("webhooks",
	fx.Provide(
		newWebhookOptions,
		func(o webhook.Options) *webhook.Sender { return webhook.NewSender(o) },
		func(cfg *config.Config) (*webhook.SecretBox, error) {
			return webhook.NewSecretBox(cfg.SecretKey, cfg.SecretKeyPrevious)
		},
		func() DispatchIdle { return DispatchIdle(500 * time.Millisecond) },
		newDispatcher,
		func(tx ports.Transactor, s ports.Stores, box *webhook.SecretBox, sender *webhook.Sender, clock ports.Clock,
			cfg *config.Config, d *application.Dispatcher) *application.Webhooks {
			return application.NewWebhooks(tx, s.Webhooks, box, sender, clock, cfg.WebhookAllowPrivate, d)
		},
	),
)

// DispatchIdle is how long the dispatcher waits after a Step that found
// nothing due, before it looks again.
type DispatchIdle time.Duration

// newWebhookOptions configures the sender; tests decorate it (a resolver
// of their own, their receiver's certificate).
// With tracing on, each attempt is a client span; off, the sender has no
// tracer and makes none.
func newWebhookOptions(cfg *config.Config, tr *telemetry.Tracing) webhook.Options {
	o := webhook.Options{Timeout: cfg.WebhookTimeout, AllowPrivate: cfg.WebhookAllowPrivate}
	if tr.Enabled() {
		o.Tracer = tr
	}
	return o
}

func newDispatcher(lc fx.Lifecycle, cfg *config.Config, log *slog.Logger, tx ports.Transactor, s ports.Stores,
	sender *webhook.Sender, box *webhook.SecretBox, clock ports.Clock, idle DispatchIdle, m *metrics.Metrics) *application.Dispatcher {
	d := application.NewDispatcher(tx, s.Webhooks, s.Events, sender, box, clock, httpadapter.MarshalEvent,
		httpadapter.WebhookRepresentation{}, log, application.DispatchConfig{
			RetrySchedule: cfg.WebhookRetrySchedule, DisableAfter: cfg.WebhookDisableAfter, Timeout: cfg.WebhookTimeout,
			Meter: m,
		})
	m.WatchWebhookLag(d.Lag)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				d.Run(ctx, time.Duration(idle))
			}()
			return nil
		},
		// An attempt cut short here is not settled: its claim runs out and
		// another replica (or the next start) makes it again.
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stop.Done():
				return stop.Err()
			}
			d.WaitPings()
			return nil
		},
	})
	return d
}
