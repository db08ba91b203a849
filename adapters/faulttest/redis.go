package faulttest

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server of the test's own, without persistence.
type Redis struct {
	t    testing.TB
	Port int
	dir  string
	cmd  *exec.Cmd
	// cluster starts it with cluster-enabled, its bus on busPort and its
	// node table in dir (see StartRedisCluster).
	cluster bool
	busPort int
}

// StartRedis starts a redis-server on a free port and waits until it
// answers.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	need(t, "redis-server")
	r := &Redis{t: t, Port: FreePort(t), dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Kill)
	return r
}

// URL is the redis:// URL of the server's database 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Addr is host:port.
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

// Start starts the server (again, after Kill: empty, as a Redis without
// persistence comes back) and waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	args := []string{"--port", itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", ""}
	if r.cluster {
		// The node table stays in dir: restarted, the node rejoins its
		// cluster with its own id (and, without persistence, no keys).
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", itoa(r.busPort), "--cluster-node-timeout", itoa(int(ClusterNodeTimeout.Milliseconds())))
	}
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	WaitFor(r.t, fmt.Sprintf("redis-server on port %d to answer", r.Port), 10*time.Second, r.Answers)
}

// Answers reports whether the server answers PING within 200 ms.
func (r *Redis) Answers() bool {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer func() { _ = c.Close() }()
	return c.Ping(context.Background()).Err() == nil
}

// Kill kills the server with SIGKILL and waits for it to be gone.
func (r *Redis) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a frozen process must be able to die
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Freeze stops the process with SIGSTOP: connections stay open and keys
// are kept, but nothing answers, as in a network partition.
func (r *Redis) Freeze() { r.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server with SIGCONT.
func (r *Redis) Thaw() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(s syscall.Signal) {
	r.t.Helper()
	if r.cmd == nil || r.cmd.Process == nil {
		r.t.Fatalf("redis-server on port %d is not running", r.Port)
	}
	if err := r.cmd.Process.Signal(s); err != nil {
		r.t.Fatalf("signal redis-server: %v", err)
	}
}
