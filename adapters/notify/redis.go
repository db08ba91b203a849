package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.Notifier    = (*Redis)(nil)
	_ ports.StreamSlots = (*RedisSlots)(nil)
)

// Redis is the Notifier of replicas that share a Redis: Publish is a
// PUBLISH on one channel per installation, Listen one subscription.
type Redis struct {
	c       redis.UniversalClient
	channel string
	log     *slog.Logger
}

// NewRedis publishes and subscribes on "<prefix>:events" (the prefix
// names the installation, as the cache's keys do).
func NewRedis(c redis.UniversalClient, prefix string, log *slog.Logger) *Redis {
	return &Redis{c: c, channel: prefix + ":events", log: log}
}

// Publish sends "<org>:<last>".
func (r *Redis) Publish(ctx context.Context, org domain.OrgID, last int64) error {
	if err := r.c.Publish(ctx, r.channel, payload(org, last)).Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// Listen subscribes until ctx ends. go-redis subscribes again after a
// lost connection; each confirmation after the first is reported as
// fn(0, 0), since what was published meanwhile is lost.
func (r *Redis) Listen(ctx context.Context, fn func(domain.OrgID, int64)) error {
	ps := r.c.Subscribe(ctx)
	defer ps.Close()
	// A blocked receive does not watch ctx: closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, r.channel); err != nil && ctx.Err() != nil {
		return nil
	}
	subscribed, down := false, false
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 15*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet, or a dead connection: a ping tells which, and a
				// failed one makes the next receive reconnect.
				_ = ps.Ping(ctx)
				continue
			}
			if !down {
				r.log.Warn("event notifications: redis subscription lost", "err", err.Error())
				down = true
			}
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if subscribed {
					r.log.Info("event notifications: redis subscription back")
					fn(0, 0)
				}
				subscribed, down = true, false
			}
		case *redis.Message:
			if org, last, ok := parsePayload(m.Payload); ok {
				fn(org, last)
			}
		}
	}
	return nil
}

// RedisSlots keeps each organization's stream leases in a sorted set
// (holder -> lease end, by the Redis server's clock), shared by every
// replica.
type RedisSlots struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedisSlots keeps its sets under "<prefix>:streams:<org>".
func NewRedisSlots(c redis.UniversalClient, prefix string) *RedisSlots {
	return &RedisSlots{c: c, prefix: prefix}
}

func (s *RedisSlots) key(org domain.OrgID) string {
	return s.prefix + ":streams:" + strconv.FormatInt(int64(org), 10)
}

// acquire drops the expired leases, then adds holder's unless limit live
// ones are held by others. Times are the server's, in milliseconds.
var acquire = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

var renew = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

// Acquire takes a slot unless limit live leases are held.
func (s *RedisSlots) Acquire(ctx context.Context, org domain.OrgID, holder string, limit int, ttl time.Duration) (bool, error) {
	n, err := acquire.Run(ctx, s.c, []string{s.key(org)}, holder, limit, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("stream slots: acquire: %w", err)
	}
	return n == 1, nil
}

// Renew extends holder's lease.
func (s *RedisSlots) Renew(ctx context.Context, org domain.OrgID, holder string, ttl time.Duration) error {
	if err := renew.Run(ctx, s.c, []string{s.key(org)}, holder, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("stream slots: renew: %w", err)
	}
	return nil
}

// Release frees holder's slot.
func (s *RedisSlots) Release(ctx context.Context, org domain.OrgID, holder string) error {
	if err := s.c.ZRem(ctx, s.key(org), holder).Err(); err != nil {
		return fmt.Errorf("stream slots: release: %w", err)
	}
	return nil
}
