// Command taskflow runs the TaskFlow API server and its migrations.
//
//	taskflow [serve]                 run the API (the default)
//	taskflow migrate up|down|status  run database migrations by hand
//
// Configuration comes from the environment, a .env file and an optional
// config file (--config); see the README for every key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/taskflow/taskflow/bootstrap"
	"github.com/taskflow/taskflow/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `TaskFlow: a multi-tenant task-management API.

Usage:
  taskflow [flags] [serve]                 run the API server (default)
  taskflow [flags] migrate up|down|status  apply, roll back one, or list migrations
  taskflow healthcheck                     exit 0 if the local server answers /health
  taskflow version                         print the version

Flags:
  --config FILE   read settings from FILE (.yaml, .json or .toml); also CONFIG_FILE
  -h, --help      show this help

Settings come from, lowest precedence first: defaults, the config file, a .env
file in the working directory, the environment. The main ones:
  DATABASE_URL   unset: the embedded SQLite store, DATA_DIR/taskflow.db (./data);
                 or sqlite:path/to/file.db, or postgres://user@host:5432/db
  HTTP_ADDR      listen address (default :8000)
  ADMIN_ADDR     /metrics and /debug/pprof/ listener (default 127.0.0.1:9090;
                 empty: off); never the public HTTP_ADDR
  SECRET_KEY     JWT signing key, at least 32 bytes (required when APP_ENV=production)
  CACHE_BACKEND  memory (default) or redis, with REDIS_URL
  STARTUP_TIMEOUT  how long start-up waits for the database and Redis (60s)
  SHUTDOWN_DRAIN   how long a stopping server keeps serving with /ready at 503
                 (5s with APP_ENV=production, else 0s)
See README.md for the full table.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "taskflow:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("taskflow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	configFile := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	rest := fs.Args()
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "healthcheck":
		return healthcheck()
	case "serve", "migrate":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	switch {
	case cmd == "serve" && len(rest) > 0:
		return fmt.Errorf("serve takes no arguments, got %q", rest)
	case cmd == "migrate" && (len(rest) != 1 || (rest[0] != "up" && rest[0] != "down" && rest[0] != "status")):
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("migrate needs one of up, down, status")
	}
	cfg, err := config.Load(*configFile)
	if err != nil {
		return err
	}
	if cmd == "serve" {
		return bootstrap.Run(cfg, version)
	}
	return bootstrap.Migrate(context.Background(), cfg, rest[0], stdout)
}

// healthcheck probes the server on this host, for container health checks
// where no curl exists (the image holds the binary alone).
func healthcheck() error {
	addr := os.Getenv("HTTP_ADDR")
	if addr == "" {
		addr = ":8000"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 2 * time.Second}
	// The address is the service's own HTTP_ADDR, from its configuration.
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/health") //nolint:gosec // G704: our own listener
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health answered %d", resp.StatusCode)
	}
	return nil
}
