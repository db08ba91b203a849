package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// redisReply is an error reply from Redis, as go-redis returns it.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

var _ redis.Error = redisReply("")

func TestRetryable_waitsForAbsenceNotForRefusal(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", syscall.ECONNREFUSED, true},
		{"postgres starting up (57P03)", &pq.Error{Code: "57P03"}, true},
		{"too many connections (53300)", &pq.Error{Code: "53300"}, true},
		{"connection failure (08006)", &pq.Error{Code: "08006"}, true},
		{"wrong password (28P01)", &pq.Error{Code: "28P01"}, false},
		{"no such database (3D000)", &pq.Error{Code: "3D000"}, false},
		{"redis loading", redisReply("LOADING Redis is loading the dataset in memory"), true},
		{"redis wrong password", redisReply("WRONGPASS invalid username-password pair"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("%s: retryable = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWaitFor_backsOffLogsEachWaitAndGivesUp: 100 ms doubling, one line
// per wait, and after the timeout an error naming the setting, the
// timeout and the last cause.
func TestWaitFor_backsOffLogsEachWaitAndGivesUp(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	dep := dependency{What: "database", Setting: "DATABASE_URL", URL: "postgres://u:xxxxx@db/x"}
	attempts := 0
	began := time.Now()
	err := waitFor(context.Background(), log, dep, 700*time.Millisecond, func(context.Context) error {
		attempts++
		return syscall.ECONNREFUSED
	})
	took := time.Since(began)
	var se *startupError
	if !errors.As(err, &se) || se.Refused {
		t.Fatalf("err = %v, want a startupError for the timeout", err)
	}
	if want := "DATABASE_URL (postgres://u:xxxxx@db/x): database did not answer within STARTUP_TIMEOUT 700ms: connection refused"; err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	// 100 ms, 200 ms, then what is left of the 700: one line per wait,
	// one attempt more than waits.
	waits := strings.Count(logged.String(), "waiting for database")
	if waits < 2 || attempts != waits+1 || took < 700*time.Millisecond ||
		!strings.Contains(logged.String(), "attempt=1 err=\"connection refused\" retry_in=100ms") ||
		!strings.Contains(logged.String(), "attempt=2 err=\"connection refused\" retry_in=200ms") {
		t.Errorf("%d attempts, %d wait lines in %s; log:\n%s", attempts, waits, took, logged.String())
	}

	attempts = 0
	err = waitFor(context.Background(), log, dep, time.Minute, func(context.Context) error {
		attempts++
		return &pq.Error{Code: "28P01", Message: "password authentication failed"}
	})
	if !errors.As(err, &se) || !se.Refused || attempts != 1 || !strings.Contains(err.Error(), "database refused the connection") {
		t.Errorf("a wrong password: %d attempts, err %v; want one attempt and a refusal", attempts, err)
	}
}
