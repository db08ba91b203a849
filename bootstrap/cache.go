package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/cache"
	httpadapter "github.com/taskflow/taskflow/adapters/http"
	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/adapters/telemetry"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/ports"
)

// CacheModule provides the list cache and the rate limiter's counters,
// chosen by CACHE_BACKEND: this is the one place that choice is made.
// With Redis both are shared by every replica.
var CacheModule = fx.Module("cache",
	fx.Provide(newListCache),
)

type cacheOut struct {
	fx.Out
	Cache   ports.ListCache
	Limiter ports.RateLimiter
	Check   httpadapter.Check `group:"checks"`
	// Redis is the client of the shared Redis, for the event notifier
	// and the stream slots; nil with the memory backend.
	Redis redis.UniversalClient
}

// redisPrefix starts every Redis key and channel of an installation: two
// deployments sharing one Redis (each with its own organization 1) never
// meet.
func redisPrefix(install InstallationID) string { return "taskflow:" + string(install) }

func newListCache(lc fx.Lifecycle, cfg *config.Config, log *slog.Logger, install InstallationID, m *metrics.Metrics, tr *telemetry.Tracing) (cacheOut, error) {
	switch cfg.CacheBackend {
	case "redis":
		// go-redis logs its own connection errors to stderr; route them into
		// slog, where the request-level errors already are.
		// While start-up waits, each wait line already says why.
		quiet := &atomic.Bool{}
		quiet.Store(true)
		redis.SetLogger(redisLog{log: log, quiet: quiet})
		client, err := newRedisClient(cfg)
		if err != nil {
			return cacheOut{}, fmt.Errorf("REDIS_URL: %w", err)
		}
		// A span per command and per pipeline, with tracing on.
		if err := tr.InstrumentRedis(client); err != nil {
			return cacheOut{}, errors.Join(err, client.Close())
		}
		// go-redis connects on first use; a first PING here waits for a
		// Redis that is still starting, up to STARTUP_TIMEOUT. A Redis that
		// refuses (a wrong password) fails the start: no wait mends that.
		// One that is still away after the wait does not: it is a cache,
		// and the service runs on the database alone (/ready names it)
		// until it answers.
		dep := dependency{What: "Redis", Setting: "REDIS_URL", URL: config.RedactURL(cfg.RedisURL)}
		startErr := waitFor(context.Background(), log, dep, cfg.StartupTimeout, func(ctx context.Context) error {
			return client.Ping(ctx).Err()
		})
		if startErr != nil {
			var se *startupError
			if errors.As(startErr, &se) && se.Refused {
				return cacheOut{}, errors.Join(startErr, client.Close())
			}
			log.Error("starting without Redis: " + startErr.Error() + "; lists are read from the database until Redis answers")
		}
		quiet.Store(false)
		lc.Append(fx.Hook{OnStop: func(context.Context) error { return client.Close() }})
		log.Info("list cache: redis", "url", config.RedactURL(cfg.RedisURL), "cluster", cfg.RedisCluster, "ttl", cfg.CacheTTL.String())
		// Keys carry the installation id: two deployments sharing one
		// Redis (each with its own organization 1) never meet.
		prefix := redisPrefix(install)
		// The breaker skips Redis from its first failure until the probe
		// finds it answering and has moved the epoch (see cache.Redis).
		// Appended after the client's hook, so it stops before the client
		// closes.
		breaker := cache.NewBreaker(log)
		list := cache.NewRedis(client, prefix, cfg.CacheTTL, breaker)
		if startErr != nil {
			// Open from the start: no request waits on the Redis that
			// start-up could not reach, and its return moves the epoch.
			// The line above named the setting and the cause already.
			breaker.Trip("start-up", errors.New("not reachable within STARTUP_TIMEOUT"))
		}
		probe := cache.NewProbe(breaker, list.Ping, list.MoveEpoch)
		if cfg.RedisCluster {
			// A failover may lose acknowledged invalidations: each one
			// opens the breaker, as an outage does (see cache.Redis).
			probe.Watch, probe.WatchEvery = list.WatchCluster, clusterWatchEvery
		}
		lc.Append(fx.StartStopHook(probe.Start, probe.Stop))
		// While Redis is away, rate limits count per replica rather than
		// switching off; a background probe finds when it is back.
		limiter := cache.NewFallbackLimiter(cache.NewRedisLimiter(client, prefix), cache.NewMemoryLimiter(), log)
		limiter.SkipWhile(breaker.Open)
		limiterCtx, stopLimiterProbe := context.WithCancel(context.Background())
		probed := make(chan struct{})
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				go func() {
					defer close(probed)
					limiter.Run(limiterCtx, limiterProbeEvery)
				}()
				return nil
			},
			OnStop: func(ctx context.Context) error {
				stopLimiterProbe()
				select {
				case <-probed:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			},
		})
		return cacheOut{
			Cache:   m.CountCache(list, "redis"),
			Limiter: limiter,
			Check:   httpadapter.Check{Name: "redis", Ping: redisPinger{list}},
			Redis:   client,
		}, nil
	default:
		log.Info("list cache: memory", "ttl", cfg.CacheTTL.String(), "max_bytes", cfg.CacheMemoryMaxBytes)
		// Bounded in bytes too: 10,000 organizations' pages under the
		// entry bound alone took most of the server's memory (issue 14).
		list := cache.NewMemoryWithLimits(cfg.CacheTTL, cache.DefaultMaxEntries, cfg.CacheMemoryMaxBytes)
		return cacheOut{
			Cache:   m.CountCache(list, "memory"),
			Limiter: cache.NewMemoryLimiter(),
			Check:   httpadapter.Check{Name: "cache", Ping: alwaysUp{}},
		}, nil
	}
}

// limiterProbeEvery spaces the rate limiter's probes of an unreachable
// Redis: limits are shared again within about this long of its return.
const limiterProbeEvery = time.Second

// clusterWatchEvery spaces the probe's reads of a cluster's
// configuration epoch: a failover is noticed within about this long.
const clusterWatchEvery = 250 * time.Millisecond

// newRedisClient is a single-node or, with REDIS_CLUSTER, a cluster client.
func newRedisClient(cfg *config.Config) (redis.UniversalClient, error) {
	if cfg.RedisCluster {
		return cache.NewRedisClusterClient(cfg.RedisURL)
	}
	return cache.NewRedisClient(cfg.RedisURL)
}

// redisPinger is /ready's check: the cache's own Ping, unguarded by the
// breaker; on a cluster it asks every master.
type redisPinger struct{ c *cache.Redis }

func (p redisPinger) Ping(ctx context.Context) error { return p.c.Ping(ctx) }

type alwaysUp struct{}

func (alwaysUp) Ping(context.Context) error { return nil }

// redisLog is go-redis's logger, writing to slog at warn level.
type redisLog struct {
	log   *slog.Logger
	quiet *atomic.Bool // set: say nothing
}

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l.quiet != nil && l.quiet.Load() {
		return
	}
	l.log.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
