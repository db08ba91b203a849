package bootstrap_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taskflow/taskflow/adapters/http/apidoc/specvalidate"
	"github.com/taskflow/taskflow/adapters/metrics"
	"github.com/taskflow/taskflow/adapters/webhook"
	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/bootstrap"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The webhook tests run the whole service with a clock of their own and
// a dispatcher that only moves when they Step it: retries follow the
// schedule because the test moves the clock to each one. Events are
// appended through the store, as a write use case appends them.

// stepClock is a clock the test moves by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// hostTable resolves names from a table the test may change between a
// registration and a delivery (DNS rebinding), without a DNS server.
type hostTable struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
}

func (r *hostTable) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hosts == nil {
		r.hosts = map[string][]netip.Addr{}
	}
	r.hosts[host] = nil
	for _, a := range addrs {
		r.hosts[host] = append(r.hosts[host], netip.MustParseAddr(a))
	}
}

func (r *hostTable) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// hookRig is a running service with its dispatcher, clock, stores and
// resolver in the test's hands.
type hookRig struct {
	*api
	clock  *stepClock
	d      *application.Dispatcher
	stores ports.Stores
	hosts  *hostTable
	m      *metrics.Metrics
}

// deliveries reads taskflow_webhook_deliveries_total by result.
func (r *hookRig) deliveries(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := r.m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "taskflow_webhook_deliveries_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "result" {
					out[l.GetValue()] = s.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

type hookSettings struct {
	allowPrivate bool
	schedule     []time.Duration
	disableAfter int
	tls          *tls.Config
}

func startHookRig(t *testing.T, databaseURL string, s hookSettings) *hookRig {
	t.Helper()
	cfg := testConfig(t, "memory", databaseURL)
	cfg.WebhookTimeout = 2 * time.Second
	cfg.WebhookRetrySchedule = s.schedule
	cfg.WebhookDisableAfter = s.disableAfter
	cfg.WebhookAllowPrivate = s.allowPrivate
	rig := &hookRig{clock: &stepClock{now: time.Now().UTC().Truncate(time.Second)}, hosts: &hostTable{}}
	var srv *bootstrap.Server
	app := bootstrap.New(cfg, "e2e-test", fx.Populate(&srv, &rig.d, &rig.stores, &rig.m),
		fx.Decorate(func(ports.Clock) ports.Clock { return rig.clock }),
		fx.Decorate(func(o webhook.Options) webhook.Options {
			o.Resolver, o.TLS = rig.hosts, s.tls
			return o
		}),
		// The loop steps once at start, with nothing due, then waits: the
		// test steps it.
		fx.Decorate(func(bootstrap.DispatchIdle) bootstrap.DispatchIdle { return bootstrap.DispatchIdle(24 * time.Hour) }),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start app: %v", err)
	}
	rig.api = &api{base: "http://" + srv.Addr(), cfg: cfg, client: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(func() {
		rig.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop app: %v", err)
		}
	})
	resp, err := rig.client.Get(rig.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if rig.spec, err = specvalidate.New(doc); err != nil {
		t.Fatal(err)
	}
	return rig
}

// eachDatabase runs fn against a rig on Postgres and one on SQLite.
func eachDatabase(t *testing.T, s hookSettings, fn func(t *testing.T, r *hookRig)) {
	for _, c := range []struct {
		name string
		db   func(*testing.T) string
	}{{"postgres", newDatabase}, {"sqlite", func(*testing.T) string { return "" }}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fn(t, startHookRig(t, c.db(t), s))
		})
	}
}

// step runs the dispatcher once, as its loop would.
func (r *hookRig) step(t *testing.T) int {
	t.Helper()
	n, err := r.d.Step(t.Context())
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return n
}

// drain steps until nothing is due at the current time.
func (r *hookRig) drain(t *testing.T) {
	t.Helper()
	for range 100 {
		if r.step(t) == 0 {
			return
		}
	}
	t.Fatal("the dispatcher still finds work after 100 steps")
}

// event appends an event of org through the store, as a write would.
func (r *hookRig) event(t *testing.T, org int64, typ domain.EventType) int64 {
	t.Helper()
	e := &domain.Event{OrgID: domain.OrgID(org), Type: typ, OccurredAt: r.clock.Now(),
		Subject: domain.EventSubject{Type: domain.SubjectTask, ID: 7}, Data: json.RawMessage(`{"task":{"id":7,"title":"é"}}`)}
	if err := r.stores.Events.Append(t.Context(), e); err != nil {
		t.Fatalf("append event: %v", err)
	}
	// Queued (Postgres): number it now, as the publisher would a moment
	// later, so that the next step of the dispatcher sees it.
	last, err := r.stores.Events.Number(t.Context(), e.OrgID)
	if err != nil {
		t.Fatalf("number events: %v", err)
	}
	if e.ID == 0 {
		e.ID = last
	}
	return e.ID
}

type hookOut struct {
	ID             int64    `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Active         bool     `json:"active"`
	DisabledReason *string  `json:"disabled_reason"`
	Secret         string   `json:"secret"`
}

func (r *hookRig) register(t *testing.T, token, url string, events ...string) hookOut {
	t.Helper()
	var h hookOut
	r.expect(t, http.StatusCreated, "", "POST", "/webhooks", token,
		map[string]any{"url": url, "events": events, "description": "test hook"}).into(t, &h)
	if !strings.HasPrefix(h.Secret, "whsec_") {
		t.Fatalf("secret %q", h.Secret)
	}
	return h
}

func (r *hookRig) hook(t *testing.T, org, id int64) *domain.Webhook {
	t.Helper()
	w, err := r.stores.Webhooks.Get(t.Context(), domain.OrgID(org), domain.WebhookID(id))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func hookPath(id int64, tail ...string) string {
	return "/webhooks/" + strconv.FormatInt(id, 10) + strings.Join(tail, "")
}

// message is one POST a receiver got.
type message struct {
	path   string
	header http.Header
	body   []byte
}

func (m message) id() string { return m.header.Get("webhook-id") }

// inbox is the test's webhook receiver: it records every message and
// answers each path with the status set for it (204 by default).
type inbox struct {
	mu     sync.Mutex
	got    []message
	status map[string]int // by path
	byID   map[string]int // by webhook-id, before the path's
}

func newInbox() *inbox { return &inbox{status: map[string]int{}, byID: map[string]int{}} }

func (b *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.got = append(b.got, message{path: r.URL.Path, header: r.Header.Clone(), body: body})
	status, ok := b.byID[r.Header.Get("webhook-id")]
	if !ok {
		status, ok = b.status[r.URL.Path]
	}
	b.mu.Unlock()
	if !ok {
		status = http.StatusNoContent
	}
	w.WriteHeader(status)
}

func (b *inbox) answer(path string, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status[path] = status
}

func (b *inbox) at(path string) []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []message
	for _, m := range b.got {
		if m.path == path {
			out = append(out, m)
		}
	}
	return out
}

func msgIDs(ms []message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.id()
	}
	return out
}

// signedBy is the receiver's check, written from the Standard Webhooks
// specification and not with the service's code: one of the
// space-separated v1 signatures is the HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>" under the secret's key.
func signedBy(t *testing.T, m message, secret string) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q does not decode: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", m.header.Get("webhook-id"), m.header.Get("webhook-timestamp"), m.body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(m.header.Get("webhook-signature")) {
		v, b64, _ := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func evt(id int64) string { return "evt_" + strconv.FormatInt(id, 10) }

func TestWebhooks_DeliverSignedInOrderRetryOnScheduleAndDisable(t *testing.T) {
	t.Parallel()
	schedule := []time.Duration{10 * time.Second, 40 * time.Second}
	eachDatabase(t, hookSettings{allowPrivate: true, schedule: schedule, disableAfter: 2}, func(t *testing.T, r *hookRig) {
		rcv := newInbox()
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		a, b := r.newTenant(t), r.newTenant(t)
		r.event(t, a.ID, domain.EventTaskCreated) // before the hook: never sent to it
		ha := r.register(t, a.Admin.Token, srv.URL+"/a", "task.*")
		hb := r.register(t, b.Admin.Token, srv.URL+"/b", "*")

		// Delivered in event order, only what matches, each org's to its
		// own hook only.
		e1 := r.event(t, a.ID, domain.EventTaskCreated)
		r.event(t, a.ID, domain.EventMemberJoined)
		e3 := r.event(t, a.ID, domain.EventTaskUpdated)
		eb := r.event(t, b.ID, domain.EventInviteCreated)
		r.drain(t)
		wantEqual(t, "a's hook got", msgIDs(rcv.at("/a")), []string{evt(e1), evt(e3)})
		wantEqual(t, "b's hook got", msgIDs(rcv.at("/b")), []string{evt(eb)})
		for _, m := range rcv.at("/a") {
			if !signedBy(t, m, ha.Secret) || signedBy(t, m, hb.Secret) {
				t.Fatalf("%s: signature does not verify with the hook's secret alone", m.id())
			}
			var body map[string]any
			if err := json.Unmarshal(m.body, &body); err != nil {
				t.Fatal(err)
			}
			if m.header.Get("Content-Type") != "application/json" || body["organization_id"] != float64(a.ID) ||
				"evt_"+strconv.FormatFloat(body["id"].(float64), 'f', -1, 64) != m.id() ||
				m.header.Get("webhook-timestamp") != strconv.FormatInt(r.clock.Now().Unix(), 10) {
				t.Fatalf("%s: headers %v body %s", m.id(), m.header, m.body)
			}
			if _, ok := body["actor"]; !ok || body["subject"] == nil || body["data"] == nil {
				t.Fatalf("%s: the body is not an event as GET /events shows it: %s", m.id(), m.body)
			}
		}
		if !signedBy(t, rcv.at("/b")[0], hb.Secret) {
			t.Fatal("b's message does not verify")
		}

		// A failing receiver: each retry waits its turn on the schedule,
		// and the next event waits until the current one is exhausted.
		rcv.answer("/a", http.StatusInternalServerError)
		e4 := r.event(t, a.ID, domain.EventTaskCreated)
		e5 := r.event(t, a.ID, domain.EventTaskDeleted)
		r.drain(t)
		wantEqual(t, "after the first failure", msgIDs(rcv.at("/a"))[2:], []string{evt(e4)})
		for i, d := range schedule {
			before := r.clock.Now()
			next := r.hook(t, a.ID, ha.ID).NextAttemptAt
			if next.Before(before.Add(d)) || next.After(before.Add(d+d/5+time.Millisecond)) {
				t.Fatalf("retry %d due at %s, want %s after %s plus at most a fifth (jitter)", i+1, next, d, before)
			}
			r.clock.set(next.Add(-time.Millisecond))
			r.drain(t)
			wantEqual(t, "nothing before it is due", len(rcv.at("/a")), 3+i)
			r.clock.set(next)
			r.drain(t)
		}
		// e4 exhausted (1 + 2 attempts); e5 came right after, and fails too.
		wantEqual(t, "attempts", msgIDs(rcv.at("/a"))[2:], []string{evt(e4), evt(e4), evt(e4), evt(e5)})
		for range schedule {
			r.clock.set(r.hook(t, a.ID, ha.ID).NextAttemptAt)
			r.drain(t)
		}
		wantEqual(t, "attempts", msgIDs(rcv.at("/a"))[2:],
			[]string{evt(e4), evt(e4), evt(e4), evt(e5), evt(e5), evt(e5)})

		// Each attempt counted once: the three delivered, two retried
		// failures and the last attempt of each exhausted event.
		wantEqual(t, "deliveries by result", r.deliveries(t),
			map[string]float64{"success": 3, "failure": 4, "exhausted": 2, "timeout": 0, "refused": 0})
		if lag := r.d.Lag(); lag != 0 {
			t.Errorf("lag %s with every hook up to date or disabled", lag)
		}

		// Two events in a row exhausted: disabled, with its event recorded.
		var got hookOut
		r.expect(t, http.StatusOK, "", "GET", hookPath(ha.ID), a.Admin.Token, nil).into(t, &got)
		if got.Active || got.DisabledReason == nil || *got.DisabledReason == "" {
			t.Fatalf("after 2 exhausted events: %+v", got)
		}
		// Numbered a moment after its commit: number it now, as GET /events
		// would.
		if _, err := r.stores.Events.Number(t.Context(), domain.OrgID(a.ID)); err != nil {
			t.Fatal(err)
		}
		evs, err := r.stores.Events.List(t.Context(), domain.OrgID(a.ID), ports.EventFilter{Types: []string{"webhook.*"}, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].Type != domain.EventWebhookDisabled || evs[0].Subject.ID != ha.ID ||
			strings.Contains(string(evs[0].Data), "whsec_") {
			t.Fatalf("webhook.disabled events: %+v, %v", evs, err)
		}
		var ds []map[string]any
		r.expect(t, http.StatusOK, "", "GET", hookPath(ha.ID, "/deliveries"), a.Admin.Token, nil).into(t, &ds)
		if len(ds) != 8 || ds[0]["event_id"] != float64(e5) || ds[0]["attempt"] != float64(3) ||
			ds[0]["status_code"] != float64(500) || ds[0]["error"] == nil || ds[7]["event_id"] != float64(e1) ||
			ds[7]["error"] != nil {
			t.Fatalf("deliveries log: %v", ds)
		}

		// A disabled hook receives nothing; re-enabled, it resumes with the
		// events committed from then on.
		r.event(t, a.ID, domain.EventTaskCreated)
		r.drain(t)
		wantEqual(t, "sent to a disabled hook", len(rcv.at("/a")), 8)
		rcv.answer("/a", http.StatusOK)
		r.expect(t, http.StatusOK, "", "PATCH", hookPath(ha.ID), a.Admin.Token, map[string]any{"active": true}).into(t, &got)
		if !got.Active || got.DisabledReason != nil {
			t.Fatalf("re-enabled: %+v", got)
		}
		e7 := r.event(t, a.ID, domain.EventTaskStatusChanged)
		r.drain(t)
		wantEqual(t, "after re-enabling", msgIDs(rcv.at("/a"))[8:], []string{evt(e7)})
		wantEqual(t, "b's hook got", msgIDs(rcv.at("/b")), []string{evt(eb)})
	})
}

func (b *inbox) answerID(id string, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if status == 0 {
		delete(b.byID, id)
		return
	}
	b.byID[id] = status
}

// Successful deliveries are settled in batches: a failure in the middle
// of one keeps what was delivered before it (logged, the cursor past it)
// and retries from the failed event.
func TestWebhooks_AFailureInABatchKeepsWhatWasDeliveredBeforeIt(t *testing.T) {
	t.Parallel()
	eachDatabase(t, hookSettings{allowPrivate: true, schedule: []time.Duration{5 * time.Second}, disableAfter: 20},
		func(t *testing.T, r *hookRig) {
			rcv := newInbox()
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			a := r.newTenant(t)
			h := r.register(t, a.Admin.Token, srv.URL+"/h", "*")
			var es []int64
			for range 5 {
				es = append(es, r.event(t, a.ID, domain.EventTaskCreated))
			}
			rcv.answerID(evt(es[2]), http.StatusBadGateway)
			r.drain(t)
			wantEqual(t, "sent", msgIDs(rcv.at("/h")), []string{evt(es[0]), evt(es[1]), evt(es[2])})
			var ds []map[string]any
			r.expect(t, http.StatusOK, "", "GET", hookPath(h.ID, "/deliveries"), a.Admin.Token, nil).into(t, &ds)
			if len(ds) != 3 || ds[0]["event_id"] != float64(es[2]) || ds[0]["status_code"] != float64(502) ||
				ds[1]["event_id"] != float64(es[1]) || ds[2]["event_id"] != float64(es[0]) || ds[1]["error"] != nil {
				t.Fatalf("deliveries log: %v", ds)
			}
			w := r.hook(t, a.ID, h.ID)
			wantEqual(t, "cursor, attempt", []int64{w.Cursor, int64(w.Attempt)}, []int64{es[1], 1})
			rcv.answerID(evt(es[2]), 0)
			r.clock.set(w.NextAttemptAt)
			r.drain(t)
			wantEqual(t, "sent", msgIDs(rcv.at("/h")),
				[]string{evt(es[0]), evt(es[1]), evt(es[2]), evt(es[2]), evt(es[3]), evt(es[4])})
			wantEqual(t, "cursor", r.hook(t, a.ID, h.ID).Cursor, es[4])
		})
}

func TestWebhooks_RotationSignsWithBothSecretsForADay(t *testing.T) {
	t.Parallel()
	eachDatabase(t, hookSettings{allowPrivate: true, schedule: []time.Duration{time.Second}, disableAfter: 20},
		func(t *testing.T, r *hookRig) {
			rcv := newInbox()
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			a := r.newTenant(t)
			h := r.register(t, a.Admin.Token, srv.URL+"/h", "*")
			var rotated struct {
				Secret string `json:"secret"`
			}
			r.expect(t, http.StatusOK, "", "POST", hookPath(h.ID, "/rotate-secret"), a.Admin.Token, nil).into(t, &rotated)
			if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == h.Secret {
				t.Fatalf("rotated secret %q", rotated.Secret)
			}
			r.event(t, a.ID, domain.EventTaskCreated)
			r.drain(t)
			m := rcv.at("/h")[0]
			if n := len(strings.Fields(m.header.Get("webhook-signature"))); n != 2 {
				t.Fatalf("%d signatures during the overlap", n)
			}
			if !signedBy(t, m, h.Secret) || !signedBy(t, m, rotated.Secret) {
				t.Fatal("a signature of the overlap does not verify")
			}
			r.clock.set(r.clock.Now().Add(domain.WebhookSecretOverlap + time.Second))
			r.event(t, a.ID, domain.EventTaskCreated)
			r.drain(t)
			m = rcv.at("/h")[1]
			if n := len(strings.Fields(m.header.Get("webhook-signature"))); n != 1 ||
				!signedBy(t, m, rotated.Secret) || signedBy(t, m, h.Secret) {
				t.Fatalf("after the overlap: %q", m.header.Get("webhook-signature"))
			}
		})
}

func TestWebhooks_RefuseNonPublicTargets_AtRegistrationAndAtDelivery(t *testing.T) {
	t.Parallel()
	// One receiver for both subtests, closed when both are done (the
	// parallel subtests run after this function returns).
	rcv := newInbox()
	srv := httptest.NewTLSServer(rcv)
	t.Cleanup(srv.Close)
	trust := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	eachDatabase(t, hookSettings{schedule: []time.Duration{time.Second}, disableAfter: 20, tls: trust},
		func(t *testing.T, r *hookRig) {
			a := r.newTenant(t)
			r.hosts.set("loopback.example", "127.0.0.1")
			r.hosts.set("hooks.example", "93.184.216.34")
			for _, u := range []string{
				"https://127.0.0.1/h", "https://[::1]/h", "https://10.0.0.7/h", "https://169.254.169.254/latest/meta-data/",
				"https://[::ffff:127.0.0.1]/h", "https://[::ffff:7f00:1]/h", "https://0.0.0.0/h", "https://224.0.0.251/h",
				"https://[ff02::1]/h", "https://loopback.example/h", "https://unknown.example/h",
				"http://93.184.216.34/h", "ftp://93.184.216.34/h", "https://user:pw@hooks.example/h",
			} {
				p := r.expect(t, http.StatusUnprocessableEntity, "validation_failed", "POST", "/webhooks", a.Admin.Token,
					map[string]any{"url": u, "events": []string{"*"}}).problem(t)
				wantEqual(t, u+": fields", p.fields(), []string{"url"})
			}
			var hooks []hookOut
			r.expect(t, http.StatusOK, "", "GET", "/webhooks", a.Admin.Token, nil).into(t, &hooks)
			wantEqual(t, "hooks after refusals", len(hooks), 0)

			// A name that was public at registration and points at
			// 127.0.0.1 at delivery time: the dialer refuses it.
			h := r.register(t, a.Admin.Token, "https://hooks.example:"+port+"/h", "*")
			r.hosts.set("hooks.example", "127.0.0.1")
			r.event(t, a.ID, domain.EventTaskCreated)
			r.drain(t)
			var ds []map[string]any
			r.expect(t, http.StatusOK, "", "GET", hookPath(h.ID, "/deliveries"), a.Admin.Token, nil).into(t, &ds)
			if len(ds) != 1 || ds[0]["status_code"] != nil ||
				!strings.Contains(fmt.Sprint(ds[0]["error"]), "127.0.0.1: not a public address") {
				t.Fatalf("deliveries: %v", ds)
			}
			wantEqual(t, "messages that reached the receiver", len(rcv.at("/h")), 0)
			wantEqual(t, "deliveries by result", r.deliveries(t),
				map[string]float64{"success": 0, "failure": 0, "exhausted": 0, "timeout": 0, "refused": 1})
		})
}

func TestWebhooks_HTTPSurface_AdminOnly_TenantScoped_Idempotent(t *testing.T) {
	t.Parallel()
	eachDatabase(t, hookSettings{allowPrivate: true, schedule: []time.Duration{time.Second}, disableAfter: 20},
		func(t *testing.T, r *hookRig) {
			rcv := newInbox()
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			a, b := r.newTenant(t), r.newTenant(t)
			user := r.addMember(t, a, "USER")

			// Idempotency-Key: the secret is replayed to the same caller,
			// and no second hook is made.
			body := map[string]any{"url": srv.URL + "/a", "events": []string{"task.*", "task.*", "member.joined"}}
			first := r.expect(t, http.StatusCreated, "", "POST", "/webhooks", a.Admin.Token, body, "Idempotency-Key", "k1")
			again := r.expect(t, http.StatusCreated, "", "POST", "/webhooks", a.Admin.Token, body, "Idempotency-Key", "k1")
			if string(first.body) != string(again.body) || again.header.Get("Idempotent-Replayed") != "true" ||
				first.header.Get("Location") == "" || again.header.Get("Location") != first.header.Get("Location") {
				t.Fatalf("replay:\n%s\n%s", first, again)
			}
			var h hookOut
			first.into(t, &h)
			wantEqual(t, "events without duplicates", h.Events, []string{"task.*", "member.joined"})
			var list []map[string]any
			r.expect(t, http.StatusOK, "", "GET", "/webhooks", a.Admin.Token, nil).into(t, &list)
			if len(list) != 1 || list[0]["secret"] != nil || strings.Contains(fmt.Sprint(list), "whsec_") {
				t.Fatalf("list: %v", list)
			}

			// Validation.
			for _, c := range []struct {
				body  map[string]any
				field string
			}{
				{map[string]any{"url": srv.URL, "events": []string{}}, "events"},
				{map[string]any{"url": srv.URL, "events": []string{"task.exploded"}}, "events"},
				{map[string]any{"url": srv.URL, "events": []string{"nothing.*"}}, "events"},
				{map[string]any{"url": srv.URL, "events": slices.Repeat([]string{"*"}, 21)}, "events"},
				{map[string]any{"url": srv.URL, "events": []string{"*"}, "description": strings.Repeat("d", 501)}, "description"},
				{map[string]any{"url": "https://" + strings.Repeat("h", 2000) + ".example/", "events": []string{"*"}}, "url"},
				{map[string]any{"url": "/relative", "events": []string{"*"}}, "url"},
				{map[string]any{"url": srv.URL, "events": []string{"*"}, "secret": "whsec_mine"}, "secret"},
			} {
				p := r.expect(t, http.StatusUnprocessableEntity, "validation_failed", "POST", "/webhooks", a.Admin.Token, c.body).problem(t)
				wantEqual(t, fmt.Sprint(c.body["events"], " fields"), p.fields(), []string{c.field})
			}
			r.expect(t, http.StatusUnprocessableEntity, "validation_failed", "PATCH", hookPath(h.ID), a.Admin.Token,
				map[string]any{"url": nil})
			var patched hookOut
			r.expect(t, http.StatusOK, "", "PATCH", hookPath(h.ID), a.Admin.Token,
				map[string]any{"events": []string{"*"}, "description": "all"}).into(t, &patched)
			wantEqual(t, "patched events", patched.Events, []string{"*"})

			// Ping: 202, sent at once to this hook only, signed, logged
			// with no event id, and not in the event log.
			r.expect(t, http.StatusAccepted, "", "POST", hookPath(h.ID, "/ping"), a.Admin.Token, nil)
			r.d.WaitPings()
			pings := rcv.at("/a")
			if len(pings) != 1 || !strings.HasPrefix(pings[0].id(), "ping_") || !signedBy(t, pings[0], h.Secret) ||
				!strings.Contains(string(pings[0].body), `"type":"webhook.ping"`) {
				t.Fatalf("ping: %+v", pings)
			}
			var ds []map[string]any
			r.expect(t, http.StatusOK, "", "GET", hookPath(h.ID, "/deliveries"), a.Admin.Token, nil).into(t, &ds)
			if len(ds) != 1 || ds[0]["event_id"] != nil || ds[0]["event_type"] != "webhook.ping" || ds[0]["status_code"] != float64(204) {
				t.Fatalf("deliveries after a ping: %v", ds)
			}
			if _, err := r.stores.Events.Number(t.Context(), domain.OrgID(a.ID)); err != nil {
				t.Fatal(err)
			}
			if evs, err := r.stores.Events.List(t.Context(), domain.OrgID(a.ID),
				ports.EventFilter{Types: []string{"webhook.*"}, Limit: 10}); err != nil || len(evs) != 0 {
				t.Fatalf("events after a ping: %v, %v", evs, err)
			}
			r.drain(t)
			wantEqual(t, "messages after a drain", len(rcv.at("/a")), 1)

			// Every endpoint: another organization's hook is 404, a USER
			// gets 403.
			calls := []struct {
				method, path string
				body         any
			}{
				{"GET", hookPath(h.ID), nil},
				{"PATCH", hookPath(h.ID), map[string]any{"description": "x"}},
				{"GET", hookPath(h.ID, "/deliveries"), nil},
				{"POST", hookPath(h.ID, "/ping"), nil},
				{"POST", hookPath(h.ID, "/rotate-secret"), nil},
				{"DELETE", hookPath(h.ID), nil},
			}
			for _, c := range calls {
				r.expect(t, http.StatusNotFound, "webhook_not_found", c.method, c.path, b.Admin.Token, c.body)
				r.expect(t, http.StatusForbidden, "forbidden", c.method, c.path, user.Token, c.body)
			}
			r.expect(t, http.StatusForbidden, "forbidden", "GET", "/webhooks", user.Token, nil)
			r.expect(t, http.StatusForbidden, "forbidden", "POST", "/webhooks", user.Token, body)
			r.expect(t, http.StatusOK, "", "GET", "/webhooks", b.Admin.Token, nil).into(t, &list)
			wantEqual(t, "b's hooks", len(list), 0)
			r.d.WaitPings()
			wantEqual(t, "messages after b's attempts", len(rcv.at("/a")), 1)
			r.expect(t, http.StatusOK, "", "GET", hookPath(h.ID), a.Admin.Token, nil).into(t, &patched)
			wantEqual(t, "a's hook after b's attempts", patched.URL, h.URL)

			r.expect(t, http.StatusNoContent, "", "DELETE", hookPath(h.ID), a.Admin.Token, nil)
			r.expect(t, http.StatusNotFound, "webhook_not_found", "GET", hookPath(h.ID), a.Admin.Token, nil)
			r.expect(t, http.StatusUnprocessableEntity, "validation_failed", "GET", "/webhooks/0", a.Admin.Token, nil)
		})
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
