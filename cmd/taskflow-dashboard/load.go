package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// client calls the public API.
type client struct {
	base string
	http *http.Client
	sent atomic.Int64
	// status counts answers by status code.
	mu     sync.Mutex
	status map[int]int
}

func newClient(base string) *client {
	return &client{base: base, status: map[int]int{}, http: &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

// call sends one request and decodes a JSON answer into out (when not nil).
func (c *client) call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c.sent.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	c.mu.Lock()
	c.status[resp.StatusCode]++
	c.mu.Unlock()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, nil
}

// tenant is an organization with its first admin's token and a few task ids.
type tenant struct {
	token string
	tasks []int64
}

func newTenant(ctx context.Context, c *client, name string) (*tenant, error) {
	var org struct {
		Code string `json:"admin_invite_code"`
	}
	if st, err := c.call(ctx, "POST", "/organizations", "", map[string]string{"name": name}, &org); err != nil || st != http.StatusCreated {
		return nil, fmt.Errorf("POST /organizations: %d %w", st, err)
	}
	email := fmt.Sprintf("admin-%s-%d@example.com", name, time.Now().UnixNano())
	const password = "dashboard-password-1"
	if st, err := c.call(ctx, "POST", "/signup", "", map[string]string{"email": email, "password": password, "invite_code": org.Code}, nil); err != nil || st != http.StatusCreated {
		return nil, fmt.Errorf("POST /signup: %d %w", st, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st, err := c.call(ctx, "POST", "/login", "", map[string]string{"email": email, "password": password}, &tok); err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("POST /login: %d %w", st, err)
	}
	t := &tenant{token: tok.AccessToken}
	for i := range 20 {
		id, err := createTask(ctx, c, t.token, fmt.Sprintf("seed task %d", i))
		if err != nil {
			return nil, err
		}
		t.tasks = append(t.tasks, id)
	}
	return t, nil
}

func createTask(ctx context.Context, c *client, token, title string) (int64, error) {
	var task struct {
		ID int64 `json:"id"`
	}
	st, err := c.call(ctx, "POST", "/tasks", token, map[string]string{"title": title, "description": "made by the dashboard render"}, &task)
	if err != nil || st != http.StatusCreated {
		return 0, fmt.Errorf("POST /tasks: %d %w", st, err)
	}
	return task.ID, nil
}

// phase is a stretch of the run with extra traffic, shaded in the charts.
type phase struct {
	name       string
	start, end float64 // fractions of the run
}

var phases = []phase{
	{"slow receiver", 0.05, 0.22},
	{"login flood", 0.28, 0.46},
	{"receiver down", 0.50, 0.65},
	{"noisy tenant", 0.70, 0.88},
}

func inPhase(name string, frac float64) bool {
	for _, p := range phases {
		if p.name == name {
			return frac >= p.start && frac < p.end
		}
	}
	return false
}

// job is one request of the load.
type job func(ctx context.Context)

// plan returns the requests of one 100 ms tick of the run (tick k of n),
// the same for every run: per second 20 lists (four query variants, so
// hits and misses), 8 reads, 2 creates (which make the lists stale), 2
// reads of a task id that does not exist and one unmatched path (404s);
// during the login flood 30 logins per second with wrong passwords from
// one address (bcrypt queue, then 429 login_per_ip), and during the noisy
// tenant 60 more lists per second from tenant b (429 organization).
func plan(c *client, a, b *tenant, k, n int) []job {
	frac := float64(k) / float64(n)
	var jobs []job
	tn := a
	if k%2 == 1 {
		tn = b
	}
	queries := []string{"", "?status=CREATED", "?limit=5", "?sort=due"}
	for i := range 2 {
		q := queries[(k/2+i)%len(queries)]
		jobs = append(jobs, func(ctx context.Context) { _, _ = c.call(ctx, "GET", "/tasks"+q, tn.token, nil, nil) })
	}
	if k%5 != 4 {
		id := tn.tasks[k%len(tn.tasks)]
		jobs = append(jobs, func(ctx context.Context) {
			_, _ = c.call(ctx, "GET", "/tasks/"+strconv.FormatInt(id, 10), tn.token, nil, nil)
		})
	}
	if k%5 == 0 {
		jobs = append(jobs, func(ctx context.Context) { _, _ = createTask(ctx, c, tn.token, "task of tick "+strconv.Itoa(k)) })
	}
	if k%5 == 2 {
		jobs = append(jobs, func(ctx context.Context) { _, _ = c.call(ctx, "GET", "/tasks/999999999", tn.token, nil, nil) })
	}
	if k%10 == 7 {
		jobs = append(jobs, func(ctx context.Context) { _, _ = c.call(ctx, "GET", "/no-such-page", "", nil, nil) })
	}
	if inPhase("login flood", frac) {
		for i := range 3 {
			email := fmt.Sprintf("nobody-%d-%d@example.com", k, i)
			jobs = append(jobs, func(ctx context.Context) {
				_, _ = c.call(ctx, "POST", "/login", "", map[string]string{"email": email, "password": "wrong-password"}, nil)
			})
		}
	}
	if inPhase("noisy tenant", frac) {
		for i := range 6 {
			q := queries[i%len(queries)]
			jobs = append(jobs, func(ctx context.Context) { _, _ = c.call(ctx, "GET", "/tasks"+q, b.token, nil, nil) })
		}
	}
	return jobs
}

// runLoad sends the plan's requests on time, tick by tick, for d; the
// requests of a tick run concurrently (at most 64 at once).
func runLoad(ctx context.Context, c *client, a, b *tenant, d time.Duration) {
	const tick = 100 * time.Millisecond
	n := int(d / tick)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range n {
		if wait := time.Until(start.Add(time.Duration(k) * tick)); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-time.After(wait):
			}
		}
		for _, j := range plan(c, a, b, k, n) {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				j(ctx)
			}()
		}
	}
	wg.Wait()
}
