package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskflow/taskflow/adapters/auth"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	t0         = time.Date(2026, 11, 28, 6, 56, 9, 0, time.UTC)
)

const testTTL = 30 * time.Minute

// testAudience stands for an installation id.
const testAudience = "3f2a9c0d5e7b41a6b8c1d2e3f4a5b6c7"

func newJWT(t testing.TB) (*auth.JWT, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: t0}
	return auth.NewJWT(testSecret, testAudience, testTTL, clock), clock
}

func TestJWT_IssueVerify(t *testing.T) {
	t.Parallel()

	t.Run("round_trip_returns_the_claims", func(t *testing.T) {
		t.Parallel()
		j, _ := newJWT(t)
		for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleUser} {
			in := ports.TokenClaims{UserID: 7, OrgID: 3, Role: role}
			tok, err := j.Issue(in)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			got, err := j.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := ports.TokenClaims{UserID: 7, OrgID: 3, Role: role, ExpiresAt: t0.Add(testTTL)}
			if got != want {
				t.Fatalf("Verify = %+v, want %+v", got, want)
			}
		}
	})

	t.Run("claims_are_those_of_the_contract", func(t *testing.T) {
		t.Parallel()
		j, _ := newJWT(t)
		tok, err := j.Issue(ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		header, payload := decodeParts(t, tok)
		if header["alg"] != "HS256" {
			t.Errorf("alg = %v, want HS256", header["alg"])
		}
		want := map[string]any{
			"sub": "7", "user_id": json.Number("7"), "organization_id": json.Number("3"), "role": "USER",
			"iss": "taskflow", "aud": []any{testAudience}, "iat": json.Number(strconv.FormatInt(t0.Unix(), 10)),
			"exp": json.Number(strconv.FormatInt(t0.Add(testTTL).Unix(), 10)),
		}
		jti, _ := payload["jti"].(string)
		if len(jti) < 22 {
			t.Errorf("jti = %q, want at least 128 bits encoded", jti)
		}
		delete(payload, "jti")
		if !reflect.DeepEqual(payload, want) {
			t.Errorf("payload = %v, want %v plus jti", payload, want)
		}
	})

	t.Run("each_token_has_its_own_jti", func(t *testing.T) {
		t.Parallel()
		j, _ := newJWT(t)
		seen := map[any]bool{}
		for range 50 {
			tok, err := j.Issue(ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleAdmin})
			if err != nil {
				t.Fatal(err)
			}
			_, p := decodeParts(t, tok)
			if seen[p["jti"]] {
				t.Fatalf("jti %v repeated", p["jti"])
			}
			seen[p["jti"]] = true
		}
	})

	t.Run("ttl_is_the_configured_one", func(t *testing.T) {
		t.Parallel()
		j, _ := newJWT(t)
		if j.TTL() != testTTL {
			t.Fatalf("TTL = %v, want %v", j.TTL(), testTTL)
		}
	})

	t.Run("expired_within_leeway_is_accepted", func(t *testing.T) {
		t.Parallel()
		j, clock := newJWT(t)
		tok, err := j.Issue(ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(testTTL + auth.Leeway - time.Second))
		if _, err := j.Verify(tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})

	t.Run("invalid_claims_are_not_issued", func(t *testing.T) {
		t.Parallel()
		j, _ := newJWT(t)
		for _, c := range []ports.TokenClaims{
			{UserID: 0, OrgID: 1, Role: domain.RoleUser},
			{UserID: 1, OrgID: -1, Role: domain.RoleUser},
			{UserID: 1, OrgID: 1, Role: "ROOT"},
		} {
			if _, err := j.Issue(c); err == nil {
				t.Errorf("Issue(%+v) succeeded, want an error", c)
			}
		}
	})

	t.Run("empty_secret_signs_nothing", func(t *testing.T) {
		t.Parallel()
		j := auth.NewJWT(nil, testAudience, testTTL, &fakeClock{now: t0})
		if _, err := j.Issue(ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleUser}); err == nil {
			t.Fatal("Issue with an empty secret succeeded")
		}
		tok := sign(t, jwt.SigningMethodHS256, []byte{}, validClaims())
		if _, err := j.Verify(tok); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("Verify with an empty secret = %v, want ErrUnauthenticated", err)
		}
	})
}

// validClaims is a payload the verifier accepts at t0 when signed with
// testSecret; each rejection case breaks one thing.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "7", "user_id": 7, "organization_id": 3, "role": "USER",
		"iat": t0.Unix(), "exp": t0.Add(testTTL).Unix(), "jti": "aGVsbG8td29ybGQtaGVsbG8", "iss": "taskflow",
		"aud": testAudience,
	}
}

func with(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := validClaims()
	edit(c)
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func decodeParts(t testing.TB, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

func TestJWT_Verify(t *testing.T) {
	t.Parallel()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := newJWT(t)

	if _, err := j.Verify(sign(t, jwt.SigningMethodHS256, testSecret, validClaims())); err != nil {
		t.Fatalf("the baseline token is refused: %v", err)
	}

	tampered := func() string {
		tok, err := j.Issue(ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		p = []byte(strings.Replace(string(p), `"role":"USER"`, `"role":"ADMIN"`, 1))
		if !strings.Contains(string(p), `"ADMIN"`) {
			t.Fatal("payload not tampered")
		}
		parts[1] = base64.RawURLEncoding.EncodeToString(p)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name  string
		token string
	}{
		{"alg_none_is_rejected", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims())},
		{"hs512_with_the_same_key_is_rejected", sign(t, jwt.SigningMethodHS512, testSecret, validClaims())},
		{"hs384_with_the_same_key_is_rejected", sign(t, jwt.SigningMethodHS384, testSecret, validClaims())},
		{"rs256_signed_token_is_rejected", sign(t, jwt.SigningMethodRS256, rsaKey, validClaims())},
		{"other_key_is_rejected", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32"), validClaims())},
		{"expired_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = t0.Add(-time.Hour).Unix(), t0.Add(-auth.Leeway-time.Second).Unix()
		}))},
		{"no_exp_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"wrong_iss_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["iss"] = "evil" }))},
		{"another_installations_aud_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["aud"] = "another-installation" }))},
		{"another_installations_aud_in_a_list_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["aud"] = []string{"another-installation"} }))},
		{"no_aud_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{"empty_aud_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["aud"] = "" }))},
		{"no_iss_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"iat_in_the_future_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) {
			c["iat"] = t0.Add(time.Minute).Unix()
		}))},
		{"no_iat_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { delete(c, "iat") }))},
		{"no_jti_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { delete(c, "jti") }))},
		{"tampered_payload_is_rejected", tampered()},
		{"garbage_is_rejected", "not.a.token"},
		{"three_dots_of_nothing_is_rejected", ".."},
		{"empty_is_rejected", ""},
		{"sub_user_id_mismatch_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["sub"] = "8" }))},
		{"no_sub_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { delete(c, "sub") }))},
		{"zero_user_id_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["user_id"], c["sub"] = 0, "0" }))},
		{"negative_organization_id_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["organization_id"] = -3 }))},
		{"fractional_user_id_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["user_id"] = 7.5 }))},
		{"string_user_id_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["user_id"] = "7" }))},
		{"unknown_role_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["role"] = "ROOT" }))},
		{"lower_case_role_is_rejected", sign(t, jwt.SigningMethodHS256, testSecret, with(func(c jwt.MapClaims) { c["role"] = "admin" }))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := j.Verify(tt.token)
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("Verify = %+v, %v; want ErrUnauthenticated", got, err)
			}
			if got != (ports.TokenClaims{}) {
				t.Errorf("Verify returned claims %+v with its error", got)
			}
			// The message a client sees is the domain error's, never the cause.
			var de *domain.Error
			if !errors.As(err, &de) || de.Message != domain.ErrUnauthenticated.Message || de.Kind != domain.KindUnauthorized {
				t.Errorf("errors.As = %+v, want the unauthenticated domain error", de)
			}
		})
	}
}

func TestJWT_Verify_keeps_the_cause_for_logs(t *testing.T) {
	t.Parallel()
	j, clock := newJWT(t)
	tok, err := j.Issue(ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(time.Hour))
	_, err = j.Verify(tok)
	if !errors.Is(err, jwt.ErrTokenExpired) || !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("Verify = %v, want both ErrTokenExpired and ErrUnauthenticated", err)
	}
}

func BenchmarkJWT_Issue(b *testing.B) {
	j, _ := newJWT(b)
	c := ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleAdmin}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Issue(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWT_Verify(b *testing.B) {
	j, _ := newJWT(b)
	tok, err := j.Issue(ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJWT_KeyRotation(t *testing.T) {
	t.Parallel()
	oldKey := []byte("old-key-0123456789abcdef0123456789")
	newKey := []byte("new-key-0123456789abcdef0123456789")
	clock := &fakeClock{now: t0}
	claims := ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleAdmin}

	before := auth.NewJWT(oldKey, testAudience, testTTL, clock)
	oldToken, err := before.Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	during := auth.NewJWT(newKey, testAudience, testTTL, clock, oldKey)
	after := auth.NewJWT(newKey, testAudience, testTTL, clock)

	t.Run("tokens_carry_the_kid_of_their_key", func(t *testing.T) {
		tok, _ := during.Issue(claims)
		parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if kid := parsed.Header["kid"]; kid != auth.KeyID(newKey) {
			t.Fatalf("kid = %v, want %s", kid, auth.KeyID(newKey))
		}
		if strings.Contains(tok, string(newKey)) || auth.KeyID(newKey) == auth.KeyID(oldKey) {
			t.Fatal("kid must name the key without revealing it")
		}
	})
	t.Run("previous_key_is_accepted_during_rotation", func(t *testing.T) {
		if _, err := during.Verify(oldToken); err != nil {
			t.Fatalf("old token during rotation: %v", err)
		}
	})
	t.Run("new_tokens_are_signed_with_the_new_key", func(t *testing.T) {
		tok, _ := during.Issue(claims)
		if _, err := after.Verify(tok); err != nil {
			t.Fatalf("token issued during rotation, verified after: %v", err)
		}
		if _, err := before.Verify(tok); err == nil {
			t.Fatal("a verifier with only the old key accepted a new-key token")
		}
	})
	t.Run("previous_key_is_refused_once_rotation_ends", func(t *testing.T) {
		if _, err := after.Verify(oldToken); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("old token after rotation: err = %v", err)
		}
	})
	t.Run("a_kid_naming_the_previous_key_but_signed_with_another_is_refused", func(t *testing.T) {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "7", "user_id": 7, "organization_id": 3, "role": "ADMIN", "iss": auth.Issuer,
			"iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(), "jti": "x",
		})
		tok.Header["kid"] = auth.KeyID(oldKey)
		s, _ := tok.SignedString([]byte("attacker-key-0123456789abcdef01234"))
		if _, err := during.Verify(s); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestJWT_SessionIDRoundTrips(t *testing.T) {
	t.Parallel()
	j, _ := newJWT(t)
	tok, err := j.Issue(ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleUser, SessionID: 42})
	if err != nil {
		t.Fatal(err)
	}
	c, err := j.Verify(tok)
	if err != nil || c.SessionID != 42 {
		t.Fatalf("Verify = %+v, %v; want sid 42", c, err)
	}
}

// TestJWT_RememberedTokensStillExpire: Verify remembers tokens it has
// verified, but not past their exp.
func TestJWT_RememberedTokensStillExpire(t *testing.T) {
	t.Parallel()
	j, clock := newJWT(t)
	tok, err := j.Issue(ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleUser, SessionID: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := j.Verify(tok); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
	}
	clock.Set(t0.Add(testTTL + auth.Leeway + time.Second))
	if _, err := j.Verify(tok); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("remembered token past its exp: err = %v", err)
	}
	if _, err := j.Verify(tok[:len(tok)-2] + "xx"); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("tampered copy of a remembered token: err = %v", err)
	}
}

// TestJWT_InstallationsSharingAKeyRefuseEachOthersTokens: the same secret
// with another audience (another installation's database) verifies
// nothing the first one issued, and the other way round.
func TestJWT_InstallationsSharingAKeyRefuseEachOthersTokens(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: t0}
	here := auth.NewJWT(testSecret, testAudience, testTTL, clock)
	there := auth.NewJWT(testSecret, "another-installation-id", testTTL, clock)
	claims := ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleAdmin, SessionID: 1}
	for _, pair := range []struct {
		name             string
		issuer, verifier *auth.JWT
	}{{"here_to_there", here, there}, {"there_to_here", there, here}} {
		tok, err := pair.issuer.Issue(claims)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pair.issuer.Verify(tok); err != nil {
			t.Fatalf("%s: the issuer refuses its own token: %v", pair.name, err)
		}
		if got, err := pair.verifier.Verify(tok); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("%s: Verify = %+v, %v; want ErrUnauthenticated", pair.name, got, err)
		}
	}
}

func TestJWT_EmptyAudienceSignsAndAcceptsNothing(t *testing.T) {
	t.Parallel()
	j := auth.NewJWT(testSecret, "", testTTL, &fakeClock{now: t0})
	if _, err := j.Issue(ports.TokenClaims{UserID: 1, OrgID: 1, Role: domain.RoleUser}); err == nil {
		t.Fatal("Issue with an empty audience succeeded")
	}
	for _, c := range []jwt.MapClaims{validClaims(), with(func(c jwt.MapClaims) { delete(c, "aud") })} {
		if _, err := j.Verify(sign(t, jwt.SigningMethodHS256, testSecret, c)); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("Verify with an empty audience = %v, want ErrUnauthenticated", err)
		}
	}
}
