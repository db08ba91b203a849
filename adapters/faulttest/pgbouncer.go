package faulttest

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PgBouncer is a PgBouncer of the test's own in front of a Postgres
// server, in transaction pooling (pool_mode = transaction): a server
// connection belongs to a client for one transaction only, then serves
// the next client. It listens on 127.0.0.1 at a free port and runs as a
// child process of the test (as the postgres user when the test runs as
// root: PgBouncer refuses to run as root).
//
// Every database of the upstream server is reachable under its own name
// (a "*" entry). Clients are let in without a password (auth_type =
// trust) under any login role the server knows: PgBouncer looks the role
// up with its default auth_query (pg_shadow) as the upstream URL's user, a
// superuser, and logs in to the server
// as that role, which the server's own authentication then judges. The
// shared test server trusts loopback connections, so the roles pgtest
// makes per test work without their passwords being copied anywhere.
type PgBouncer struct {
	Port     int
	PoolSize int // default_pool_size: server connections per database and role
	cmd      *exec.Cmd
	done     chan struct{}
	mu       sync.Mutex
	log      bytes.Buffer
}

// StartPgBouncer starts PgBouncer in transaction pooling in front of the
// server of the URL upstream (host, port and user are used), with two
// server connections per database and role, so that concurrent clients
// share them. It waits until PgBouncer answers, and kills it by its PID
// when the test ends.
func StartPgBouncer(t testing.TB, upstream string) *PgBouncer {
	t.Helper()
	return StartPgBouncerPool(t, upstream, 2)
}

// StartPgBouncerPool is StartPgBouncer with poolSize server connections
// per database and role.
func StartPgBouncerPool(t testing.TB, upstream string, poolSize int) *PgBouncer {
	t.Helper()
	bin := needPgBouncer(t)
	up, err := url.Parse(upstream)
	if err != nil || up.Hostname() == "" {
		t.Fatalf("faulttest: pgbouncer upstream %q is not a URL with a host: %v", upstream, err)
	}
	upPort := up.Port()
	if upPort == "" {
		upPort = "5432"
	}
	authUser := "postgres"
	if up.User != nil && up.User.Username() != "" {
		authUser = up.User.Username()
	}

	dir, err := os.MkdirTemp("", "taskflow-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	b := &PgBouncer{Port: FreePort(t), PoolSize: poolSize, done: make(chan struct{})}
	ini := strings.Join([]string{
		"[databases]",
		"* = host=" + up.Hostname() + " port=" + upPort,
		"",
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		"listen_port = " + strconv.Itoa(b.Port),
		"unix_socket_dir =",
		"pool_mode = transaction",
		"default_pool_size = " + strconv.Itoa(poolSize),
		"max_client_conn = 1000",
		"auth_type = trust",
		"auth_file = " + filepath.Join(dir, "userlist.txt"),
		"auth_user = " + authUser,
		// lib/pq sends extra_float_digits at start-up, which PgBouncer
		// does not track.
		"ignore_startup_parameters = extra_float_digits",
		"server_check_delay = 0",
		"",
	}, "\n")
	files := map[string]string{
		"pgbouncer.ini": ini,
		// The auth_query's own login; the server trusts it.
		"userlist.txt": fmt.Sprintf("%q %q\n", authUser, ""),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b.cmd = exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	b.cmd.Stdout, b.cmd.Stderr = (*lockedWriter)(b), (*lockedWriter)(b)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user to run pgbouncer as: %v", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.kill)
	WaitFor(t, fmt.Sprintf("pgbouncer on port %d to answer", b.Port), 30*time.Second, func() bool {
		select {
		case <-b.done:
			t.Fatalf("pgbouncer exited at start: %s", b.Log())
		default:
		}
		return b.answers(authUser)
	})
	return b
}

// needPgBouncer finds the pgbouncer binary: on PATH, or where the Debian
// package puts it (/usr/sbin, which a non-root PATH may lack).
func needPgBouncer(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("pgbouncer"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	return need(t, "pgbouncer")
}

// URL is raw (a postgres:// URL of the upstream server) pointed at the
// PgBouncer instead: same user, password, database and parameters.
func (b *PgBouncer) URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(b.Port)
	return u.String()
}

// Log is what PgBouncer has written so far.
func (b *PgBouncer) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// lockedWriter collects the child's output.
type lockedWriter PgBouncer

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(p)
}

// answers reports whether a query through PgBouncer succeeds within a
// second.
func (b *PgBouncer) answers(user string) bool {
	db, err := sql.Open("postgres", fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=1",
		url.PathEscape(user), b.Port))
	if err != nil {
		return false
	}
	defer db.Close()
	var one int
	return db.QueryRow("SELECT 1").Scan(&one) == nil
}

// kill kills PgBouncer by its PID with SIGKILL and waits until it has
// gone. Its server connections end with it.
func (b *PgBouncer) kill() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
	}
}
