package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.WebhookSender        = (*Sender)(nil)
	_ ports.WebhookTargetChecker = (*Sender)(nil)
)

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// maxResponseRead is how much of a receiver's answer is read: enough to
// keep the connection reusable after a short answer, never a large one.
const maxResponseRead = 4 << 10

// Resolver finds a host's addresses; *net.Resolver is one. Tests inject
// their own, so that a name can resolve to 127.0.0.1 without a DNS
// server.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Sender.
type Options struct {
	// Timeout bounds one attempt: connecting, sending and the answer's
	// status line (WEBHOOK_TIMEOUT).
	Timeout time.Duration
	// AllowPrivate lets hooks reach loopback and private addresses and
	// use http:// (WEBHOOK_ALLOW_PRIVATE: development and tests only).
	AllowPrivate bool
	// Resolver resolves hosts, at registration and at delivery; nil is
	// net.DefaultResolver.
	Resolver Resolver
	// TLS, when set, configures the client's TLS (tests trust their
	// receiver's certificate with it); nil is Go's default.
	TLS *tls.Config
	// Tracer, when set, makes a client span of each attempt and passes
	// its traceparent to the receiver; nil (tracing off) makes none.
	Tracer Tracer
}

// Tracer makes the span of one attempt; *telemetry.Tracing is one
// (adapters do not import each other: bootstrap passes it in).
type Tracer interface {
	Span(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, func(error))
	Inject(ctx context.Context, h http.Header)
}

// Sender posts signed webhook messages. Its HTTP client never uses a
// proxy, never follows a redirect, and dials through a net.Dialer whose
// Control refuses every address that is not public (Public), after DNS
// resolution and for every address tried: a name that resolved to a
// public address at registration and resolves to 127.0.0.1 now is
// refused now.
type Sender struct {
	opts   Options
	client *http.Client
}

// NewSender builds the sender.
func NewSender(opts Options) *Sender {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	s := &Sender{opts: opts}
	dialer := &net.Dialer{Timeout: opts.Timeout, Control: s.control}
	transport := &http.Transport{
		Proxy: nil, // a proxy would connect on our behalf, past the dialer's check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.dial(ctx, dialer, network, addr)
		},
		TLSClientConfig:       opts.TLS,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	s.client = &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		// A 3xx is the receiver's answer, and a failure: following it
		// would let a public host send us anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// errRefusedAddress is a connection the dialer would not make.
type errRefusedAddress struct{ addr string }

func (e errRefusedAddress) Error() string {
	return "refused to connect to " + e.addr + ": not a public address"
}

// control runs for every connection attempt, with the address about to
// be connected to: the last word, whatever resolved it.
func (s *Sender) control(network, address string, _ syscall.RawConn) error {
	if s.opts.AllowPrivate {
		return nil
	}
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("refused to connect over %s", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused to connect to %q: %w", address, err)
	}
	if !Public(ap.Addr()) {
		return errRefusedAddress{addr: ap.Addr().String()}
	}
	return nil
}

// dial resolves addr's host with the configured resolver and dials its
// addresses in turn (each one passing control).
func (s *Sender) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = s.opts.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
	}
	var first error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// Sign is the Standard Webhooks signature of one message with one secret
// ("whsec_" and the base64 of the key): "v1," and the base64 of
// HMAC-SHA256(key, "<id>.<timestamp>.<body>").
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Send makes one attempt. Every outcome is a result: a 2xx is delivered,
// anything else (another status, a refused address, a timeout) says why
// not.
func (s *Sender) Send(ctx context.Context, m ports.WebhookMessage) ports.WebhookResult {
	start := time.Now()
	var end func(error)
	if s.opts.Tracer != nil {
		ctx, end = s.opts.Tracer.Span(ctx, "webhook.deliver", trace.SpanKindClient,
			attribute.Int64("webhook.id", int64(m.WebhookID)),
			attribute.Int64("webhook.event.id", m.EventID),
			attribute.String("webhook.message.id", m.ID),
			attribute.Int("webhook.attempt", m.Attempt),
			attribute.String("http.request.method", http.MethodPost),
			attribute.String("url.full", RedactURL(m.URL)))
	}
	res := s.send(ctx, m)
	res.Duration = time.Since(start)
	if end != nil {
		span := trace.SpanFromContext(ctx)
		if res.StatusCode != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
		}
		var err error
		if !res.Delivered() {
			span.SetAttributes(attribute.String("error.type", string(res.Result(false))))
			err = errors.New(res.Err)
		}
		end(err)
	}
	return res
}

// RedactURL is raw without its secrets, for a span's url.full: the user
// information and every query value become REDACTED (OpenTelemetry's
// convention). A URL that does not parse is left out entirely.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.User != nil {
		u.User = url.UserPassword("REDACTED", "REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = "REDACTED"
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

func (s *Sender) send(ctx context.Context, m ports.WebhookMessage) ports.WebhookResult {
	ts := m.Timestamp.Unix()
	sigs := make([]string, 0, len(m.Secrets))
	for _, secret := range m.Secrets {
		sig, err := Sign(secret, m.ID, ts, m.Body)
		if err != nil {
			return ports.WebhookResult{Err: err.Error()}
		}
		sigs = append(sigs, sig)
	}
	u, err := url.Parse(m.URL)
	allowed := u != nil && (u.Scheme == "https" || u.Scheme == "http" && s.opts.AllowPrivate)
	if err != nil || !allowed {
		return ports.WebhookResult{Err: "refused: the URL must be https://", Refused: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return ports.WebhookResult{Err: "bad URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "TaskFlow-Webhooks/1")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", strings.Join(sigs, " "))
	if s.opts.Tracer != nil {
		s.opts.Tracer.Inject(ctx, req.Header) // the receiver may continue the trace
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var refused errRefusedAddress
		var ne net.Error
		return ports.WebhookResult{Err: describe(err), Refused: errors.As(err, &refused),
			TimedOut: errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
	_ = resp.Body.Close()
	out := ports.WebhookResult{StatusCode: resp.StatusCode}
	if !out.Delivered() {
		out.Err = "the receiver answered " + strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			out.Err += " (redirects are not followed)"
		}
	}
	return out
}

// describe says why an attempt failed, in a line for the deliveries log.
func describe(err error) string {
	var refused errRefusedAddress
	var ne net.Error
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// CheckTarget resolves the URL's host and refuses it unless every address
// is public (with AllowPrivate: anything goes).
func (s *Sender) CheckTarget(ctx context.Context, rawURL string) error {
	if s.opts.AllowPrivate {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return domain.Invalid(domain.FieldError{Field: "url", Message: "must be an absolute https:// URL"})
	}
	host := u.Hostname()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err = s.opts.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return domain.Invalid(domain.FieldError{Field: "url", Message: "the host " + host + " does not resolve"})
		}
	}
	for _, ip := range ips {
		if !Public(ip) {
			return domain.Invalid(domain.FieldError{Field: "url",
				Message: "must reach a public address; " + host + " is or resolves to " + ip.String() +
					" (loopback, private, link-local, multicast and other non-public addresses are refused)"})
		}
	}
	return nil
}
