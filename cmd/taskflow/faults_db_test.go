package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

// dbRequestTimeout is REQUEST_TIMEOUT for the binaries of these tests:
// every answer during an outage must come within it.
const dbRequestTimeout = 3 * time.Second

// dbClient has room for the load's concurrent connections and gives up
// well after the request timeout, so that a hung request fails the test
// rather than hanging it.
var dbClient = &http.Client{
	Timeout:   dbRequestTimeout + 10*time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// dbAnswer is one HTTP answer, or the transport error that came instead.
type dbAnswer struct {
	status  int
	header  http.Header
	body    map[string]any
	took    time.Duration
	err     error
	request string
}

func (a dbAnswer) String() string {
	if a.err != nil {
		return fmt.Sprintf("%s: %v", a.request, a.err)
	}
	return fmt.Sprintf("%s -> %d %v (Retry-After %q) in %v", a.request, a.status, a.body,
		a.header.Get("Retry-After"), a.took.Round(time.Millisecond))
}

// dbDo sends one request and reads the whole answer.
func dbDo(method, url, token string, body any) dbAnswer {
	a := dbAnswer{request: method + " " + url}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		a.err = err
		return a
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	began := time.Now()
	resp, err := dbClient.Do(req)
	if err != nil {
		a.err, a.took = err, time.Since(began)
		return a
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a.status, a.header, a.took, a.err = resp.StatusCode, resp.Header, time.Since(began), err
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// dbEnv is the environment of these tests' binaries: rate limits off
// (the load would meet them, and they are not what is tested) and a
// short request timeout.
func dbEnv(port string, extra ...string) []string {
	return baseEnv(append([]string{"HTTP_ADDR=127.0.0.1:" + port, "REQUEST_TIMEOUT=" + dbRequestTimeout.String(),
		"RATE_LIMIT_AUTH_PER_MINUTE=0", "RATE_LIMIT_ORG_PER_MINUTE=0"}, extra...)...)
}

// dbWant503 fails unless a is the answer the contract gives while the
// database is down: 503 problem+json, code unavailable, Retry-After, in
// time.
func dbWant503(t *testing.T, a dbAnswer) {
	t.Helper()
	switch {
	case a.err != nil:
		t.Errorf("%v", a)
	case a.status != 503 || a.body["code"] != "unavailable" || a.body["status"] != float64(503):
		t.Errorf("%v, want 503 with code unavailable", a)
	case !strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json"):
		t.Errorf("%v: Content-Type %q, want problem+json", a, a.header.Get("Content-Type"))
	case a.header.Get("Retry-After") == "" || a.header.Get("X-Request-ID") == "":
		t.Errorf("%v: no Retry-After or X-Request-ID", a)
	case a.took > dbRequestTimeout:
		t.Errorf("%v: slower than the request timeout %v", a, dbRequestTimeout)
	}
}

// dbStatuses counts answers by status; transport errors count as 0.
type dbStatuses struct {
	mu sync.Mutex
	n  map[int]int
}

func (s *dbStatuses) add(a dbAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[int]int{}
	}
	if a.err != nil {
		s.n[0]++
		return
	}
	s.n[a.status]++
}

func (s *dbStatuses) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.n {
		n += c
	}
	return n
}

func (s *dbStatuses) get(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}

// TestFaults_Postgres_StoppedAnswers503ThenRecovers is the contract's
// "a dependency that is down is 503, never 500" on the real binary: its
// Postgres is stopped as an operator stops it (pg_ctl stop -m fast) while
// a load runs, every kind of request then answers 503 unavailable with
// Retry-After within the request timeout, and when Postgres is back the
// same process serves again, with no restart. Then Postgres restarts
// under the pool's feet, with nothing sent meanwhile: the first requests
// on the stale connections succeed or are 503, never 500.
func TestFaults_Postgres_StoppedAnswers503ThenRecovers(t *testing.T) {
	pg := faulttest.StartPostgres(t)
	bin := binary(t)
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	p := start(t, bin, dbEnv(port, "DATABASE_URL="+pg.URL()))
	waitHealthy(t, p, base)

	task := walkThrough(t, base)
	token := login(t, base)
	id := fmt.Sprint(task["id"])
	// A second task that nothing reads before the outage, so that no
	// cache holds it: its GET must reach the database.
	if a := dbDo("POST", base+"/tasks", token, map[string]any{"title": "unread"}); a.status != 201 {
		t.Fatalf("%v", a)
	}
	var unread string
	if a := dbDo("POST", base+"/tasks", token, map[string]any{"title": "unread too"}); a.status == 201 {
		unread = fmt.Sprint(a.body["id"])
	} else {
		t.Fatalf("%v", a)
	}
	st, inv := call(t, "POST", base+"/invites", token, map[string]any{"role": "USER"})
	if st != 201 {
		t.Fatalf("create invite: %d %v", st, inv)
	}

	// The load: a mix of reads and writes from 8 clients, through the
	// stop and for one second of the outage after it, at most 20,000
	// requests.
	var load dbStatuses
	var stopLoad atomic.Bool
	var unexpected sync.Map // first answer of each unexpected kind
	var wg sync.WaitGroup
	mix := []func(i int) dbAnswer{
		func(int) dbAnswer { return dbDo("GET", base+"/tasks", token, nil) },
		func(int) dbAnswer { return dbDo("GET", base+"/tasks/"+id, token, nil) },
		func(i int) dbAnswer {
			return dbDo("POST", base+"/tasks", token, map[string]any{"title": "load " + strconv.Itoa(i)})
		},
		func(i int) dbAnswer {
			return dbDo("PATCH", base+"/tasks/"+id, token, map[string]any{"description": "load " + strconv.Itoa(i)})
		},
		func(int) dbAnswer { return dbDo("GET", base+"/me", token, nil) },
		func(int) dbAnswer { return dbDo("GET", base+"/users", token, nil) },
	}
	var sent atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for i := w; !stopLoad.Load() && sent.Add(1) <= 20000; i += 8 {
				a := mix[i%len(mix)](i)
				load.add(a)
				switch {
				case a.err != nil, a.status >= 500 && a.status != 503, a.status == 503 && a.body["code"] != "unavailable":
					unexpected.LoadOrStore(fmt.Sprintf("%d %v", a.status, a.body["code"]), a.String())
				}
			}
		})
	}
	faulttest.WaitFor(t, "the load to get going", 10*time.Second, func() bool { return load.total() >= 50 })
	pg.Stop()
	stoppedAt := time.Now()
	faulttest.WaitFor(t, "a second of load against the stopped database", 10*time.Second, func() bool {
		return time.Since(stoppedAt) >= time.Second && load.get(503) > 0 || sent.Load() >= 20000
	})
	stopLoad.Store(true)
	wg.Wait()
	t.Logf("load through pg_ctl stop -m fast: %d requests, %d answered 503, %d answered 500, %d 2xx, transport errors %d",
		load.total(), load.get(503), load.get(500), load.get(200)+load.get(201), load.get(0))
	unexpected.Range(func(k, v any) bool {
		t.Errorf("during the stop: %v", v)
		return true
	})
	if load.get(500) != 0 || load.get(503) == 0 {
		t.Fatalf("load during the stop: %d answers 500, %d answers 503; want 0 and some", load.get(500), load.get(503))
	}

	// Every kind of request, with Postgres down.
	outageTitle := "written during the outage"
	for _, a := range []dbAnswer{
		dbDo("GET", base+"/tasks?limit=7", token, nil),
		dbDo("GET", base+"/tasks/"+unread, token, nil),
		dbDo("POST", base+"/tasks", token, map[string]any{"title": outageTitle}),
		dbDo("PUT", base+"/tasks/"+id+"?new_status=IN_PROGRESS", token, nil),
		dbDo("PATCH", base+"/tasks/"+id, token, map[string]any{"title": outageTitle}),
		dbDo("DELETE", base+"/tasks/"+id, token, nil),
		dbDo("POST", base+"/login", "", map[string]any{"email": "admin@acme.com", "password": "secure123"}),
		dbDo("POST", base+"/signup", "", map[string]any{"email": "bob@acme.com", "password": "secure123", "invite_code": inv["code"]}),
		dbDo("POST", base+"/organizations", "", map[string]any{"name": "Outage Corp"}),
		dbDo("GET", base+"/me", token, nil),
		dbDo("GET", base+"/users", token, nil),
		dbDo("POST", base+"/invites", token, map[string]any{"role": "USER"}),
	} {
		dbWant503(t, a)
	}
	if st, ready := call(t, "GET", base+"/ready", "", nil); st != 503 {
		t.Errorf("/ready with Postgres down = %d %v, want 503", st, ready)
	}
	if line := regexp.MustCompile(`.*"msg":"dependency unavailable".*connection refused.*`).FindString(p.out.String()); line != "" {
		t.Logf("what the operator sees: %s", line)
	} else {
		t.Errorf("the log has no line naming the unavailable database and its cause:\n%s", dbTail(p.out.String()))
	}

	// Postgres comes back; the same process serves again.
	pg.Start()
	dbWaitServing(t, base, token)
	st, list := dbList(t, base, token)
	for _, tk := range list {
		if tk["title"] == outageTitle {
			t.Fatalf("a task written during the outage (answered 503) is there: %v", tk)
		}
	}
	if st != 200 {
		t.Fatalf("list after the outage: %d", st)
	}
	dbWant2xx(t, dbDo("POST", base+"/tasks", token, map[string]any{"title": "after the outage"}))
	dbWant2xx(t, dbDo("POST", base+"/login", "", map[string]any{"email": "admin@acme.com", "password": "secure123"}))
	dbWant2xx(t, dbDo("POST", base+"/signup", "", map[string]any{"email": "bob@acme.com", "password": "secure123", "invite_code": inv["code"]}))

	// A restart under the pool's feet: the pool holds connections to the
	// server that is gone, and nothing notices before the burst.
	warm := make(chan dbAnswer, 8)
	for range 8 {
		go func() { warm <- dbDo("GET", base+"/users", token, nil) }()
	}
	for range 8 {
		dbWant2xx(t, <-warm)
	}
	pg.Stop()
	pg.Start()
	var burst dbStatuses
	var bwg sync.WaitGroup
	for i := range 16 {
		bwg.Go(func() {
			a := mix[i%len(mix)](i)
			burst.add(a)
			if a.err != nil || a.status >= 500 && a.status != 503 {
				t.Errorf("first requests after a restart: %v", a)
			}
		})
	}
	bwg.Wait()
	dbWaitServing(t, base, token)
	t.Logf("first 16 requests after a Postgres restart under a warm pool: %d 2xx, %d answered 503, %d answered 500",
		burst.get(200)+burst.get(201), burst.get(503), burst.get(500))
}

// dbWaitServing polls until an authenticated read answers 200; every
// answer on the way must be 200 or 503, never a 500.
func dbWaitServing(t *testing.T, base, token string) {
	t.Helper()
	polls := 0
	faulttest.WaitFor(t, "the service to answer 200 again", 30*time.Second, func() bool {
		polls++
		a := dbDo("GET", base+"/me", token, nil)
		if a.err != nil || a.status != 200 && a.status != 503 {
			t.Fatalf("while the database comes back: %v", a)
		}
		return a.status == 200
	})
	t.Logf("served again after %d polls", polls)
}

func dbWant2xx(t *testing.T, a dbAnswer) {
	t.Helper()
	if a.err != nil || a.status < 200 || a.status > 299 {
		t.Errorf("%v, want 2xx", a)
	}
}

// dbList reads every task of the caller's organization, page by page
// along the Link header.
func dbList(t *testing.T, base, token string) (int, []map[string]any) {
	t.Helper()
	var all []map[string]any
	next := base + "/tasks?limit=100"
	link := regexp.MustCompile(`<([^>]+)>; rel="next"`)
	for pages := 0; next != ""; pages++ {
		if pages > 10000 {
			t.Fatal("more than 10,000 pages")
		}
		req, _ := http.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := dbClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page []map[string]any
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			return resp.StatusCode, all
		}
		all = append(all, page...)
		next = ""
		if m := link.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
			next = base + m[1]
		}
	}
	return 200, all
}

// dbTail is the end of a long log, enough to see what went wrong.
func dbTail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// TestFaults_KillDuringWrites_LosesNoAcknowledgedTask: a task whose
// creation was acknowledged (201) survives a SIGKILL of the process that
// acknowledged it, on the embedded SQLite store and on Postgres. Clients
// create tasks concurrently; the binary is killed mid-load; restarted on
// the same database, it lists every acknowledged task.
func TestFaults_KillDuringWrites_LosesNoAcknowledgedTask(t *testing.T) {
	bin := binary(t)
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			base := "http://127.0.0.1:" + port
			env := dbEnv(port)
			if store == "postgres" {
				env = append(env, "DATABASE_URL="+pgtest.NewDatabase(t))
			}
			p := startIn(t, bin, dir, env)
			waitHealthy(t, p, base)
			walkThrough(t, base)
			token := login(t, base)

			// Writers create tasks until the process dies under them, or
			// 20 s at most.
			var mu sync.Mutex
			acked := map[string]string{} // id -> title
			var errs atomic.Int64
			deadline := time.Now().Add(20 * time.Second)
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := 0; time.Now().Before(deadline); i++ {
						title := fmt.Sprintf("w%d-%d", w, i)
						a := dbDo("POST", base+"/tasks", token, map[string]any{"title": title})
						if a.err != nil {
							errs.Add(1)
							return // the process is gone
						}
						if a.status == 201 {
							mu.Lock()
							acked[fmt.Sprint(a.body["id"])] = title
							mu.Unlock()
						} else if a.status >= 500 {
							t.Errorf("before the kill: %v", a)
							return
						}
					}
				})
			}
			faulttest.WaitFor(t, "200 acknowledged writes", 15*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acked) >= 200
			})
			if err := p.cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = p.cmd.Wait()
			wg.Wait()
			if errs.Load() == 0 {
				t.Fatal("no writer saw the process die: the kill did not land mid-load")
			}

			p = startIn(t, bin, dir, env)
			waitHealthy(t, p, base)
			token = login(t, base)
			st, list := dbList(t, base, token)
			if st != 200 {
				t.Fatalf("list after the restart: %d", st)
			}
			have := map[string]string{}
			for _, tk := range list {
				have[fmt.Sprint(tk["id"])] = fmt.Sprint(tk["title"])
			}
			missing := 0
			for id, title := range acked {
				if have[id] != title {
					missing++
					if missing <= 5 {
						t.Errorf("acknowledged task %s %q is not there after the restart (found %q)", id, title, have[id])
					}
				}
			}
			t.Logf("%s: %d tasks acknowledged before SIGKILL, %d writers cut off, %d listed after the restart, %d missing",
				store, len(acked), errs.Load(), len(list), missing)
			stop(t, p)
		})
	}
}
