package notify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/notify"
	"github.com/taskflow/taskflow/adapters/notify/notifytest"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMemory_Notifier(t *testing.T) {
	notifytest.Notifier(t, func(t *testing.T) (ports.Notifier, ports.Notifier) {
		m := notify.NewMemory()
		return m, m
	}, func(t *testing.T) ports.Notifier { return notify.NewMemory() })
}

func TestMemory_Slots(t *testing.T) {
	notifytest.Slots(t, func(t *testing.T) (ports.StreamSlots, ports.StreamSlots) {
		m := notify.NewMemorySlots()
		return m, m
	})
}

func TestPostgres_Notifier(t *testing.T) {
	newOn := func(t *testing.T, url string) ports.Notifier {
		db, err := sqlx.Open("postgres", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return notify.NewPostgres(db.DB, url, quiet)
	}
	notifytest.Notifier(t, func(t *testing.T) (ports.Notifier, ports.Notifier) {
		url := pgtest.NewDatabase(t)
		return newOn(t, url), newOn(t, url)
	}, func(t *testing.T) ports.Notifier { return newOn(t, pgtest.NewDatabase(t)) })
}

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s is unreachable: %v", u, err)
		}
		t.Skipf("redis at %s is unreachable: %v (set CI=true to fail instead of skipping)", u, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "taskflow-test:" + hex.EncodeToString(b[:])
}

func TestRedis_Notifier(t *testing.T) {
	notifytest.Notifier(t, func(t *testing.T) (ports.Notifier, ports.Notifier) {
		p := prefix()
		return notify.NewRedis(redisClient(t), p, quiet), notify.NewRedis(redisClient(t), p, quiet)
	}, func(t *testing.T) ports.Notifier { return notify.NewRedis(redisClient(t), prefix(), quiet) })
}

func TestRedis_Slots(t *testing.T) {
	notifytest.Slots(t, func(t *testing.T) (ports.StreamSlots, ports.StreamSlots) {
		p := prefix()
		return notify.NewRedisSlots(redisClient(t), p), notify.NewRedisSlots(redisClient(t), p)
	})
}

// afterRestart checks what a listener does across a restart of the
// backend it listens on: it reports the gap (a notification of
// organization 0, "look again"), and hears what is published once the
// backend is back.
func afterRestart(t *testing.T, pub, sub ports.Notifier, restart func()) {
	t.Helper()
	var mu sync.Mutex
	var heard []int64 // org*1000 + last
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sub.Listen(ctx, func(org domain.OrgID, last int64) {
			mu.Lock()
			heard = append(heard, int64(org)*1000+last)
			mu.Unlock()
		})
	}()
	defer func() { cancel(); <-done }()
	has := func(v int64) bool { mu.Lock(); defer mu.Unlock(); return slices.Contains(heard, v) }
	publishUntilHeard := func(org domain.OrgID, last int64) {
		faulttest.WaitFor(t, "a notification heard", 30*time.Second, func() bool {
			_ = pub.Publish(context.Background(), org, last)
			time.Sleep(20 * time.Millisecond)
			return has(int64(org)*1000 + last)
		})
	}
	publishUntilHeard(1, 1)
	restart()
	faulttest.WaitFor(t, "the listener reports the gap", 30*time.Second, func() bool { return has(0) })
	publishUntilHeard(2, 2)
}

func TestRedis_ListenerSurvivesARestart(t *testing.T) {
	r := faulttest.StartRedis(t)
	opt, _ := redis.ParseURL(r.URL())
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	n := notify.NewRedis(c, prefix(), quiet)
	afterRestart(t, n, n, func() { r.Kill(); r.Start() })
}

func TestPostgres_ListenerSurvivesARestart(t *testing.T) {
	p := faulttest.StartPostgres(t)
	db, err := sqlx.Open("postgres", p.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	n := notify.NewPostgres(db.DB, p.URL(), quiet)
	afterRestart(t, n, n, func() { p.Kill(); p.Start() })
}

// logBuffer is a log the test can read while the listener writes it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

// listenLogging runs n's Listen until the test ends and returns its log.
func listenLogging(t *testing.T, publishURL, listenURL string) *logBuffer {
	t.Helper()
	db, err := sqlx.Open("postgres", publishURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	out := &logBuffer{}
	n := notify.NewPostgres(db.DB, listenURL, slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Listen(ctx, func(domain.OrgID, int64) {})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// pooledURLs returns a new database's direct URL, its URL through a
// PgBouncer of the test's own in transaction pooling with one server
// connection (so that a LISTEN sent through it lands where the test's
// statements run), and that URL set up for publishing as postgres.Open
// sets it up: lib/pq's two-step statements (binary_parameters off) may
// lose their unnamed statement between the steps when the pooler hands
// the server connection on.
func pooledURLs(t *testing.T) (direct, pooled, publish string) {
	t.Helper()
	direct = pgtest.NewDatabase(t)
	pooled = faulttest.StartPgBouncerPool(t, pgtest.ServerURL(), 1).URL(direct)
	sep := "?"
	if strings.Contains(pooled, "?") {
		sep = "&"
	}
	return direct, pooled, pooled + sep + "binary_parameters=yes"
}

// Through a pooler the listener sends no LISTEN, and says what to set:
// the server connection it would land on serves every other client.
// Straight to Postgres it listens, hears its probe and says nothing.
func TestPostgres_ListenerSendsNoLISTENThroughAPooler(t *testing.T) {
	t.Parallel()
	url, viaPooler, publish := pooledURLs(t)
	direct := listenLogging(t, publish, url)
	pooled := listenLogging(t, publish, viaPooler)
	faulttest.WaitFor(t, "the direct listener to hear its probe", 15*time.Second, func() bool {
		return direct.contains("heard its probe")
	})
	faulttest.WaitFor(t, "the pooled listener to warn", 15*time.Second, func() bool {
		return pooled.contains("connection pooler") && pooled.contains("NOTIFY_DATABASE_URL")
	})
	if direct.contains("connection pooler") || direct.contains("does not hear NOTIFY") {
		t.Fatalf("the direct listener warns: %s", direct.buf.String())
	}
	if pooled.contains("heard its probe") {
		t.Fatalf("the pooled listener listens: %s", pooled.buf.String())
	}
	// The pooler's one server connection runs every statement sent
	// through it: had the listener sent LISTEN, it would be listening.
	db, err := sqlx.Open("postgres", publish)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var channels []string
	if err := db.Select(&channels, `SELECT pg_listening_channels()`); err != nil {
		t.Fatal(err)
	}
	if len(channels) != 0 {
		t.Fatalf("the pooler's server connection listens on %v", channels)
	}
}

// What a LISTEN through PgBouncer breaks: a notification that reaches a
// listening server connection while PgBouncer checks it (with
// server_check_query, here before every loan) ends the check early, and
// the next client reads the check's "SELECT 1" as its answer. With the
// listener started through the pooler and notifications sent straight to
// Postgres, every answer a client of the pooler gets must be its own.
// (Before the listener refused poolers, this failed within a second.)
func TestPostgres_AListenerStartedThroughPgBouncerLeavesItsOtherClientsAnswersAlone(t *testing.T) {
	t.Parallel()
	url, viaPooler, publish := pooledURLs(t)
	pooled := listenLogging(t, publish, viaPooler)
	faulttest.WaitFor(t, "the pooled listener to start", 15*time.Second, func() bool {
		return pooled.contains("connection pooler") || pooled.contains("probe")
	})
	directDB, err := sqlx.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = directDB.Close() }()
	pub := notify.NewPostgres(directDB.DB, url, quiet)
	db, err := sqlx.Open("postgres", publish)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	published := make(chan int, 1)
	go func() {
		n := 0
		for ; ctx.Err() == nil; n++ {
			_ = pub.Publish(ctx, 1, int64(n))
		}
		published <- n
	}()
	queries := 0
	for ; ctx.Err() == nil; queries++ {
		var answer []int
		if err := db.SelectContext(ctx, &answer, `SELECT 42 AS answer`); err != nil {
			if ctx.Err() != nil {
				break
			}
			t.Fatalf("query %d: %v", queries, err)
		}
		if len(answer) != 1 || answer[0] != 42 {
			t.Fatalf("query %d got %v, not its own answer", queries, answer)
		}
	}
	t.Logf("%d queries through the pooler, %d notifications sent", queries, <-published)
}
