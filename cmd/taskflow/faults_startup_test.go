package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

// drainLog collects the binary's output line by line, safe to read while
// the binary writes.
type drainLog struct {
	mu    sync.Mutex
	part  []byte
	lines []string
}

func (l *drainLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
}

// waits returns the "waiting for <what>" log lines so far, decoded.
func (l *drainLog) waits(what string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range l.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "waiting for "+what {
			out = append(out, m)
		}
	}
	return out
}

// drainStartLogged starts the binary as start does, its output also
// going, line by line, to the returned log.
func drainStartLogged(t *testing.T, bin string, env []string) (*process, *drainLog) {
	t.Helper()
	log := &drainLog{}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = env, t.TempDir()
	out := &output{}
	cmd.Stdout = io.MultiWriter(out, log)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &process{cmd: cmd, out: out}, log
}

// drainProxy starts forwarding 127.0.0.1:port to target: the dependency
// "appears" on the port the binary was told about.
func drainProxy(t *testing.T, port int, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
}

// drainDependencies are what start-up waits for: the setting that names
// it, the environment that points it at a port, and the real server a
// proxy on that port forwards to once it "appears".
type drainDependency struct {
	setting string
	env     func(t *testing.T, port int) []string
	target  string
}

var drainDependencies = map[string]drainDependency{
	"database": {"DATABASE_URL", func(t *testing.T, port int) []string {
		u, err := url.Parse(pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Host = fmt.Sprintf("127.0.0.1:%d", port)
		return []string{"DATABASE_URL=" + u.String()}
	}, "127.0.0.1:5432"},
	"Redis": {"REDIS_URL", func(t *testing.T, port int) []string {
		requireRedis(t)
		return []string{"CACHE_BACKEND=redis", fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d/0", port)}
	}, "127.0.0.1:6379"},
}

// TestStartup_WaitsForADependencyThatAppearsLater: the binary starts while
// nothing listens where DATABASE_URL (or REDIS_URL) points, logs one line
// per wait, and serves once the dependency appears, with no restart.
func TestStartup_WaitsForADependencyThatAppearsLater(t *testing.T) {
	bin := binary(t)
	for what, dep := range drainDependencies {
		t.Run(what, func(t *testing.T) {
			depPort, port := faulttest.FreePort(t), faulttest.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			p, log := drainStartLogged(t, bin, baseEnv(append(dep.env(t, depPort),
				fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "STARTUP_TIMEOUT=60s")...))
			// Two waits logged, so the backoff has really begun, then the
			// dependency appears.
			faulttest.WaitFor(t, "two wait lines", 20*time.Second, func() bool { return len(log.waits(what)) >= 2 })
			drainProxy(t, depPort, dep.target)
			waitHealthy(t, p, base)
			if st, ready := call(t, "GET", base+"/ready", "", nil); st != 200 {
				t.Fatalf("/ready = %d %v", st, ready)
			}
			walkThrough(t, base)
			waits := log.waits(what)
			for i, w := range waits {
				if w["setting"] != dep.setting || w["attempt"] != float64(i+1) || !strings.Contains(fmt.Sprint(w["err"]), "connection refused") ||
					w["retry_in"] == nil || !strings.Contains(fmt.Sprint(w["url"]), fmt.Sprint(depPort)) {
					t.Errorf("wait line %d: %v", i+1, w)
				}
			}
			if delays := []string{"100ms", "200ms"}; waits[0]["retry_in"] != delays[0] || waits[1]["retry_in"] != delays[1] {
				t.Errorf("the first waits are %v and %v, want 100ms doubling", waits[0]["retry_in"], waits[1]["retry_in"])
			}
			t.Logf("%s: %d wait lines, then healthy on the same process", what, len(waits))
			stop(t, p)
		})
	}
}

// TestStartup_GivesUpWithOneLineNamingTheSetting: with no database ever,
// the binary exits non-zero after STARTUP_TIMEOUT, and says why in one
// line naming DATABASE_URL, the URL without its password and the cause;
// fx's "could not build arguments" chain is nowhere.
func TestStartup_GivesUpWithOneLineNamingTheSetting(t *testing.T) {
	bin := binary(t)
	dbPort := faulttest.FreePort(t)
	p, log := drainStartLogged(t, bin, baseEnv(fmt.Sprintf("DATABASE_URL=postgres://taskflow:hunter2@127.0.0.1:%d/x?sslmode=disable", dbPort),
		"HTTP_ADDR=127.0.0.1:0", "STARTUP_TIMEOUT=1s"))
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after a STARTUP_TIMEOUT of 1s:\n%s", p.out.String())
	}
	out := p.out.String()
	if err == nil {
		t.Fatalf("exited 0 without its database:\n%s", out)
	}
	var plain []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			plain = append(plain, line)
		}
	}
	want := fmt.Sprintf("taskflow: DATABASE_URL (postgres://taskflow:xxxxx@127.0.0.1:%d/x?sslmode=disable): database did not answer within STARTUP_TIMEOUT 1s: ", dbPort)
	if len(plain) != 1 || !strings.HasPrefix(plain[0], want) || !strings.Contains(plain[0], "connection refused") {
		t.Errorf("want one line starting %q and naming the cause, got %q", want, plain)
	}
	for _, bad := range []string{"could not build arguments", "hunter2", "received non-nil error"} {
		if strings.Contains(out, bad) {
			t.Errorf("the output shows %q:\n%s", bad, out)
		}
	}
	if n := len(log.waits("database")); n < 3 {
		t.Errorf("%d wait lines in 1s, want one per retry (100, 200, 400 ms...):\n%s", n, out)
	}
	t.Logf("%d wait lines, then %q", len(log.waits("database")), plain)
}

// TestStartup_WithoutRedisAfterTheTimeoutServesOnTheDatabase: Redis is a
// cache, so a Redis that never answers does not keep the service down:
// after STARTUP_TIMEOUT one ERROR line names REDIS_URL and the cause, and
// the service serves, /ready naming redis as failing.
func TestStartup_WithoutRedisAfterTheTimeoutServesOnTheDatabase(t *testing.T) {
	bin := binary(t)
	port := faulttest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, log := drainStartLogged(t, bin, baseEnv("CACHE_BACKEND=redis", fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d/0", faulttest.FreePort(t)),
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "STARTUP_TIMEOUT=1s"))
	waitHealthy(t, p, base)
	walkThrough(t, base)
	st, ready := call(t, "GET", base+"/ready", "", nil)
	if checks, _ := ready["checks"].(map[string]any); st != 503 || checks["redis"] != "unavailable" || checks["database"] != "ok" {
		t.Errorf("/ready = %d %v, want 503 with redis unavailable and the database ok", st, ready)
	}
	log.mu.Lock()
	var errs []string
	for _, line := range log.lines {
		// The requests' own errors (the cache and the limiter falling
		// back) are not start-up's; its line is the one naming REDIS_URL.
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "REDIS_URL") {
			errs = append(errs, line)
		}
	}
	log.mu.Unlock()
	if len(errs) != 1 || !strings.Contains(errs[0], `"msg":"starting without Redis: REDIS_URL (redis://127.0.0.1:`) ||
		!strings.Contains(errs[0], "Redis did not answer within STARTUP_TIMEOUT 1s") || !strings.Contains(errs[0], "connection refused") {
		t.Errorf("want one ERROR line naming REDIS_URL, the timeout and the cause, got %q", errs)
	}
	if strings.Contains(p.out.String(), "could not build arguments") {
		t.Errorf("fx's chain is in the log:\n%s", p.out.String())
	}
	if n := len(log.waits("Redis")); n < 3 {
		t.Errorf("%d wait lines in 1s, want one per retry:\n%s", n, p.out.String())
	}
	stop(t, p)
}

// TestStartup_AWrongRoleFailsAtOnce: a database that answers "no such
// role" will not say yes after a wait; start-up says so at once instead
// of retrying for STARTUP_TIMEOUT.
func TestStartup_AWrongRoleFailsAtOnce(t *testing.T) {
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("taskflow_no_such_role", "hunter2")
	cmd := exec.Command(binary(t))
	cmd.Env = baseEnv("DATABASE_URL="+u.String(), "HTTP_ADDR=127.0.0.1:0", "STARTUP_TIMEOUT=60s")
	cmd.Dir = t.TempDir()
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	if err == nil || took > 20*time.Second {
		t.Fatalf("exit %v after %s, want a failure well before STARTUP_TIMEOUT:\n%s", err, took, out)
	}
	last := strings.TrimSpace(string(out))
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.HasPrefix(last, "taskflow: DATABASE_URL (") || !strings.Contains(last, "database refused the connection") ||
		!strings.Contains(last, "taskflow_no_such_role") || strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "waiting for") {
		t.Fatalf("want one line naming DATABASE_URL and the refusal, no wait, no password; got:\n%s", out)
	}
	t.Logf("after %s: %s", took.Round(time.Millisecond), last)
}
