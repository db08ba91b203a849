package faulttest

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // the driver Answers pings with
)

// Postgres is a PostgreSQL server of the test's own: a cluster made by
// initdb in a temporary directory, trust authentication, listening on
// 127.0.0.1 at a free port. As root the server runs as the postgres user
// (it refuses to run as root).
type Postgres struct {
	t    testing.TB
	Port int
	dir  string
	// asUser prefixes commands when the server must run as another user.
	asUser []string
}

// StartPostgres makes a new cluster, starts it and waits until it answers.
// It takes a second or two.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	need(t, "initdb")
	need(t, "pg_ctl")
	base, err := os.MkdirTemp("", "taskflow-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Postgres{t: t, Port: FreePort(t), dir: filepath.Join(base, "data")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		p.Kill()
		_ = os.RemoveAll(base)
	})
	p.run("initdb", "-D", p.dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	p.Start()
	return p
}

func (p *Postgres) run(name string, args ...string) {
	p.t.Helper()
	argv := append(append(append([]string(nil), p.asUser...), name), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// URL is the URL of the cluster's postgres database, as the superuser.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// Start starts the server (again, after Stop or Kill) and waits until it
// accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=100", p.Port, p.dir)
	p.run("pg_ctl", "-D", p.dir, "-o", opts, "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "30", "start")
	WaitFor(p.t, fmt.Sprintf("postgres on port %d to answer", p.Port), 30*time.Second, p.Answers)
}

// Stop shuts the server down as an operator would (pg_ctl stop -m fast):
// open sessions are ended, new connections refused.
func (p *Postgres) Stop() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.dir, "-m", "fast", "-w", "-t", "30", "stop")
}

// Kill kills the postmaster by its PID with SIGKILL, if it runs, and waits
// until it has gone. Its backends die with it once they notice.
func (p *Postgres) Kill() {
	pid := p.pid()
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
		time.Sleep(10 * time.Millisecond)
	}
	_ = os.Remove(filepath.Join(p.dir, "postmaster.pid"))
}

// pid reads the postmaster's PID, or 0 when it is not running.
func (p *Postgres) pid() int {
	b, err := os.ReadFile(filepath.Join(p.dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// Answers reports whether the server accepts a connection and a query
// within a second.
func (p *Postgres) Answers() bool {
	db, err := sql.Open("postgres", p.URL()+"&connect_timeout=1")
	if err != nil {
		return false
	}
	defer db.Close()
	var one int
	return db.QueryRow("SELECT 1").Scan(&one) == nil
}
