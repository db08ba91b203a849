package bootstrap_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/http/apidoc/specvalidate"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
	"github.com/taskflow/taskflow/bootstrap"
	"github.com/taskflow/taskflow/config"
)

// The end-to-end suite talks to real servers over real sockets: each
// server is a full fx app (Postgres, the chosen cache, the HTTP adapter)
// bound to 127.0.0.1:0, and every response it gives is checked against the
// OpenAPI document that server itself serves.

// testConfig is the configuration of a test server on a fresh database:
// databaseURL, or with "" the embedded SQLite store in a new data
// directory. A database from newDatabase is migrated by its owner and
// served as the application role, as in production.
func testConfig(t testing.TB, backend, databaseURL string) *config.Config {
	t.Helper()
	cfg := &config.Config{
		Env:             config.EnvTest,
		HTTPAddr:        "127.0.0.1:0",
		DatabaseURL:     databaseURL,
		DataDir:         t.TempDir(),
		SecretKey:       randomHex(32),
		CacheBackend:    cacheBackend(backend),
		CacheTTL:        60 * time.Second,
		JWTTTL:          30 * time.Minute,
		BcryptCost:      10, // the floor: keeps sign-ups and logins fast
		LogLevel:        "error",
		LogFormat:       "json",
		BodyLimit:       1 << 20,
		RequestTimeout:  10 * time.Second,
		ShutdownTimeout: 5 * time.Second,
		InviteTTL:       168 * time.Hour,
		RefreshTTL:      720 * time.Hour,
		DBMaxOpenConns:  10,
		MigrateOnStart:  true,
		EventRetention:  720 * time.Hour,
	}
	cfg.MigrationDatabaseURL = ownerURL(databaseURL)
	if direct, ok := directs.Load(databaseURL); ok {
		cfg.NotifyDatabaseURL = direct.(string)
	}
	switch backend {
	case "redis":
		cfg.RedisURL = requireRedis(t)
	case "redis-cluster":
		// A cluster of the test's own: three masters on free ports.
		cfg.RedisURL = faulttest.StartRedisCluster(t, 3).URL()
		cfg.RedisCluster = true
	}
	return cfg
}

// cacheBackend is CACHE_BACKEND for a test backend: "redis-cluster" is
// Redis with REDIS_CLUSTER=true.
func cacheBackend(backend string) string {
	if backend == "redis-cluster" {
		return "redis"
	}
	return backend
}

// requireRedis returns TEST_REDIS_URL (default the local server) when it
// answers; otherwise it fails under CI=true and skips elsewhere.
func requireRedis(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err == nil {
		c := redis.NewClient(opt)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		_ = c.Close()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis at %s is unreachable: %v", u, err)
		}
		t.Skipf("redis at %s is unreachable: %v (set CI=true to fail instead of skipping)", u, err)
	}
	return u
}

// api is a running server seen from a client: its base URL and the
// validator built from the document it serves.
type api struct {
	base   string
	cfg    *config.Config
	spec   *specvalidate.Validator
	client *http.Client
}

// startServer starts a full application for cfg, stops it when the test
// ends, and loads its OpenAPI document. extra reach into the graph (an
// fx.Populate of the admin server, say). The admin listener is off unless
// cfg sets ADMIN_ADDR (testConfig does not): test servers never compete
// for a fixed port.
func startServer(t testing.TB, cfg *config.Config, extra ...fx.Option) *api {
	t.Helper()
	var srv *bootstrap.Server
	app := bootstrap.New(cfg, "e2e-test", append([]fx.Option{fx.Populate(&srv)}, extra...)...)
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start app: %v", err)
	}
	a := &api{
		base: "http://" + srv.Addr(),
		cfg:  cfg,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 32},
			// Redirects are part of what is under test, never followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	t.Cleanup(func() {
		// The client may hold a connection it dialed for a request that
		// then went out on another one: the server has read nothing on it
		// yet, so its graceful shutdown waits for it (until
		// SHUTDOWN_TIMEOUT) rather than closing it as idle.
		a.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop app: %v", err)
		}
	})
	resp, err := a.client.Get(a.base + "/openapi.json")
	if err != nil {
		t.Fatalf("GET /openapi.json: %v", err)
	}
	spec, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d, err %v", resp.StatusCode, err)
	}
	if a.spec, err = specvalidate.New(spec); err != nil {
		t.Fatalf("the served OpenAPI document does not load: %v", err)
	}
	return a
}

// eachConfiguration runs fn, in parallel subtests, against one server per
// configuration the service supports: Postgres with each cache backend
// ("memory", "redis", and "redis-cluster": three masters the test starts),
// the embedded default ("sqlite", with the memory cache: what an empty
// environment gets), and Postgres behind PgBouncer in transaction pooling
// ("pgbouncer", memory cache, so the live feed's LISTEN/NOTIFY is in play
// too). Each server has a
// database of its own.
func eachConfiguration(t *testing.T, fn func(t *testing.T, a *api)) {
	for _, c := range []struct {
		name, backend string
		database      func(*testing.T) string
	}{
		{"memory", "memory", newDatabase},
		{"redis", "redis", newDatabase},
		{"redis-cluster", "redis-cluster", newDatabase},
		{"sqlite", "memory", func(*testing.T) string { return "" }},
		{"pgbouncer", "memory", newDatabaseThroughPgBouncer},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fn(t, startServer(t, testConfig(t, c.backend, c.database(t))))
		})
	}
}

// reply is one answer from the server.
type reply struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r reply) String() string {
	return fmt.Sprintf("%s %s -> %d %s", r.method, r.path, r.status, truncate(string(r.body), 400))
}

// into decodes the body into v, failing the test if it does not decode.
func (r reply) into(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s: body does not decode into %T: %v", r, v, err)
	}
}

func (r reply) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.into(t, &m)
	return m
}

func (r reply) problem(t testing.TB) problem {
	t.Helper()
	var p problem
	r.into(t, &p)
	return p
}

type problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      string            `json:"code"`
	RequestID string            `json:"request_id"`
	Errors    []fieldProblem    `json:"errors"`
	Checks    map[string]string `json:"checks"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p problem) fields() []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

type task struct {
	ID             int64      `json:"id"`
	OrganizationID int64      `json:"organization_id"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Status         string     `json:"status"`
	AssigneeID     *int64     `json:"assignee_id"`
	Priority       string     `json:"priority"`
	DueAt          *time.Time `json:"due_at"`
	Labels         []string   `json:"labels"`
	CompletedAt    *time.Time `json:"completed_at"`
	CreatedBy      int64      `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	Version        int64      `json:"version"`
}

type userOut struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Role           string    `json:"role"`
	OrganizationID int64     `json:"organization_id"`
	CreatedAt      time.Time `json:"created_at"`
}

// form is a request body sent as application/x-www-form-urlencoded.
type form string

// rawBody is a request body sent exactly as given, with its content type.
type rawBody struct {
	contentType string
	data        []byte
}

// exchange sends one request and checks the answer against the contract's
// general rules and the OpenAPI document. It returns the reply and the
// list of violations rather than failing, so that it can run off the test
// goroutine. body: nil (none), string (JSON text as is), form, rawBody, or
// any value to marshal as JSON. headers: name, value pairs.
func (a *api) exchange(method, path, token string, body any, headers ...string) (reply, []string, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case form:
		rd, ctype = strings.NewReader(string(b)), "application/x-www-form-urlencoded"
	case rawBody:
		rd, ctype = bytes.NewReader(b.data), b.contentType
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return reply{}, nil, err
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return reply{}, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return reply{}, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return reply{}, nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	r := reply{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: data}
	violations := checkGeneral(r, token != "")
	// The validator matches the operation from the request; it needs the
	// URL only, the body has been sent.
	vreq, _ := http.NewRequest(method, a.base+path, nil)
	if err := a.spec.Response(vreq, r.status, r.header, r.body); err != nil {
		violations = append(violations, "does not match the OpenAPI document: "+err.Error())
	}
	return r, violations, nil
}

// checkGeneral applies the rules every response follows: X-Request-ID
// always; problem+json with the full shape on every error; the Bearer
// challenge on 401; no-store when the request carried a token.
func checkGeneral(r reply, authenticated bool) []string {
	var v []string
	rid := r.header.Get("X-Request-ID")
	if rid == "" {
		v = append(v, "no X-Request-ID header")
	}
	if r.status >= 400 {
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			v = append(v, fmt.Sprintf("error with Content-Type %q, want application/problem+json", ct))
		}
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			v = append(v, "error body is not a JSON object: "+err.Error())
		} else {
			for _, k := range []string{"type", "title", "detail", "code", "request_id"} {
				if s, ok := m[k].(string); !ok || s == "" {
					v = append(v, fmt.Sprintf("problem field %q missing or not a non-empty string", k))
				}
			}
			if st, ok := m["status"].(float64); !ok || int(st) != r.status {
				v = append(v, fmt.Sprintf("problem status %v, want %d", m["status"], r.status))
			}
			if id, _ := m["request_id"].(string); id != rid {
				v = append(v, fmt.Sprintf("problem request_id %q differs from X-Request-ID %q", id, rid))
			}
		}
	}
	if r.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		v = append(v, fmt.Sprintf("401 with WWW-Authenticate %q, want a Bearer challenge", r.header.Get("WWW-Authenticate")))
	}
	if authenticated && !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		v = append(v, fmt.Sprintf("authenticated answer with Cache-Control %q, want no-store", r.header.Get("Cache-Control")))
	}
	return v
}

// do is exchange for the test goroutine: a transport failure is fatal, a
// contract violation is an error.
func (a *api) do(t testing.TB, method, path, token string, body any, headers ...string) reply {
	t.Helper()
	r, violations, err := a.exchange(method, path, token, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("%s: %s", r, v)
	}
	return r
}

// expect is do plus the status the test expects; for an error it also
// checks the problem's code when one is given.
func (a *api) expect(t testing.TB, status int, code, method, path, token string, body any, headers ...string) reply {
	t.Helper()
	r := a.do(t, method, path, token, body, headers...)
	if r.status != status {
		t.Fatalf("%s: status %d, want %d", r, r.status, status)
	}
	if code != "" {
		if got := r.problem(t).Code; got != code {
			t.Fatalf("%s: code %q, want %q", r, got, code)
		}
	}
	return r
}

// undocumented fetches a path the OpenAPI document does not describe (a
// docs asset, an unknown route): only the general rules apply.
func (a *api) undocumented(t testing.TB, method, path string) reply {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := reply{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: data}
	for _, v := range checkGeneral(r, false) {
		t.Errorf("%s: %s", r, v)
	}
	return r
}

// Fixtures: organizations and members made through the API itself.

var uniq atomic.Int64

// unique returns a string no other call in this process returns, with a
// random part so that runs do not collide either.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%s", prefix, uniq.Add(1), randomHex(3))
}

func uniqueEmail(prefix string) string { return unique(prefix) + "@example.test" }

const password = "secure123"

// member is a signed-up, logged-in user.
type member struct {
	ID    int64
	Email string
	Role  string
	Token string
}

// tenant is an organization with its first ADMIN.
type tenant struct {
	ID    int64
	Name  string
	Admin member
}

// newTenant creates an organization and signs up and logs in its first
// ADMIN with the admin invite code.
func (a *api) newTenant(t testing.TB) tenant {
	t.Helper()
	name := unique("org")
	r := a.expect(t, http.StatusCreated, "", "POST", "/organizations", "", map[string]any{"name": name})
	var org struct {
		ID   int64  `json:"id"`
		Code string `json:"admin_invite_code"`
	}
	r.into(t, &org)
	admin := a.signUp(t, org.Code, uniqueEmail("admin"))
	if admin.Role != "ADMIN" {
		t.Fatalf("first member of %d has role %q, want ADMIN", org.ID, admin.Role)
	}
	return tenant{ID: org.ID, Name: name, Admin: admin}
}

// signUp signs up with an invite code and logs in.
func (a *api) signUp(t testing.TB, code, email string) member {
	t.Helper()
	r := a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
		map[string]any{"email": email, "password": password, "invite_code": code})
	var u userOut
	r.into(t, &u)
	return member{ID: u.ID, Email: u.Email, Role: u.Role, Token: a.login(t, email)}
}

func (a *api) login(t testing.TB, email string) string {
	t.Helper()
	r := a.expect(t, http.StatusOK, "", "POST", "/login", "", map[string]any{"email": email, "password": password})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.into(t, &tok)
	return tok.AccessToken
}

// invite has the tenant's ADMIN issue an invite and returns its code.
func (a *api) invite(t testing.TB, tn tenant, role, email string) string {
	t.Helper()
	body := map[string]any{"role": role}
	if email != "" {
		body["email"] = email
	}
	r := a.expect(t, http.StatusCreated, "", "POST", "/invites", tn.Admin.Token, body)
	var inv struct {
		Code string `json:"code"`
	}
	r.into(t, &inv)
	return inv.Code
}

// addMember invites, signs up and logs in a new member with role.
func (a *api) addMember(t testing.TB, tn tenant, role string) member {
	t.Helper()
	m := a.signUp(t, a.invite(t, tn, role, ""), uniqueEmail(strings.ToLower(role)))
	if m.Role != role {
		t.Fatalf("member signed up with a %s invite has role %q", role, m.Role)
	}
	return m
}

func (a *api) createTask(t testing.TB, token string, body map[string]any) task {
	t.Helper()
	r := a.expect(t, http.StatusCreated, "", "POST", "/tasks", token, body)
	var tk task
	r.into(t, &tk)
	return tk
}

func (a *api) newTask(t testing.TB, token, title string) task {
	t.Helper()
	return a.createTask(t, token, map[string]any{"title": title})
}

func (a *api) getTask(t testing.TB, token string, id int64) task {
	t.Helper()
	r := a.expect(t, http.StatusOK, "", "GET", taskPath(id), token, nil)
	var tk task
	r.into(t, &tk)
	return tk
}

func (a *api) listTasks(t testing.TB, token, query string) ([]task, reply) {
	t.Helper()
	path := "/tasks"
	if query != "" {
		path += "?" + query
	}
	r := a.expect(t, http.StatusOK, "", "GET", path, token, nil)
	var out []task
	r.into(t, &out)
	return out, r
}

func taskPath(id int64) string { return "/tasks/" + strconv.FormatInt(id, 10) }
func userPath(id int64) string { return "/users/" + strconv.FormatInt(id, 10) }

func ids(ts []task) []int64 {
	out := make([]int64, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// deadPort returns a local TCP port on which nothing listens.
func deadPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// newDatabase makes a fresh Postgres database with the two roles of a
// production deployment (pgtest.NewAppDatabase) and returns the
// application role's URL, the one the tests pass around; testConfig and
// testConfig find the owner's URL from it.
func newDatabase(t *testing.T) string {
	appURL, owner := pgtest.NewAppDatabase(t)
	owners.Store(appURL, owner)
	t.Cleanup(func() { owners.Delete(appURL) })
	return appURL
}

// owners maps the application URLs newDatabase returned to their owner's.
var owners sync.Map

// newDatabaseThroughPgBouncer is newDatabase with the application role's
// URL pointed at a PgBouncer of the test's own in pool_mode = transaction
// (two server connections for the replica's pool of ten), as the README
// describes the deployment: the migrations (a session-level advisory
// lock) and the live feed's LISTEN go to Postgres directly, through
// MIGRATION_DATABASE_URL and NOTIFY_DATABASE_URL, which testConfig sets.
func newDatabaseThroughPgBouncer(t *testing.T) string {
	appURL := newDatabase(t)
	b := faulttest.StartPgBouncer(t, pgtest.ServerURL())
	pooled := b.URL(appURL)
	owners.Store(pooled, ownerURL(appURL))
	directs.Store(pooled, appURL)
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		owners.Delete(pooled)
		directs.Delete(pooled)
		// The topology is what it claims: the service's pool went through
		// the PgBouncer (which logs each client's login).
		if want := "login attempt: db=" + strings.TrimPrefix(u.Path, "/") + " user=" + u.User.Username(); !strings.Contains(b.Log(), want) {
			t.Errorf("pgbouncer never saw %q: the service did not connect through it", want)
		}
	})
	return pooled
}

// directs maps the pooled URLs newDatabaseThroughPgBouncer returned to
// the direct URL of the same role and database.
var directs sync.Map

// ownerURL is the owner's URL of a database newDatabase made, else "".
func ownerURL(appURL string) string {
	owner, _ := owners.Load(appURL)
	s, _ := owner.(string)
	return s
}
