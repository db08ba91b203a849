package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/webhook"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// verify is the receiver's side of Standard Webhooks, written from the
// specification and not with the sender's code: it reports whether one
// of the space-separated "v1,<base64>" signatures is the HMAC-SHA256 of
// "<id>.<timestamp>.<body>" under the base64-decoded secret.
func verify(t *testing.T, secret string, h http.Header, body []byte) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := m.Sum(nil)
	for _, sig := range strings.Split(h.Get("webhook-signature"), " ") {
		version, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && version == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func newSecret(t *testing.T, b byte) string {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = b + byte(i)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

type received struct {
	header http.Header
	body   []byte
}

// receiver records what it receives and answers status.
type receiver struct {
	mu     sync.Mutex
	got    []received
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body})
	status := r.status
	r.mu.Unlock()
	if status == 0 {
		status = http.StatusNoContent
	}
	w.WriteHeader(status)
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func TestSender_SignsWithEverySecret_AndTheReceiverVerifiesEach(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := webhook.NewSender(webhook.Options{Timeout: 5 * time.Second, AllowPrivate: true})
	cur, prev, other := newSecret(t, 1), newSecret(t, 100), newSecret(t, 200)
	body := []byte(`{"id":7,"type":"task.created","data":{"task":{"title":"é"}}}`)
	ts := time.Unix(1_800_000_000, 0)
	res := s.Send(t.Context(), ports.WebhookMessage{URL: srv.URL + "/hook", ID: "evt_7", Timestamp: ts, Body: body,
		Secrets: []string{cur, prev}})
	if !res.Delivered() || res.StatusCode != http.StatusNoContent || res.Err != "" {
		t.Fatalf("result = %+v", res)
	}
	got := rcv.all()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	h := got[0].header
	if h.Get("webhook-id") != "evt_7" || h.Get("webhook-timestamp") != "1800000000" ||
		h.Get("Content-Type") != "application/json" || string(got[0].body) != string(body) {
		t.Fatalf("headers %v, body %s", h, got[0].body)
	}
	if sigs := strings.Split(h.Get("webhook-signature"), " "); len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two signatures", h.Get("webhook-signature"))
	}
	if !verify(t, cur, h, got[0].body) || !verify(t, prev, h, got[0].body) {
		t.Fatal("a signature does not verify")
	}
	if verify(t, other, h, got[0].body) {
		t.Fatal("another secret verifies: the check proves nothing")
	}
	tampered := h.Clone()
	tampered.Set("webhook-timestamp", "1800000001")
	if verify(t, cur, tampered, got[0].body) {
		t.Fatal("a changed timestamp still verifies")
	}
}

func TestSender_AnythingButA2xxFails_RedirectsAreNotFollowed(t *testing.T) {
	followed := false
	mux := http.NewServeMux()
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) { followed = true })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 10<<20)))
	})
	stop := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(stop) // before Close, which waits for the handlers
	s := webhook.NewSender(webhook.Options{Timeout: 500 * time.Millisecond, AllowPrivate: true})
	send := func(path string) ports.WebhookResult {
		return s.Send(t.Context(), ports.WebhookMessage{URL: srv.URL + path, ID: "evt_1", Timestamp: time.Now(),
			Body: []byte(`{}`), Secrets: []string{newSecret(t, 1)}})
	}
	if r := send("/moved"); r.Delivered() || r.StatusCode != http.StatusTemporaryRedirect || followed ||
		!strings.Contains(r.Err, "redirects are not followed") || r.Result(false) != ports.WebhookFailure {
		t.Fatalf("redirect: %+v, followed %v", r, followed)
	}
	if r := send("/fail"); r.Delivered() || r.StatusCode != 503 || r.Err == "" || r.Result(false) != ports.WebhookFailure ||
		r.Result(true) != ports.WebhookExhausted {
		t.Fatalf("503: %+v", r)
	}
	if r := send("/slow"); r.Delivered() || r.StatusCode != 0 || r.Err != "timed out" || !r.TimedOut ||
		r.Result(false) != ports.WebhookTimeout || r.Result(true) != ports.WebhookExhausted {
		t.Fatalf("slow: %+v", r)
	}
	// A large answer is read only in part: a 2xx is a 2xx.
	if r := send("/big"); !r.Delivered() || r.Result(true) != ports.WebhookSuccess {
		t.Fatalf("big: %+v", r)
	}
	if r := s.Send(t.Context(), ports.WebhookMessage{URL: srv.URL, ID: "x", Timestamp: time.Now(),
		Secrets: []string{"whsec_not base64!"}}); r.Delivered() || r.Err == "" {
		t.Fatalf("bad secret: %+v", r)
	}
}

func TestPublic_RefusesEveryNonPublicForm(t *testing.T) {
	for _, a := range []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
		"::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
		"0.0.0.0", "::", "0.1.2.3", "224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1", "100.64.0.1",
		"198.18.0.1", "192.0.2.1", "240.0.0.1", "255.255.255.255", "fc00::1", "fd12:3456::1",
		"64:ff9b::7f00:1", "2002:7f00:1::1", "2002:a00:1::1", "2001:db8::1", "2001:0:4136:e378::1", "fec0::1",
	} {
		if webhook.Public(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as public", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"} {
		if !webhook.Public(netip.MustParseAddr(a)) {
			t.Errorf("%s counts as not public", a)
		}
	}
}

// fakeResolver answers from a table, which a test may change between
// calls (a name that resolves elsewhere later: DNS rebinding).
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
}

func (r *fakeResolver) set(host string, addrs ...string) {
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

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestCheckTarget_RefusesNonPublicAddresses(t *testing.T) {
	res := &fakeResolver{}
	res.set("public.example", "93.184.216.34")
	res.set("mixed.example", "93.184.216.34", "10.0.0.1")
	res.set("loop.example", "127.0.0.1")
	s := webhook.NewSender(webhook.Options{Resolver: res})
	for _, u := range []string{
		"https://127.0.0.1/h", "https://[::1]/h", "https://10.1.2.3/h", "https://169.254.169.254/latest/meta-data",
		"https://[::ffff:127.0.0.1]/h", "https://[::ffff:7f00:1]/h", "https://0.0.0.0/h", "https://224.0.0.1/h",
		"https://[ff02::1]/h", "https://[fe80::1%25eth0]/h", "https://mixed.example/h", "https://loop.example/h",
		"https://nowhere.example/h",
	} {
		err := s.CheckTarget(t.Context(), u)
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != "url" {
			t.Errorf("%s: err = %v, want a validation error on url", u, err)
		}
	}
	if err := s.CheckTarget(t.Context(), "https://public.example/h"); err != nil {
		t.Fatalf("public host refused: %v", err)
	}
	if err := s.CheckTarget(t.Context(), "https://93.184.216.34:8443/h"); err != nil {
		t.Fatalf("public address refused: %v", err)
	}
	private := webhook.NewSender(webhook.Options{Resolver: res, AllowPrivate: true})
	if err := private.CheckTarget(t.Context(), "http://127.0.0.1:8080/h"); err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
}

// A name that resolved to a public address at registration and resolves
// to 127.0.0.1 at delivery is refused by the dialer itself; with
// AllowPrivate the same delivery goes through, so the refusal is the
// dialer's and not a broken test server.
func TestSender_TheDialerRefusesANameThatNowResolvesToLoopback(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewTLSServer(rcv)
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	res := &fakeResolver{}
	res.set("hooks.example", "93.184.216.34")
	trust := &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		ServerName: "example.com"}
	s := webhook.NewSender(webhook.Options{Timeout: 2 * time.Second, Resolver: res, TLS: trust})
	url := "https://hooks.example:" + strconv.Itoa(port) + "/h"
	if err := s.CheckTarget(t.Context(), url); err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	res.set("hooks.example", "127.0.0.1")
	msg := ports.WebhookMessage{URL: url, ID: "evt_1", Timestamp: time.Now(), Body: []byte(`{}`), Secrets: []string{newSecret(t, 1)}}
	r := s.Send(t.Context(), msg)
	if r.Delivered() || r.StatusCode != 0 || !strings.Contains(r.Err, "127.0.0.1") || !strings.Contains(r.Err, "not a public address") ||
		!r.Refused || r.TimedOut || r.Result(false) != ports.WebhookRefused {
		t.Fatalf("delivery to a name now at 127.0.0.1: %+v", r)
	}
	if n := len(rcv.all()); n != 0 {
		t.Fatalf("the receiver got %d messages", n)
	}
	open := webhook.NewSender(webhook.Options{Timeout: 2 * time.Second, Resolver: res, TLS: trust, AllowPrivate: true})
	if r := open.Send(t.Context(), msg); !r.Delivered() {
		t.Fatalf("with AllowPrivate: %+v", r)
	}
	if n := len(rcv.all()); n != 1 {
		t.Fatalf("the receiver got %d messages, want 1", n)
	}
	// http:// is refused without AllowPrivate, whatever the address.
	if r := s.Send(t.Context(), ports.WebhookMessage{URL: "http://93.184.216.34/h", ID: "x", Timestamp: time.Now(),
		Secrets: []string{newSecret(t, 1)}}); r.Delivered() || !strings.Contains(r.Err, "https://") || !r.Refused {
		t.Fatalf("http: %+v", r)
	}
}

func TestSecretBox_SealsAndOpensUnderTheDerivedKey(t *testing.T) {
	key, other := strings.Repeat("k", 32), strings.Repeat("o", 32)
	box, err := webhook.NewSecretBox(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(newSecret(t, 7))
	a, err := box.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := box.Seal(plain)
	if string(a) == string(b) || strings.Contains(string(a), string(plain)) {
		t.Fatal("sealing is deterministic or shows the secret")
	}
	if got, err := box.Open(a); err != nil || string(got) != string(plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	a[len(a)-1] ^= 1
	if _, err := box.Open(a); !errors.Is(err, webhook.ErrUnsealable) {
		t.Fatalf("tampered: %v", err)
	}
	wrong, _ := webhook.NewSecretBox(other)
	if _, err := wrong.Open(b); !errors.Is(err, webhook.ErrUnsealable) {
		t.Fatalf("another key: %v", err)
	}
	// After a SECRET_KEY rotation the old seals still open.
	rotated, _ := webhook.NewSecretBox(other, key)
	if got, err := rotated.Open(b); err != nil || string(got) != string(plain) {
		t.Fatalf("rotated open = %q, %v", got, err)
	}
}

func TestRedactURL_HidesCredentialsAndQueryValues(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.example/h":                         "https://hooks.example/h",
		"https://hooks.example:8443/a/b?token=s3cret&x=1": "https://hooks.example:8443/a/b?token=REDACTED&x=REDACTED",
		"https://user:pw@hooks.example/h":                 "https://REDACTED:REDACTED@hooks.example/h",
		"https://hooks.example/h#frag":                    "https://hooks.example/h",
		"://bad":                                          "",
	} {
		if got := webhook.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
