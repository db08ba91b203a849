package bootstrap_test

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// from returns a copy of a whose requests leave from the loopback address
// ip (any 127.0.0.0/8 address works on Linux), to play another client.
func (a *api) from(ip string) *api {
	b := *a
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	b.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	return &b
}

// expectLimited checks a 429: problem+json code rate_limited, Retry-After
// and the RateLimit header fields.
func expectLimited(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("%s: want 429", r)
	}
	if p := r.problem(t); p.Code != "rate_limited" {
		t.Fatalf("%s: code %q", r, p.Code)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("%s: Retry-After %q", r, r.header.Get("Retry-After"))
	}
	if r.header.Get("RateLimit-Limit") == "" || r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") == "" {
		t.Fatalf("%s: RateLimit headers %v", r, r.header)
	}
}

func badLogin(email string) map[string]any {
	return map[string]any{"email": email, "password": "wrong-password"}
}

func TestRateLimits(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend, newDatabase(t))
			cfg.AuthPerMinute, cfg.OrgPerMinute = 3, 40
			a := startServer(t, cfg)

			t.Run("login_per_ip_then_429_and_another_ip_is_not_throttled", func(t *testing.T) {
				c := a.from("127.0.0.11")
				for i := range 3 {
					r := c.do(t, "POST", "/login", "", badLogin(uniqueEmail("ip"+strconv.Itoa(i))))
					if r.status != http.StatusUnauthorized {
						t.Fatalf("attempt %d: %s", i+1, r)
					}
					if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(2-i) {
						t.Fatalf("attempt %d: RateLimit-Remaining %q", i+1, got)
					}
				}
				expectLimited(t, c.do(t, "POST", "/login", "", badLogin(uniqueEmail("ip"))))
				if r := a.from("127.0.0.12").do(t, "POST", "/login", "", badLogin(uniqueEmail("other"))); r.status != http.StatusUnauthorized {
					t.Fatalf("another IP was throttled: %s", r)
				}
			})
			t.Run("login_per_email_across_ips", func(t *testing.T) {
				email := uniqueEmail("target")
				for i, ip := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"} {
					if r := a.from(ip).do(t, "POST", "/login", "", badLogin(email)); r.status != http.StatusUnauthorized {
						t.Fatalf("attempt %d: %s", i+1, r)
					}
				}
				expectLimited(t, a.from("127.0.0.24").do(t, "POST", "/login", "", badLogin(email)))
				if r := a.from("127.0.0.24").do(t, "POST", "/login", "", badLogin(uniqueEmail("someone-else"))); r.status != http.StatusUnauthorized {
					t.Fatalf("another email from that IP was throttled: %s", r)
				}
			})
			t.Run("signup_and_organization_creation_per_ip", func(t *testing.T) {
				c := a.from("127.0.0.31")
				for range 3 {
					c.expect(t, http.StatusCreated, "", "POST", "/organizations", "", map[string]any{"name": unique("org")})
				}
				expectLimited(t, c.do(t, "POST", "/organizations", "", map[string]any{"name": unique("org")}))
				for range 3 {
					c.expect(t, http.StatusForbidden, "invite_invalid", "POST", "/signup", "",
						map[string]any{"email": uniqueEmail("s"), "password": password, "invite_code": "nope"})
				}
				expectLimited(t, c.do(t, "POST", "/signup", "", map[string]any{"email": uniqueEmail("s"), "password": password, "invite_code": "nope"}))
			})
			t.Run("authenticated_traffic_per_organization", func(t *testing.T) {
				busy, calm := a.from("127.0.0.41").newTenant(t), a.from("127.0.0.42").newTenant(t)
				var last reply
				for i := 0; i < 41; i++ {
					last = a.do(t, "GET", "/tasks", busy.Admin.Token, nil)
					if last.status == http.StatusTooManyRequests {
						break
					}
				}
				expectLimited(t, last)
				a.expect(t, http.StatusOK, "", "GET", "/tasks", calm.Admin.Token, nil)
			})
		})
	}
}

// TestRateLimits_RedisCountsAreSharedByReplicas: two servers on one
// database and one Redis share the per-IP count.
func TestRateLimits_RedisCountsAreSharedByReplicas(t *testing.T) {
	t.Parallel()
	db := newDatabase(t)
	cfg1 := testConfig(t, "redis", db)
	cfg1.AuthPerMinute = 2
	one := startServer(t, cfg1)
	cfg2 := *cfg1
	two := startServer(t, &cfg2)
	ip := "127.0.0.51"
	for _, s := range []*api{one, two} {
		if r := s.from(ip).do(t, "POST", "/login", "", badLogin(uniqueEmail("r"))); r.status != http.StatusUnauthorized {
			t.Fatalf("%s", r)
		}
	}
	expectLimited(t, one.from(ip).do(t, "POST", "/login", "", badLogin(uniqueEmail("r"))))
}

// TestRateLimits_FailOpenWhenRedisIsDown: counters unreachable means no
// limit, not refused logins.
func TestRateLimits_FailOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "redis", newDatabase(t))
	cfg.RedisURL = "redis://127.0.0.1:" + strconv.Itoa(deadPort(t)) + "/0"
	cfg.AuthPerMinute = 1
	a := startServer(t, cfg)
	for range 3 {
		if r := a.do(t, "POST", "/login", "", badLogin(uniqueEmail("x"))); r.status != http.StatusUnauthorized {
			t.Fatalf("with the limiter down: %s", r)
		}
	}
}
