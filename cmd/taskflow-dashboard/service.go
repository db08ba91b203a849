package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/taskflow/taskflow/config"
)

// repoRoot finds the module root from the working directory upwards.
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
			return "", errors.New("run from inside the TaskFlow repository")
		}
		dir = parent
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// service is the real binary, started on free loopback ports with its
// admin listener on.
type service struct {
	cmd       *exec.Cmd
	base      string // http://127.0.0.1:port, the public listener
	adminBase string // the admin listener (/metrics)
	log       *bytes.Buffer
	exited    chan struct{}
	waitErr   error
}

type serviceConfig struct {
	root, workDir string
	databaseURL   string // "" for SQLite in workDir
	backend       string // memory or redis
	redisURL      string
	extraEnv      []string
}

// startService builds ./cmd/taskflow into workDir, starts it and waits
// until GET /ready answers 200.
func startService(ctx context.Context, sc serviceConfig) (*service, error) {
	bin := filepath.Join(sc.workDir, "taskflow")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/taskflow")
	build.Dir = sc.root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/taskflow: %w\n%s", err, out)
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "CONFIG_FILE" && !slices.Contains(config.Keys(), k) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HTTP_ADDR="+httpAddr,
		"ADMIN_ADDR="+adminAddr,
		"DATABASE_URL="+sc.databaseURL,
		"DATA_DIR="+filepath.Join(sc.workDir, "data"),
		"CACHE_BACKEND="+sc.backend,
		"REDIS_URL="+sc.redisURL,
		"SECRET_KEY="+base64.RawURLEncoding.EncodeToString(secret),
		"LOG_LEVEL=warn",
	)
	env = append(env, sc.extraEnv...)
	s := &service{
		base: "http://" + httpAddr, adminBase: "http://" + adminAddr,
		log: &bytes.Buffer{}, exited: make(chan struct{}),
	}
	s.cmd = exec.Command(bin)
	s.cmd.Dir = sc.workDir
	s.cmd.Env = env
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("the service exited during start-up (%w):\n%s", s.waitErr, s.log)
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
			return nil, fmt.Errorf("the service was not ready after 60s:\n%s", s.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and kills after 20 s.
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
