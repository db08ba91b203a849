package cache

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// throwawayRedis is a redis-server of the test's own, without persistence,
// that the test may restart: the shared one must never be stopped.
type throwawayRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startThrowawayRedis(t *testing.T) *throwawayRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found (CI=true, so this fails): %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &throwawayRedis{t: t, port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *throwawayRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *throwawayRedis) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", fmt.Sprint(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.t.TempDir(), "--logfile", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port)})
	defer func() { _ = c.Close() }()
	waitFor(s.t, fmt.Sprintf("redis-server on port %d to answer", s.port), 5*time.Second,
		func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (s *throwawayRedis) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *throwawayRedis) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// A Redis without persistence comes back from a restart with every
// counter at 0. The near cache still holds entries stored under the old
// generations; when a counter climbs back to one of them, those entries
// must not pass for current.
func TestRedis_ARestartedRedisRevivesNoNearCopy(t *testing.T) {
	t.Parallel()
	srv := startThrowawayRedis(t)
	client, err := NewRedisClient(srv.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(client, "taskflow-test", time.Minute, testBreaker())
	ctx := t.Context()

	invalidate3 := func() {
		t.Helper()
		for range 3 {
			if err := r.Invalidate(ctx, 1, tasks); err != nil {
				t.Fatal(err)
			}
		}
	}
	invalidate3()
	_, before, err := lookup(ctx, r, 1, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Set(ctx, 1, tasks, before, "k", []byte("before the restart")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := lookup(ctx, r, 1, "k"); err != nil || string(v) != "before the restart" {
		t.Fatalf("lookup before the restart = %q, %v", v, err)
	}

	srv.restart()
	// The pool's connections died with the server: the first command
	// after the restart may fail once.
	waitFor(t, "the client to reconnect", 5*time.Second, func() bool { return client.Ping(ctx).Err() == nil })
	invalidate3() // the counter is back at 3, where it was

	v, after, err := lookup(ctx, r, 1, "k")
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatalf("generation after the restart = %#x, the same as before it", after)
	}
	if v != nil {
		t.Fatalf("lookup after the restart served %q, stored before it", v)
	}
}
