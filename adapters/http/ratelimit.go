package http

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// RateLimits are requests per minute; 0 turns a limit off.
type RateLimits struct {
	// Auth bounds login, sign-up, token refresh and organization creation
	// per client IP, sign-up per email, and failed logins per email and
	// client IP (emailFailureFactor times that per email across all
	// addresses).
	Auth int
	// Org bounds all authenticated traffic of one organization.
	Org int
}

const rateWindow = time.Minute

// emailFailureFactor sets the per-email threshold of failed logins across
// all addresses against the per-(email, address) one. OWASP's
// authentication guidance: a strict count per account and address, and a
// much higher one per account, so that someone else's wrong passwords do
// not lock the owner out, while a guess spread over many addresses is
// still stopped.
const emailFailureFactor = 10

// limiter applies the rate limits at the edge. The counter store does not
// fail when Redis does (bootstrap puts a per-replica fallback in front of
// it); an error from it is a bug, and the request is refused with 503.
type limiter struct {
	rl      ports.RateLimiter
	limits  RateLimits
	log     *slog.Logger
	metrics Metrics // nil: not counted
}

// errRateLimited carries the decision so the error handler can tell the
// client when to come back.
type errRateLimited struct {
	d     ports.RateDecision
	scope string
}

func (e *errRateLimited) Error() string { return "rate limited: " + e.scope }

// errLimiterFailed answers a request the limiter could not decide on.
// Refusing is the safe side for a security control; 503 rather than 500
// because the client can do nothing but retry, and the cause is logged.
var errLimiterFailed = &domain.Error{Kind: domain.KindUnavailable, Code: "unavailable",
	Message: "the rate limiter is unavailable; try again"}

// check counts one request for key; a refusal is an *errRateLimited.
func (l *limiter) check(c *fiber.Ctx, scope, key string, limit int) error {
	if l == nil || l.rl == nil || limit <= 0 {
		return nil
	}
	d, err := l.rl.Allow(c.UserContext(), key, limit, rateWindow)
	if err != nil {
		return l.failed(c, scope, err)
	}
	l.describe(c, d)
	if !d.Allowed {
		return l.refuse(d, scope)
	}
	return nil
}

// checkUncounted refuses the request if key has used up limit, counting
// nothing; count does the counting once the outcome is known.
func (l *limiter) checkUncounted(c *fiber.Ctx, scope, key string, limit int) error {
	if l == nil || l.rl == nil || limit <= 0 {
		return nil
	}
	d, err := l.rl.Peek(c.UserContext(), key, limit, rateWindow)
	if err != nil {
		return l.failed(c, scope, err)
	}
	if !d.Allowed {
		l.describe(c, d)
		return l.refuse(d, scope)
	}
	return nil
}

// refuse is the refusal of a request by the limit named scope, counted.
func (l *limiter) refuse(d ports.RateDecision, scope string) error {
	if l.metrics != nil {
		l.metrics.RateLimited(limitLabel(scope))
	}
	return &errRateLimited{d: d, scope: scope}
}

// limitLabel is scope as a metric label: "login per IP" is login_per_ip.
// The scopes are the fixed strings of this file, so the labels are few.
func limitLabel(scope string) string {
	return strings.ReplaceAll(strings.ToLower(scope), " ", "_")
}

// count counts an outcome for key after the fact. The answer is already
// decided, so a count past the limit refuses nothing now; it refuses the
// next request, at its checkUncounted.
func (l *limiter) count(c *fiber.Ctx, scope, key string, limit int) {
	if l == nil || l.rl == nil || limit <= 0 {
		return
	}
	d, err := l.rl.Allow(c.UserContext(), key, limit, rateWindow)
	if err != nil {
		l.logFailure(c, scope, err)
		return
	}
	l.describe(c, d)
}

// describe sets the RateLimit header fields from d. A request may be
// counted against several limits (IP and email): the headers describe the
// tightest.
func (l *limiter) describe(c *fiber.Ctx, d ports.RateDecision) {
	if prev, ok := c.Locals(keyRate).(ports.RateDecision); !ok || d.Remaining < prev.Remaining {
		c.Locals(keyRate, d)
		setRateHeaders(c, d)
	}
}

func (l *limiter) failed(c *fiber.Ctx, scope string, err error) error {
	l.logFailure(c, scope, err)
	c.Set(fiber.HeaderRetryAfter, "1")
	return errLimiterFailed
}

func (l *limiter) logFailure(c *fiber.Ctx, scope string, err error) {
	l.log.LogAttrs(c.UserContext(), slog.LevelError, "rate limiter failed, refusing the request",
		slog.String("request_id", requestID(c)), slog.String("scope", scope), slog.Any("err", err))
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

// byEmail limits an action per email address, whichever IP it comes from.
func (l *limiter) byEmail(c *fiber.Ctx, action, email string) error {
	h := emailHash(email)
	if h == "" {
		return nil
	}
	return l.check(c, action+" per email", action+":email:"+h, l.limits.Auth)
}

// beforeLogin refuses a login for an email that has had too many failed
// attempts: Auth per minute from this client address, or
// emailFailureFactor times that from all addresses together. It counts
// nothing; loginFailed counts the failures. So the owner's correct
// password from another address still works while someone else guesses,
// unless the guessing passes the per-email threshold. (byIP still bounds
// every login request of one address.)
func (l *limiter) beforeLogin(c *fiber.Ctx, email string) error {
	h := emailHash(email)
	if h == "" {
		return nil
	}
	if err := l.checkUncounted(c, "login failures per email and IP", loginFailureKey(c, h), l.limits.Auth); err != nil {
		return err
	}
	return l.checkUncounted(c, "login failures per email", "login:fail:email:"+h, l.emailFailureLimit())
}

// loginFailed counts a failed login for email, from this address and
// across addresses.
func (l *limiter) loginFailed(c *fiber.Ctx, email string) {
	h := emailHash(email)
	if h == "" {
		return
	}
	l.count(c, "login failures per email and IP", loginFailureKey(c, h), l.limits.Auth)
	l.count(c, "login failures per email", "login:fail:email:"+h, l.emailFailureLimit())
}

func loginFailureKey(c *fiber.Ctx, h string) string { return "login:fail:email-ip:" + h + ":" + c.IP() }

func (l *limiter) emailFailureLimit() int { return emailFailureFactor * l.limits.Auth }

// emailHash stands for an email in rate-limit keys: a hash of the
// normalized address (trimmed, lower-cased, as sign-up stores it), so
// that the counters, which Redis shares and anyone with access to it can
// list, never hold an address. 128 bits keep distinct addresses apart;
// the fixed prefix keeps the hash from matching one made for another
// purpose. Empty for an empty email.
func emailHash(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("taskflow rate limit email\x00" + e))
	return hex.EncodeToString(sum[:16])
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
