package main_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

// binary builds the real taskflow binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "taskflow")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// process is a running binary with its combined output.
type process struct {
	cmd *exec.Cmd
	out *output
}

// output is a binary's combined output, safe to read while the binary
// writes it (exec copies its pipes from goroutines of its own).
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func start(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	return startIn(t, bin, t.TempDir(), env, args...) // no stray .env from the repository
}

// startIn starts the binary in the working directory dir.
func startIn(t *testing.T, bin, dir string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return p
}

func waitHealthy(t *testing.T, p *process, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server did not become healthy; output:\n%s", p.out.String())
}

func call(t *testing.T, method, u, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// walkThrough does the README's walk-through to a created task, and
// returns the task.
func walkThrough(t *testing.T, base string) map[string]any {
	t.Helper()
	st, org := call(t, "POST", base+"/organizations", "", map[string]any{"name": "Acme Corp"})
	if st != 201 {
		t.Fatalf("create org: %d %v", st, org)
	}
	st, user := call(t, "POST", base+"/signup", "", map[string]any{"email": "admin@acme.com", "password": "secure123", "invite_code": org["admin_invite_code"]})
	if st != 201 || user["role"] != "ADMIN" {
		t.Fatalf("signup: %d %v", st, user)
	}
	st, tok := call(t, "POST", base+"/login", "", map[string]any{"email": "admin@acme.com", "password": "secure123"})
	if st != 200 {
		t.Fatalf("login: %d %v", st, tok)
	}
	token, _ := tok["access_token"].(string)
	st, task := call(t, "POST", base+"/tasks", token, map[string]any{"title": "Launch product", "status": "CREATED"})
	if st != 201 || task["title"] != "Launch product" {
		t.Fatalf("create task: %d %v", st, task)
	}
	return task
}

// login logs the walk-through's ADMIN in and returns the access token.
func login(t *testing.T, base string) string {
	t.Helper()
	st, tok := call(t, "POST", base+"/login", "", map[string]any{"email": "admin@acme.com", "password": "secure123"})
	token, _ := tok["access_token"].(string)
	if st != 200 || token == "" {
		t.Fatalf("login: %d %v", st, tok)
	}
	return token
}

// stop sends SIGTERM and waits for a clean exit.
func stop(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
}

// waitExit waits up to 20 s for p, signalled, to exit with status 0.
func waitExit(t *testing.T, p *process) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; output:\n%s", err, p.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("did not exit after SIGTERM; output:\n%s", p.out.String())
	}
}

// TestBinary_EmbeddedDefaultSurvivesRestart is the README's zero-setup
// promise: the binary, started with nothing configured in an empty
// directory, serves the whole API on an embedded SQLite file, and what it
// stored is there after a restart. Only the listen address (a free port)
// and the cheapest bcrypt cost are set. SECRET_KEY is random per start in
// development, so the second run logs in again.
func TestBinary_EmbeddedDefaultSurvivesRestart(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	// ADMIN_ADDR empty: the default port is shared by every test binary.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "HTTP_ADDR=127.0.0.1:" + port, "BCRYPT_COST=10", "ADMIN_ADDR="}
	run := func(which string) *process {
		t.Helper()
		began := time.Now()
		p := startIn(t, bin, dir, env)
		waitHealthy(t, p, base)
		t.Logf("%s start on the embedded store: %v from exec to /health 200", which, time.Since(began).Round(time.Millisecond))
		return p
	}

	p := run("first")
	if !strings.Contains(p.out.String(), `"msg":"store: sqlite"`) {
		t.Fatalf("the log does not show the SQLite store:\n%s", p.out.String())
	}
	if st, ready := call(t, "GET", base+"/ready", "", nil); st != 200 {
		t.Fatalf("/ready = %d %v", st, ready)
	}
	resp, err := http.Get(base + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/docs = %d", resp.StatusCode)
	}
	task := walkThrough(t, base)
	stop(t, p)
	if _, err := os.Stat(filepath.Join(dir, "data", "taskflow.db")); err != nil {
		t.Fatalf("the data file is not in ./data: %v", err)
	}

	p = run("second")
	token := login(t, base)
	id := fmt.Sprint(task["id"])
	st, got := call(t, "GET", base+"/tasks/"+id, token, nil)
	if st != 200 || got["title"] != task["title"] || got["created_at"] != task["created_at"] || got["version"] != task["version"] {
		t.Fatalf("after a restart GET /tasks/%s = %d %v, want %v", id, st, got, task)
	}
	stop(t, p)

	status := exec.Command(bin, "migrate", "status")
	status.Env, status.Dir = env, dir
	out, err := status.CombinedOutput()
	if err != nil || strings.Contains(string(out), "pending") || !strings.Contains(string(out), "applied") {
		t.Fatalf("migrate status on the embedded store: %v\n%s", err, out)
	}
}

// baseEnv is the environment of a test's binary. ADMIN_ADDR is empty (no
// admin listener) unless the test sets a free port: the default,
// 127.0.0.1:9090, is one port for every instance running at once.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "BCRYPT_COST=10", "LOG_FORMAT=json", "ADMIN_ADDR="}
	return append(env, extra...)
}

// TestBinary_ServesTheWalkThroughAndDrainsOnSIGTERM starts the real binary,
// walks the README example, scrapes its metrics on the admin listener,
// then checks that SIGTERM during a request lets that request finish and
// the process exit cleanly.
func TestBinary_ServesTheWalkThroughAndDrainsOnSIGTERM(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	bin := binary(t)
	port, adminPort := freePort(t), freePort(t)
	base := "http://127.0.0.1:" + port
	p := start(t, bin, baseEnv("DATABASE_URL="+dbURL, "HTTP_ADDR=127.0.0.1:"+port, "SHUTDOWN_TIMEOUT=10s",
		"ADMIN_ADDR=127.0.0.1:"+adminPort))
	waitHealthy(t, p, base)
	task := walkThrough(t, base)
	checkWalkThroughMetrics(t, base, "http://127.0.0.1:"+adminPort, fmt.Sprint(task["id"]))
	if st, _ := call(t, "GET", base+"/metrics", "", nil); st != http.StatusNotFound {
		t.Errorf("the public listener answers /metrics with %d, want 404", st)
	}
	// The local superuser is not bound by row-level security: the service
	// runs, and says loudly that the second wall is down.
	if !strings.Contains(p.out.String(), `"level":"ERROR","msg":"row-level security is NOT in force`) {
		t.Fatalf("no row-level security error for a superuser connection in the log:\n%s", p.out.String())
	}

	// The container health check uses the binary itself.
	hc := exec.Command(bin, "healthcheck")
	hc.Env = baseEnv("HTTP_ADDR=:" + port)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck: %v\n%s", err, out)
	}

	// A login is slow (bcrypt): start one, then SIGTERM while it runs.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/login", "application/json", strings.NewReader(`{"email":"admin@acme.com","password":"secure123"}`))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(20 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := <-done; st != 200 {
		t.Fatalf("in-flight login during shutdown answered %d, want 200; output:\n%s", st, p.out.String())
	}
	waitExit(t, p)
	if !strings.Contains(p.out.String(), `"msg":"shutting down"`) {
		t.Fatalf("no shutdown line in the log:\n%s", p.out.String())
	}
}

func TestBinary_MigrateCommands(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	bin := binary(t)
	run := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = baseEnv("DATABASE_URL=" + dbURL)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("taskflow %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("migrate", "status"); !strings.Contains(out, "pending") && !strings.Contains(strings.ToLower(out), "pending") {
		t.Fatalf("status before up should list pending migrations:\n%s", out)
	}
	run("migrate", "up")
	out := run("migrate", "status")
	if strings.Contains(strings.ToLower(out), "pending") {
		t.Fatalf("status after up still lists pending migrations:\n%s", out)
	}
	run("migrate", "down")
	if out := run("migrate", "status"); !strings.Contains(strings.ToLower(out), "pending") {
		t.Fatalf("status after down should list one pending migration:\n%s", out)
	}
}

// TestBinary_MigrateStatusNamesTheDatabase: migrate status says which
// database it read, so that a status taken from the wrong environment is
// seen as such, and never prints the password of its URL.
func TestBinary_MigrateStatusNamesTheDatabase(t *testing.T) {
	bin := binary(t)
	status := func(t *testing.T, env ...string) string {
		t.Helper()
		cmd := exec.Command(bin, "migrate", "status")
		cmd.Env = baseEnv(env...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("taskflow migrate status: %v\n%s", err, out)
		}
		return string(out)
	}
	t.Run("postgres", func(t *testing.T) {
		u, err := url.Parse(pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		// A URL without a password gets one, which a server that trusts
		// local connections ignores: the output must mask it either way.
		pw, ok := u.User.Password()
		if !ok {
			pw = "pw-" + strings.Repeat("z", 12)
			u.User = url.UserPassword(u.User.Username(), pw)
		}
		out := status(t, "DATABASE_URL="+u.String())
		masked := *u
		masked.User = url.UserPassword(u.User.Username(), "xxxxx")
		if !strings.Contains(out, "database: postgres "+masked.String()) || strings.Contains(out, pw) {
			t.Fatalf("status should name %s with the password masked:\n%s", masked.String(), out)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		out := status(t, "DATA_DIR="+dir)
		if !strings.Contains(out, "database: sqlite "+dir+string(filepath.Separator)) {
			t.Fatalf("status should name the SQLite file in %s:\n%s", dir, out)
		}
	})
}

func TestBinary_HelpAndBadUsage(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "taskflow [flags] migrate up|down|status") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "frobnicate").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: err=%v\n%s", err, out)
	}
	out, err = exec.Command(bin, "migrate", "sideways").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "migrate needs one of up, down, status") {
		t.Fatalf("bad migrate: err=%v\n%s", err, out)
	}
}

// TestBinary_ProductionRefusesWeakSecretKey: production with a missing,
// short or placeholder SECRET_KEY must not start.
func TestBinary_ProductionRefusesWeakSecretKey(t *testing.T) {
	bin := binary(t)
	for name, key := range map[string]string{
		"missing":     "",
		"short":       "short-key",
		"placeholder": "your-secret-key-here-change-me-please-now",
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Env = baseEnv("APP_ENV=production", "SECRET_KEY="+key, "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "HTTP_ADDR=127.0.0.1:0")
			cmd.Dir = t.TempDir()
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("the service started in production with a weak SECRET_KEY")
			}
			if err == nil || !strings.Contains(string(out), "SECRET_KEY") {
				t.Fatalf("want a refusal naming SECRET_KEY, got err=%v\n%s", err, out)
			}
		})
	}
}

// TestCompose_AppEnvironmentStartsTheBinary starts the binary with exactly
// the environment docker-compose.yml gives the app service (the defaults
// of its ${VAR:-default} references), with the compose service host names
// pointed at this machine's Postgres and Redis, once per cache backend.
// The compose roles (the owner for MIGRATION_DATABASE_URL, the
// application role for DATABASE_URL) become a test database's own pair
// of such roles, made by pgtest.NewAppDatabase; the init script that
// creates the application role in the container is run too, and undone.
func TestCompose_AppEnvironmentStartsTheBinary(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Restart string   `yaml:"restart"`
			Ports   []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	app, ok := compose.Services["app"]
	if !ok || len(app.Environment) == 0 {
		t.Fatal("docker-compose.yml has no app service with an environment")
	}
	for _, svc := range []string{"postgres", "redis", "app"} {
		if len(compose.Services[svc].Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", svc)
		}
	}
	// Start-up order: the Postgres check must ask over TCP (the image's
	// temporary init server answers on the Unix socket only), the app
	// waits for healthy dependencies, and comes back if it gives up.
	if pgCheck := strings.Join(compose.Services["postgres"].Healthcheck.Test, " "); !regexp.MustCompile(`pg_isready .*-h (127\.0\.0\.1|localhost)\b`).MatchString(pgCheck) {
		t.Errorf("the postgres health check %q does not ask over TCP (pg_isready -h 127.0.0.1)", pgCheck)
	}
	for _, dep := range []string{"postgres", "redis"} {
		if c := app.DependsOn[dep].Condition; c != "service_healthy" {
			t.Errorf("app depends_on %s with condition %q, want service_healthy", dep, c)
		}
	}
	if app.Restart != "unless-stopped" {
		t.Errorf("app restart policy %q, want unless-stopped", app.Restart)
	}
	// The admin port (metrics, pprof) is published on the host's loopback
	// only.
	_, adminPort, _ := net.SplitHostPort(app.Environment["ADMIN_ADDR"])
	published := false
	for _, p := range app.Ports {
		if strings.HasSuffix(p, ":"+adminPort) {
			published = true
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("the admin port is published as %q, want on 127.0.0.1 only", p)
			}
		}
	}
	if adminPort == "" || !published {
		t.Errorf("app ADMIN_ADDR %q, ports %q: want the admin port set and published on 127.0.0.1", app.Environment["ADMIN_ADDR"], app.Ports)
	}
	checkComposeRoles(t, compose.Services["postgres"].Environment, compose.Services["postgres"].Volumes, app.Environment)
	bin := binary(t)
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			appURL, ownerURL := pgtest.NewAppDatabase(t)
			requireRedis(t)
			port, adminPort := freePort(t), freePort(t)
			env := baseEnv()
			for k, v := range app.Environment {
				v = substitute(v, map[string]string{"CACHE_BACKEND": backend})
				switch k {
				case "DATABASE_URL":
					v = retarget(t, v, appURL)
				case "MIGRATION_DATABASE_URL":
					v = retarget(t, v, ownerURL)
				case "REDIS_URL":
					v = strings.Replace(v, "redis:6379", "127.0.0.1:6379", 1)
				case "HTTP_ADDR":
					v = "127.0.0.1:" + port // the container's :8000, on a free port here
				case "ADMIN_ADDR":
					v = "127.0.0.1:" + adminPort // the container's :9090 likewise
				}
				env = append(env, k+"="+v)
			}
			p := start(t, bin, env)
			base := "http://127.0.0.1:" + port
			waitHealthy(t, p, base)
			st, ready := call(t, "GET", base+"/ready", "", nil)
			if st != 200 {
				t.Fatalf("/ready = %d %v", st, ready)
			}
			checks, _ := ready["checks"].(map[string]any)
			if backend == "redis" && checks["redis"] != "ok" {
				t.Fatalf("the redis backend was not selected: %v", ready)
			}
			task := walkThrough(t, base)
			checkWalkThroughMetrics(t, base, "http://127.0.0.1:"+adminPort, fmt.Sprint(task["id"]))
			if !strings.Contains(p.out.String(), `"msg":"list cache: `+backend+`"`) {
				t.Fatalf("log does not show the %s cache:\n%s", backend, p.out.String())
			}
			if !strings.Contains(p.out.String(), `"msg":"row-level security in force"`) {
				t.Fatalf("log does not show row-level security in force:\n%s", p.out.String())
			}
		})
	}
}

// checkComposeRoles checks the compose file's two roles: the app connects
// as the role docker/postgres-init.sql creates, which that script makes a
// member of taskflow_app and neither superuser nor BYPASSRLS, and migrates
// as the owner, POSTGRES_USER. The script runs on the test server inside
// a transaction that is rolled back, so it leaves no role behind.
func checkComposeRoles(t *testing.T, postgresEnv map[string]string, postgresVolumes []string, appEnv map[string]string) {
	t.Helper()
	user := func(key string) string {
		u, err := url.Parse(appEnv[key])
		if err != nil || u.User == nil {
			t.Fatalf("compose %s %q names no user", key, appEnv[key])
		}
		return u.User.Username()
	}
	appRole, owner := user("DATABASE_URL"), user("MIGRATION_DATABASE_URL")
	if owner != postgresEnv["POSTGRES_USER"] || appRole == owner {
		t.Fatalf("compose: app connects as %q and migrates as %q; want migrations as POSTGRES_USER %q and the app as another role",
			appRole, owner, postgresEnv["POSTGRES_USER"])
	}
	const initScript = "docker/postgres-init.sql"
	mounted := false
	for _, v := range postgresVolumes {
		mounted = mounted || strings.HasPrefix(v, "./"+initScript+":/docker-entrypoint-initdb.d/")
	}
	if !mounted {
		t.Fatalf("compose: %s is not mounted into /docker-entrypoint-initdb.d: %v", initScript, postgresVolumes)
	}
	script, err := os.ReadFile("../../" + initScript)
	if err != nil {
		t.Fatal(err)
	}
	pgtest.NewAppDatabase(t) // makes sure taskflow_app exists, as the script expects it may
	db, err := sql.Open("postgres", pgtest.Require(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(string(script)); err != nil {
		t.Fatalf("%s: %v", initScript, err)
	}
	var super, bypass, member bool
	err = tx.QueryRow(`SELECT rolsuper, rolbypassrls, pg_has_role(rolname, 'taskflow_app', 'USAGE')
		FROM pg_roles WHERE rolname = $1`, appRole).Scan(&super, &bypass, &member)
	if err != nil {
		t.Fatalf("%s does not create the app's role %q: %v", initScript, appRole, err)
	}
	if super || bypass || !member {
		t.Fatalf("role %q from %s: superuser=%v bypassrls=%v member of taskflow_app=%v", appRole, initScript, super, bypass, member)
	}
}

var ref = regexp.MustCompile(`\$\{([A-Z_]+)(:-([^}]*))?\}`)

// substitute expands ${VAR:-default} as compose does, from over or else
// the default.
func substitute(v string, over map[string]string) string {
	return ref.ReplaceAllStringFunc(v, func(m string) string {
		g := ref.FindStringSubmatch(m)
		if o, ok := over[g[1]]; ok {
			return o
		}
		return g[3]
	})
}

// retarget keeps the compose URL's scheme and options but points it at the
// test's own database.
func retarget(t *testing.T, composeURL, testURL string) string {
	c, err := url.Parse(composeURL)
	if err != nil {
		t.Fatalf("compose DATABASE_URL: %v", err)
	}
	u, _ := url.Parse(testURL)
	if c.Scheme != "postgres" && c.Scheme != "postgresql" {
		t.Fatalf("compose DATABASE_URL scheme %q", c.Scheme)
	}
	u.RawQuery = c.RawQuery
	return u.String()
}

func requireRedis(t *testing.T) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err == nil {
		defer conn.Close()
		fmt.Fprint(conn, "PING\r\n")
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if strings.HasPrefix(line, "+PONG") {
			return
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Redis at 127.0.0.1:6379 does not answer: %v", err)
	}
	t.Skip("Redis at 127.0.0.1:6379 does not answer")
}

// checkWalkThroughMetrics asks base for the walk-through's task without a
// token (401), scrapes admin's /metrics and checks that each family of the
// contract is there, and that the task is counted under the route
// template, never its id.
func checkWalkThroughMetrics(t *testing.T, base, admin, taskID string) {
	t.Helper()
	if st, _ := call(t, "GET", base+"/tasks/"+taskID, "", nil); st != http.StatusUnauthorized {
		t.Fatalf("GET /tasks/%s without a token = %d, want 401", taskID, st)
	}
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape the admin listener: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics = %d", admin, resp.StatusCode)
	}
	for _, want := range []string{
		`http_server_request_duration_seconds_count{method="POST",route="/tasks",status_code="201"}`,
		`http_server_request_duration_seconds_count{method="GET",route="/tasks/{id}",status_code="401"}`,
		`http_server_active_requests `,
		`taskflow_cache_requests_total{backend=`,
		`taskflow_db_connections{state="open"}`,
		`taskflow_db_connections{state="in_use"}`,
		`taskflow_db_connections{state="idle"}`,
		`taskflow_db_wait_duration_seconds_total `,
		`taskflow_db_wait_count_total `,
		`taskflow_bcrypt_queue_length `,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if regexp.MustCompile(`route="[^"]*/` + regexp.QuoteMeta(taskID) + `\b`).MatchString(body) {
		t.Errorf("/metrics has a route label with the task id %s", taskID)
	}
	resp, err = http.Get(admin + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/debug/pprof/ = %d", admin, resp.StatusCode)
	}
}
