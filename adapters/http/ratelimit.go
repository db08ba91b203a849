package http

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/ports"
)

// RateLimits are requests per minute; 0 turns a limit off.
type RateLimits struct {
	// Auth bounds login, sign-up, token refresh and organization creation,
	// per client IP and (where the request names one) per email.
	Auth int
	// Org bounds all authenticated traffic of one organization.
	Org int
}

const rateWindow = time.Minute

// limiter applies the rate limits at the edge. It fails open: when the
// counter store errors, the request goes through and the error is logged,
// since refusing every login because Redis blinked would be worse.
type limiter struct {
	rl     ports.RateLimiter
	limits RateLimits
	log    *slog.Logger
	// downTill (unix ns): after a counter store error, requests skip the
	// limiter for a moment, so an unreachable Redis costs one timeout and
	// one log line per cool-down, not one per request.
	downTill atomic.Int64
}

const limiterCoolDown = 2 * time.Second

// errRateLimited carries the decision so the error handler can tell the
// client when to come back.
type errRateLimited struct {
	d     ports.RateDecision
	scope string
}

func (e *errRateLimited) Error() string { return "rate limited: " + e.scope }

// check counts one request for key; a refusal is an *errRateLimited.
func (l *limiter) check(c *fiber.Ctx, scope, key string, limit int) error {
	if l == nil || l.rl == nil || limit <= 0 || time.Now().UnixNano() < l.downTill.Load() {
		return nil
	}
	d, err := l.rl.Allow(c.UserContext(), key, limit, rateWindow)
	if err != nil {
		l.downTill.Store(time.Now().Add(limiterCoolDown).UnixNano())
		l.log.LogAttrs(context.Background(), slog.LevelError, "rate limiter unavailable, allowing requests",
			slog.String("request_id", requestID(c)), slog.String("scope", scope), slog.Any("err", err),
			slog.Duration("retry_in", limiterCoolDown))
		return nil
	}
	// A request may be counted against several limits (IP and email):
	// the headers describe the tightest.
	if prev, ok := c.Locals(keyRate).(ports.RateDecision); !ok || d.Remaining < prev.Remaining {
		c.Locals(keyRate, d)
		setRateHeaders(c, d)
	}
	if !d.Allowed {
		return &errRateLimited{d: d, scope: scope}
	}
	return nil
}

// setRateHeaders writes the RateLimit header fields (IETF draft) so a
// well-behaved client can slow down before it is refused.
func setRateHeaders(c *fiber.Ctx, d ports.RateDecision) {
	c.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	c.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	c.Set("RateLimit-Reset", strconv.Itoa(seconds(d.Reset)))
}

func seconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// byIP limits an unauthenticated action per client address. Behind a
// proxy every client shares the proxy's address; see README.
func (l *limiter) byIP(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := l.check(c, action+" per IP", action+":ip:"+c.IP(), l.limits.Auth); err != nil {
			return err
		}
		return c.Next()
	}
}

// byEmail limits an action per email address, whichever IP it comes from:
// it stops a distributed guess at one account's password.
func (l *limiter) byEmail(c *fiber.Ctx, action, email string) error {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return nil
	}
	return l.check(c, action+" per email", action+":email:"+e, l.limits.Auth)
}

// byOrg limits an organization's authenticated traffic; it runs after
// authentication has named the organization.
func (l *limiter) byOrg(c *fiber.Ctx) error {
	if l.limits.Org > 0 { // the key is not built for nothing
		if err := l.check(c, "organization", "org:"+strconv.FormatInt(int64(actorOf(c).OrgID), 10), l.limits.Org); err != nil {
			return err
		}
	}
	return c.Next()
}

// rateLimitedProblem is the 429 answer for e.
func rateLimitedProblem(c *fiber.Ctx, e *errRateLimited) problem {
	retry := seconds(e.d.Reset)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retry))
	return problem{Status: fiber.StatusTooManyRequests, Code: "rate_limited",
		Detail: "too many requests (" + e.scope + "); retry in " + strconv.Itoa(retry) + " s"}
}
