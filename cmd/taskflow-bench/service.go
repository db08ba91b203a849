package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/config"
)

// repoRoot finds the module root (the directory whose go.mod declares the
// TaskFlow module) from the working directory upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/taskflow/taskflow\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the TaskFlow repository (no go.mod of github.com/taskflow/taskflow above the working directory)")
		}
		dir = parent
	}
}

// buildService compiles the real binary, exactly as a user would, with an
// optional overlay (used to add a pprof listener for -profile).
func buildService(ctx context.Context, root, out, overlay string) error {
	args := []string{"build", "-o", out}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	args = append(args, "./cmd/taskflow")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/taskflow: %w\n%s", err, stderr.String())
	}
	return nil
}

// isConfigKey reports whether an environment variable configures the
// service: those are removed from the inherited environment, so that only
// what the benchmark sets applies.
func isConfigKey(k string) bool {
	return k == "CONFIG_FILE" || slices.Contains(config.Keys(), k)
}

// benchEnv is what the benchmark sets on top of the service's defaults.
// The rate limiters are off: the benchmark measures capacity, from one
// client address and a handful of organizations, which per-address and
// per-organization limits exist to refuse. (-service-env puts them back.)
var benchEnv = []string{
	"LOG_LEVEL=warn",
	"RATE_LIMIT_AUTH_PER_MINUTE=0",
	"RATE_LIMIT_ORG_PER_MINUTE=0",
	// The webhooks scenario's receiver listens on loopback.
	"WEBHOOK_ALLOW_PRIVATE=true",
}

// service is a running child process of the real binary.
type service struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	logPath string
	exited  chan struct{}
	waitErr error
}

type serviceConfig struct {
	binary, workDir   string
	databaseURL       string
	backend, redisURL string
	secretKey         string
	bcryptCost        int
	pprofAddr         string // "" unless -profile
	extraEnv          []string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startService starts the binary on a free loopback port and waits until
// GET /ready answers 200 (database, and Redis when configured, reachable).
// It runs in workDir, so that no .env of the repository leaks in.
func startService(ctx context.Context, sc serviceConfig, name string) (*service, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(os.Environ())+16)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !isConfigKey(k) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HTTP_ADDR=127.0.0.1:"+fmt.Sprint(port),
		"DATABASE_URL="+sc.databaseURL,
		"CACHE_BACKEND="+sc.backend,
		"REDIS_URL="+sc.redisURL,
		"SECRET_KEY="+sc.secretKey,
		"BCRYPT_COST="+fmt.Sprint(sc.bcryptCost),
		// No admin listener: its default port would be one for every
		// service started at once (-service-env can set one).
		"ADMIN_ADDR=",
	)
	env = append(env, benchEnv...)
	if sc.pprofAddr != "" {
		env = append(env, pprofEnv+"="+sc.pprofAddr)
	}
	env = append(env, sc.extraEnv...)
	logPath := filepath.Join(sc.workDir, "server-"+name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(sc.binary)
	cmd.Dir = sc.workDir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If the benchmark dies, the server must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", sc.binary, err)
	}
	s := &service{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("the server exited during start-up (%w); its log:\n%s", s.waitErr, tail(logPath, 30))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		resp, err := client.Get(s.base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the server was not ready after 60s; its log:\n%s", tail(logPath, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// alive returns an error, with the end of the server log, if the server
// has exited.
func (s *service) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("the server exited (%w); its log:\n%s", s.waitErr, tail(s.logPath, 30))
	default:
		return nil
	}
}

// stop sends SIGTERM (graceful shutdown) and kills after 20 s.
func (s *service) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// randomSecret returns n random bytes, base64url-encoded (a SECRET_KEY).
func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// createDatabase makes a fresh database next to the one adminURL names
// and returns its URL and a function that drops it.
func createDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("database url: %w", err)
	}
	admin, err := sql.Open("postgres", adminURL)
	if err != nil {
		return "", nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := admin.PingContext(pctx); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("postgres at %s: %w", redact(adminURL), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "taskflow_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "warning: could not drop database %s: %v\n", name, err)
		}
		admin.Close()
	}
	return u.String(), drop, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// redisReachable pings the Redis the service would use.
func redisReachable(ctx context.Context, rawURL string) error {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return c.Ping(pctx).Err()
}
