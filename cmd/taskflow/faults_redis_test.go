package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/faulttest"
	"github.com/taskflow/taskflow/adapters/postgres/pgtest"
)

// The Redis fault tests of API.md's "Under faults": the real binary with
// CACHE_BACKEND=redis on a throwaway redis-server (faulttest) and a
// database of its own on the shared Postgres, broken under it.

// redisSecret is shared by the replicas of a test, so a token works on all.
const redisSecret = "redis-fault-test-secret-key-0123456789abcdef"

// redisReplica is one running binary.
type redisReplica struct {
	name string
	base string
	out  *output
	cmd  *exec.Cmd
}

// redisStartReplica starts the binary on dbURL and redisURL and waits for
// /health.
func redisStartReplica(t *testing.T, bin, name, dbURL, redisURL string, extra ...string) *redisReplica {
	t.Helper()
	port := freePort(t)
	env := baseEnv(append([]string{
		"DATABASE_URL=" + dbURL, "HTTP_ADDR=127.0.0.1:" + port,
		"CACHE_BACKEND=redis", "REDIS_URL=" + redisURL, "SECRET_KEY=" + redisSecret,
		"ADMIN_ADDR=", // two replicas must not fight over the admin port
	}, extra...)...)
	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = env, t.TempDir()
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &redisReplica{name: name, base: "http://127.0.0.1:" + port, out: out, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("replica %s output:\n%s", name, out.String())
		}
	})
	faulttest.WaitFor(t, "replica "+name+" to answer /health", 30*time.Second, func() bool {
		resp, err := redisHTTP.Get(r.base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return r
}

// redisHTTP is the tests' client: keep-alive connections for the
// concurrent workers, and a timeout far past anything the contract
// allows, so that a hang is a failure, not a stuck test.
var redisHTTP = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 32},
}

// redisDo sends one request and returns the status and body; a transport
// error is status 0 with the error.
func redisDo(method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := redisHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// redisLists reports whether GET /tasks through r lists the task id.
func redisLists(t *testing.T, r *redisReplica, token string, id int64) bool {
	t.Helper()
	st, raw, err := redisDo("GET", r.base+"/tasks?limit=100", token, nil)
	if err != nil || st != 200 {
		t.Fatalf("GET /tasks on %s: %d %v %s", r.name, st, err, raw)
	}
	var list []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("GET /tasks on %s: %v in %s", r.name, err, raw)
	}
	for _, task := range list {
		if task.ID == id {
			return true
		}
	}
	return false
}

// redisWaitFor polls cond every 10 ms for up to limit and returns how long
// it took to hold, failing the test if it never did.
func redisWaitFor(t *testing.T, what string, since time.Time, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	for !cond() {
		if time.Since(since) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(since)
}

// TestFaults_Redis_KilledUnderLoad: Redis dies under a bounded load of
// reads and writes, and comes back; no request fails (no 5xx, no
// transport error), and the replica uses the cache again once Redis
// answers.
func TestFaults_Redis_KilledUnderLoad(t *testing.T) {
	t.Parallel()
	srv := faulttest.StartRedis(t)
	bin := binary(t)
	r := redisStartReplica(t, bin, "A", pgtest.NewDatabase(t), srv.URL())
	walkThrough(t, r.base)
	token := login(t, r.base)

	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	request := func(worker, i int) {
		var (
			st  int
			raw []byte
			err error
		)
		switch i % 4 {
		case 0:
			st, raw, err = redisDo("POST", r.base+"/tasks", token, map[string]any{"title": fmt.Sprintf("load %d.%d", worker, i)})
		case 1:
			st, raw, err = redisDo("GET", r.base+"/tasks?status=CREATED&limit=5", token, nil)
		case 2:
			st, raw, err = redisDo("GET", r.base+"/me", token, nil)
		default:
			st, raw, err = redisDo("GET", r.base+"/tasks", token, nil)
		}
		sent.Add(1)
		if err != nil || st >= 500 {
			failed.Add(1)
			firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %v %s", st, err, raw))
		}
	}
	// Workers run until stop; each phase waits for a number of requests
	// rather than for time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				request(w, i)
			}
		})
	}
	phase := func(what string, n int64) {
		t.Helper()
		target := sent.Load() + n
		faulttest.WaitFor(t, fmt.Sprintf("%d requests %s", n, what), 60*time.Second, func() bool { return sent.Load() >= target })
	}
	phase("before the kill", 300)
	srv.Kill()
	killedAt := sent.Load()
	phase("with Redis dead", 600)
	srv.Start()
	restartedAt := time.Now()
	faulttest.WaitFor(t, "the replica to log that Redis is back", 10*time.Second, func() bool {
		return strings.Contains(r.out.String(), `"msg":"redis answers again: cache back in use"`)
	})
	// go-redis stops dialing after PoolSize failed dials and tries again
	// once a second: up to a second more than the probe's own interval.
	backAfter := time.Since(restartedAt)
	phase("after Redis came back", 300)
	close(stop)
	wg.Wait()

	t.Logf("Redis killed under load: %d requests (%d of them after the kill), %d failed; the cache was back in use %v after Redis answered again",
		sent.Load(), sent.Load()-killedAt, failed.Load(), backAfter.Round(time.Millisecond))
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed; the first: %v", n, firstFailure.Load())
	}
	if !strings.Contains(r.out.String(), `"msg":"redis unreachable: skipping it until it answers, serving from the database"`) {
		t.Errorf("the replica did not log the outage:\n%s", r.out.String())
	}
}

// TestFaults_Redis_FrozenWithTwoReplicas: Redis frozen (SIGSTOP: a
// partition, keys kept). Replica A takes a create and a logout during the
// freeze; replica B gets no request then, so its breaker never opens and
// it holds the list and the session check from before in Redis and in its
// near cache: only A's recovery (the epoch move) can make them stale.
// After the thaw both replicas must list the task and refuse the logged
// out token within 2 s; during the freeze A's p99 must stay under 1.5 s.
//
// Not parallel: it measures latency, and the package's other fault tests
// drive loads of their own on the same two cores (p99 0.64-0.70 s alone,
// up to 1.43 s beside them).
func TestFaults_Redis_FrozenWithTwoReplicas(t *testing.T) {
	srv := faulttest.StartRedis(t)
	bin := binary(t)
	dbURL := pgtest.NewDatabase(t)
	a := redisStartReplica(t, bin, "A", dbURL, srv.URL())
	b := redisStartReplica(t, bin, "B", dbURL, srv.URL())
	walkThrough(t, a.base)
	token := login(t, a.base)
	doomed := login(t, a.base) // a second session, logged out during the freeze

	// Both replicas cache the list and both session checks.
	for _, r := range []*redisReplica{a, b} {
		for _, tok := range []string{token, doomed} {
			for range 2 {
				redisLists(t, r, tok, 0)
			}
		}
	}

	srv.Freeze()
	frozeAt := time.Now()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		bad       []string
	)
	timed := func(method, path, tok string, body any, want int) {
		began := time.Now()
		st, raw, err := redisDo(method, a.base+path, tok, body)
		took := time.Since(began)
		mu.Lock()
		defer mu.Unlock()
		latencies = append(latencies, took)
		if err != nil || st != want {
			bad = append(bad, fmt.Sprintf("%s %s: %d %v %s (want %d)", method, path, st, err, raw, want))
		}
	}
	// The write and the revocation, each acknowledged during the freeze.
	var created atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		began := time.Now()
		st, raw, err := redisDo("POST", a.base+"/tasks", token, map[string]any{"title": "written during the freeze"})
		mu.Lock()
		latencies = append(latencies, time.Since(began))
		mu.Unlock()
		var task struct {
			ID int64 `json:"id"`
		}
		if err != nil || st != 201 || json.Unmarshal(raw, &task) != nil {
			t.Errorf("POST /tasks during the freeze: %d %v %s", st, err, raw)
			return
		}
		created.Store(task.ID)
	})
	wg.Go(func() { timed("POST", "/logout", doomed, nil, 204) })
	// And a bounded load of reads on A meanwhile.
	for range 4 {
		wg.Go(func() {
			for i := range 40 {
				path := "/tasks"
				if i%2 == 1 {
					path = "/me"
				}
				timed("GET", path, token, nil, 200)
			}
		})
	}
	wg.Wait()
	frozeFor := time.Since(frozeAt)
	if len(bad) > 0 {
		t.Fatalf("%d requests failed during the freeze; the first: %s", len(bad), bad[0])
	}
	id := created.Load()
	if id == 0 {
		t.FailNow()
	}
	slices.Sort(latencies)
	p99 := latencies[(len(latencies)*99+99)/100-1]
	t.Logf("during the freeze (%v): %d requests on A, p99 %v, max %v", frozeFor.Round(time.Millisecond),
		len(latencies), p99.Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	if p99 > 1500*time.Millisecond {
		t.Errorf("p99 during the freeze = %v, want < 1.5s", p99)
	}

	srv.Thaw()
	thawedAt := time.Now()
	var visible, refused [2]time.Duration
	for i, r := range []*redisReplica{a, b} {
		visible[i] = redisWaitFor(t, "the task created during the freeze listed on "+r.name, thawedAt, 2*time.Second,
			func() bool { return redisLists(t, r, token, id) })
		refused[i] = redisWaitFor(t, "the token logged out during the freeze refused on "+r.name, thawedAt, 2*time.Second,
			func() bool {
				st, _, err := redisDo("GET", r.base+"/tasks", doomed, nil)
				return err == nil && st == 401
			})
	}
	t.Logf("after the thaw: the write is listed on A after %v and on B after %v; the logged out token is refused on A after %v and on B after %v",
		visible[0].Round(time.Millisecond), visible[1].Round(time.Millisecond), refused[0].Round(time.Millisecond), refused[1].Round(time.Millisecond))
	// And it stays so once both replicas serve from the cache again.
	faulttest.WaitFor(t, "replica A to close its breaker", 5*time.Second, func() bool {
		return strings.Contains(a.out.String(), `"msg":"redis answers again: cache back in use"`)
	})
	for _, r := range []*redisReplica{a, b} {
		for range 2 {
			if !redisLists(t, r, token, id) {
				t.Fatalf("%s no longer lists the task once the cache is back", r.name)
			}
			if st, raw, _ := redisDo("GET", r.base+"/tasks", doomed, nil); st != 401 {
				t.Fatalf("%s accepts the logged out token again: %d %s", r.name, st, raw)
			}
		}
	}
}
