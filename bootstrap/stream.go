package bootstrap

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/adapters/notify"
	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// StreamModule provides the live feed: the notifier that tells every
// replica of committed events, the publisher that feeds it after each
// commit, the stream slots and the Streams use case. The choice of
// notifier is made here: in process on SQLite (one process is every
// replica), Redis pub/sub when the replicas share a Redis cache, else
// Postgres LISTEN/NOTIFY. Stream slots are shared through Redis when
// there is one, and counted per replica otherwise.
var StreamModule = fx.Module("stream",
	fx.Provide(
		newNotifier,
		newStreamSlots,
		func(cfg *config.Config) application.StreamOptions {
			o := application.DefaultStreamOptions()
			o.MaxPerOrg = cfg.StreamMaxPerOrg
			return o
		},
		func(lc fx.Lifecycle, n ports.Notifier, events ports.EventStore, log *slog.Logger) *application.Publisher {
			p := application.NewPublisher(n, events, log)
			lc.Append(fx.StartStopHook(p.Start, p.Stop))
			return p
		},
		newStreams,
	),
)

// publishCommitted decorates the transactor and the stores so that each
// committed event is published (application.PublishCommitted). It is
// applied at the root, so every use case gets the decorated pair.
func publishCommitted(tx ports.Transactor, s ports.Stores, p *application.Publisher) (ports.Transactor, ports.Stores) {
	return application.PublishCommitted(tx, s, p)
}

func newNotifier(lc fx.Lifecycle, cfg *config.Config, log *slog.Logger, rc redis.UniversalClient, install InstallationID) (ports.Notifier, error) {
	st, err := cfg.Store()
	if err != nil {
		return nil, err
	}
	switch {
	case st.Kind != config.StorePostgres:
		log.Info("event notifications: in process")
		return notify.NewMemory(), nil
	case rc != nil:
		log.Info("event notifications: redis pub/sub")
		return notify.NewRedis(rc, redisPrefix(install), log), nil
	}
	// NOTIFY goes through a small pool of its own, on DATABASE_URL (a
	// pooler in transaction mode carries it); LISTEN holds one more
	// connection (lib/pq's listener), on NOTIFY_DATABASE_URL when set: a
	// pooler cannot carry LISTEN (the notifier finds a pooler out before it
	// listens, and then does not, and says so in the log).
	db, err := postgres.Open(context.Background(), st.URL, 2)
	if err != nil {
		return nil, fmt.Errorf("event notifications: connect to Postgres (DATABASE_URL): %w", err)
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error { return db.Close() }})
	listenURL, from := st.URL, "DATABASE_URL"
	if cfg.NotifyDatabaseURL != "" {
		listenURL, from = cfg.NotifyDatabaseURL, "NOTIFY_DATABASE_URL"
	}
	log.Info("event notifications: postgres LISTEN/NOTIFY", "listen_on", from)
	return notify.NewPostgres(db.DB, listenURL, log), nil
}

func newStreamSlots(rc redis.UniversalClient, install InstallationID) ports.StreamSlots {
	if rc == nil {
		return nil
	}
	return notify.NewRedisSlots(rc, redisPrefix(install))
}

func newStreams(lc fx.Lifecycle, s ports.Stores, auth *application.Auth, n ports.Notifier, slots ports.StreamSlots,
	opts application.StreamOptions, log *slog.Logger, m *metrics.Metrics) *application.Streams {
	st := application.NewStreams(s.Events, auth, n, slots, notify.NewMemorySlots(), opts, log)
	m.WatchStreams(st.OpenStreams)
	lc.Append(fx.StartStopHook(st.Start, st.Stop))
	return st
}
