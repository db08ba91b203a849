package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/dig"
)

// Start-up retries a dependency that does not answer yet (compose starts
// the containers together; a database may be restarting) with this
// backoff, for up to STARTUP_TIMEOUT.
const (
	firstRetryDelay = 100 * time.Millisecond
	maxRetryDelay   = 2 * time.Second
	// maxAttemptTime bounds one connection attempt, so that a host that
	// drops packets costs a retry, not the whole STARTUP_TIMEOUT.
	maxAttemptTime = 5 * time.Second
)

// dependency names what start-up waits for, as an operator set it up.
type dependency struct {
	What    string // "database", "Redis"
	Setting string // the configuration key: DATABASE_URL, REDIS_URL
	URL     string // redacted
}

// startupError says that a dependency could not be reached at start-up:
// either it did not answer within STARTUP_TIMEOUT, or it answered with an
// error no wait will mend (a wrong password, a missing database). Its
// message is the one line the binary prints before it exits.
type startupError struct {
	Dependency dependency
	// Refused: the dependency answered with an error that waiting will
	// not mend; otherwise it did not answer within Timeout.
	Refused bool
	Timeout time.Duration // STARTUP_TIMEOUT
	Err     error
}

func (e *startupError) Error() string {
	d := e.Dependency
	if e.Refused {
		return fmt.Sprintf("%s (%s): %s refused the connection: %v", d.Setting, d.URL, d.What, e.Err)
	}
	timeout := e.Timeout.String()
	if e.Timeout%time.Second == 0 {
		timeout = fmt.Sprintf("%ds", e.Timeout/time.Second) // 60s, as it is usually written, not 1m0s
	}
	return fmt.Sprintf("%s (%s): %s did not answer within STARTUP_TIMEOUT %s: %v", d.Setting, d.URL, d.What, timeout, e.Err)
}

func (e *startupError) Unwrap() error { return e.Err }

// waitFor calls try until it succeeds, fails with an error that waiting
// will not mend, or timeout is spent; between attempts it sleeps, 100 ms
// doubling to 2 s, and logs one line per wait.
func waitFor(ctx context.Context, log *slog.Logger, dep dependency, timeout time.Duration, try func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	delay := firstRetryDelay
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, min(maxAttemptTime, max(time.Until(deadline), time.Second)))
		err := try(attemptCtx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info(dep.What+" answered", "dependency", dep.What, "setting", dep.Setting, "url", dep.URL, "attempts", attempt)
			}
			return nil
		}
		if !retryable(err) {
			return &startupError{Dependency: dep, Refused: true, Timeout: timeout, Err: err}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &startupError{Dependency: dep, Timeout: timeout, Err: err}
		}
		wait := min(delay, left)
		log.Warn("waiting for "+dep.What, "dependency", dep.What, "setting", dep.Setting, "url", dep.URL,
			"attempt", attempt, "err", err.Error(), "retry_in", wait.Round(time.Millisecond).String())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return &startupError{Dependency: dep, Timeout: timeout, Err: err}
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// retryable tells a dependency that is not there yet (refused, unknown
// host, timed out, starting up, too many connections) from one that
// answered "no": a wrong password or a missing database stays wrong, and
// waiting a minute to say so helps no one.
func retryable(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention (starting up)
			return true
		}
		return false
	}
	var redisErr redis.Error
	if errors.As(err, &redisErr) {
		// A reply from Redis itself: only LOADING (the dataset is being
		// read at start) and BUSY pass with time; NOAUTH, WRONGPASS do not.
		msg := redisErr.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "BUSY") || strings.HasPrefix(msg, "TRYAGAIN")
	}
	return true
}

// startError turns an error from building or starting the fx app into the
// one line an operator needs: a dependency that did not answer names its
// setting and the cause; any other constructor's error is shown as it
// returned it, without fx's "could not build arguments for function ..."
// chain around it.
func startError(err error) error {
	var se *startupError
	if errors.As(err, &se) {
		return se
	}
	if root := dig.RootCause(err); root != nil && !errors.Is(root, err) {
		return fmt.Errorf("start: %w", root)
	}
	return fmt.Errorf("start: %w", err)
}
