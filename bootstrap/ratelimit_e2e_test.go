package bootstrap_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow/taskflow/adapters/faulttest"
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

// TestRateLimits_LoginFailures: failed logins count per email and client
// address at the auth limit, and per email across addresses only at ten
// times that (security finding 4: ten wrong passwords from one address
// made the owner's correct login from another one 429).
func TestRateLimits_LoginFailures(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			t.Run("a_third_party_cannot_lock_the_owner_out", func(t *testing.T) {
				t.Parallel()
				cfg := testConfig(t, backend, newDatabase(t))
				cfg.AuthPerMinute = 10
				a := startServer(t, cfg)
				victim := a.newTenant(t).Admin
				attacker := a.from("127.0.0.61")
				for i := range 10 {
					if r := attacker.do(t, "POST", "/login", "", badLogin(victim.Email)); r.status != http.StatusUnauthorized {
						t.Fatalf("wrong password %d: %s", i+1, r)
					}
				}
				// Brute force from one address is still stopped.
				expectLimited(t, attacker.do(t, "POST", "/login", "", badLogin(victim.Email)))
				expectLimited(t, attacker.do(t, "POST", "/login", "", map[string]any{"email": victim.Email, "password": password}))
				// The owner, from elsewhere, gets in.
				owner := a.from("127.0.0.62")
				if r := owner.do(t, "POST", "/login", "", map[string]any{"email": victim.Email, "password": password}); r.status != http.StatusOK {
					t.Fatalf("the owner's correct login from another address: %s", r)
				}
				// And so does a guess from a third address: only the
				// address that failed is held back for this email.
				if r := a.from("127.0.0.63").do(t, "POST", "/login", "", badLogin(victim.Email)); r.status != http.StatusUnauthorized {
					t.Fatalf("a wrong password from a third address: %s", r)
				}
			})
			t.Run("a_guess_spread_over_addresses_stops_at_ten_times_the_limit", func(t *testing.T) {
				t.Parallel()
				cfg := testConfig(t, backend, newDatabase(t))
				cfg.AuthPerMinute = 2
				a := startServer(t, cfg)
				victim := a.newTenant(t).Admin
				// Twenty addresses, one wrong password each: 10x the
				// per-address limit of 2.
				for i := range 20 {
					ip := "127.0.1." + strconv.Itoa(10+i)
					if r := a.from(ip).do(t, "POST", "/login", "", badLogin(victim.Email)); r.status != http.StatusUnauthorized {
						t.Fatalf("wrong password %d from %s: %s", i+1, ip, r)
					}
				}
				expectLimited(t, a.from("127.0.1.100").do(t, "POST", "/login", "", badLogin(victim.Email)))
				// Past that threshold the owner waits too: the price of
				// stopping a distributed guess.
				expectLimited(t, a.from("127.0.1.101").do(t, "POST", "/login", "", map[string]any{"email": victim.Email, "password": password}))
				// Other accounts are not affected.
				other := a.newTenant(t).Admin
				if r := a.from("127.0.1.100").do(t, "POST", "/login", "", map[string]any{"email": other.Email, "password": password}); r.status != http.StatusOK {
					t.Fatalf("another account's login: %s", r)
				}
			})
		})
	}
}

// TestRateLimits_RedisKeysHoldNoEmail: the per-email counters are keyed
// by a hash of the address, never the address itself.
func TestRateLimits_RedisKeysHoldNoEmail(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "redis", newDatabase(t))
	cfg.AuthPerMinute = 5
	a := startServer(t, cfg)
	local := unique("Hashed")
	email := local + "@Example.test"
	a.from("127.0.0.71").do(t, "POST", "/login", "", badLogin(email))
	a.from("127.0.0.72").do(t, "POST", "/signup", "", map[string]any{"email": email, "password": password, "invite_code": "nope"})

	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	keys := func(pattern string) []string {
		t.Helper()
		var out []string
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The shared Redis holds other tests' keys too: look for this test's
	// address, in either case, anywhere.
	for _, p := range []string{"*" + local + "*", "*" + strings.ToLower(local) + "*"} {
		if ks := keys(p); len(ks) > 0 {
			t.Errorf("keys holding the email: %q", ks)
		}
	}
	// And the counters are there, under the hash of the normalized
	// address.
	sum := sha256.Sum256([]byte("taskflow rate limit email\x00" + strings.ToLower(email)))
	h := hex.EncodeToString(sum[:16])
	for _, k := range []string{"login:fail:email:" + h, "signup:email:" + h} {
		if len(keys("*:rl:{"+k+"}:*")) != 1 {
			t.Errorf("no rate-limit key for %s", k)
		}
	}
}

// TestRateLimits_RedisCountsAreSharedByReplicas: two servers on one
// database and one Redis (a single node, then a cluster) share the per-IP
// count.
func TestRateLimits_RedisCountsAreSharedByReplicas(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"redis", "redis-cluster"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testRedisCountsAreSharedByReplicas(t, backend)
		})
	}
}

func testRedisCountsAreSharedByReplicas(t *testing.T, backend string) {
	db := newDatabase(t)
	cfg1 := testConfig(t, backend, db)
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

// TestRateLimits_PerReplicaCountsWhileRedisIsDown: with its Redis killed,
// a replica keeps counting on its own (it used to switch the limits off),
// and counts in Redis again once it is back.
func TestRateLimits_PerReplicaCountsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	r := faulttest.StartRedis(t)
	cfg := testConfig(t, "redis", newDatabase(t))
	cfg.RedisURL = r.URL()
	cfg.AuthPerMinute = 10
	a := startServer(t, cfg)
	r.Kill()

	c := a.from("127.0.0.81")
	for i := range 10 {
		if r := c.do(t, "POST", "/login", "", badLogin(uniqueEmail("down"))); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d with Redis down: %s", i+1, r)
		}
	}
	expectLimited(t, c.do(t, "POST", "/login", "", badLogin(uniqueEmail("down"))))

	r.Start()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	// Each try comes from an address of its own, so that none is
	// limited, and shows whether its count reached Redis.
	try := 0
	faulttest.WaitFor(t, "a request counted in Redis again", 10*time.Second, func() bool {
		try++
		ip := "127.0.2." + strconv.Itoa(try)
		if r := a.from(ip).do(t, "POST", "/token/refresh", "", map[string]any{"refresh_token": "nope"}); r.status != http.StatusUnauthorized {
			t.Fatalf("refresh with a bad token: %s", r)
		}
		keys, err := rdb.Keys(t.Context(), "*:rl:{refresh:ip:"+ip+"}:*").Result()
		return err == nil && len(keys) == 1
	})
}
