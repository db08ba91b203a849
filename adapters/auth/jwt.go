package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Issuer is the iss claim of every token TaskFlow signs and accepts.
const Issuer = "taskflow"

// Leeway is the clock skew tolerated on exp and iat. Tokens are signed and
// verified by this service only, but several replicas may do so and their
// clocks drift a little: without leeway a token minted by a replica whose
// clock runs ahead would be refused by the others as "issued in the
// future". Five seconds covers NTP-synchronised hosts and extends a 30
// minute token by a negligible amount.
const Leeway = 5 * time.Second

var (
	_ ports.TokenIssuer   = (*JWT)(nil)
	_ ports.TokenVerifier = (*JWT)(nil)
)

// JWT issues and verifies HS256 access tokens.
type JWT struct {
	secret []byte
	kid    string
	// audience names this installation (its database's installation id):
	// two installations that share a secret still refuse each other's
	// tokens, whose ids would name other people there.
	audience string
	// verifyKeys maps a kid to its key: the current one and any previous
	// key still accepted during a rotation.
	verifyKeys map[string][]byte
	ttl        time.Duration
	clock      ports.Clock
	parser     *jwt.Parser
	verified   verifiedTokens
}

// NewJWT returns a token issuer and verifier signing with secret, for
// audience (the aud claim every token carries and must carry). Tokens
// live for ttl from the clock's now. The secret's strength is checked by
// config at start-up (at least 32 bytes); an empty secret or audience
// makes every Issue and Verify fail rather than sign with no key at all
// or for anyone.
//
// previous keys (SECRET_KEY_PREVIOUS) are accepted for verification only:
// during a rotation, tokens signed with the old key keep working until
// they expire, while every new token is signed with secret. Tokens carry
// a kid header naming their key (a fingerprint, never the key).
func NewJWT(secret []byte, audience string, ttl time.Duration, clock ports.Clock, previous ...[]byte) *JWT {
	j := &JWT{secret: append([]byte(nil), secret...), kid: KeyID(secret), audience: audience, ttl: ttl, clock: clock,
		verifyKeys: map[string][]byte{}}
	if len(secret) > 0 {
		j.verifyKeys[j.kid] = j.secret
	}
	for _, p := range previous {
		if len(p) > 0 {
			j.verifyKeys[KeyID(p)] = append([]byte(nil), p...)
		}
	}
	j.parser = jwt.NewParser(
		// Pinning the algorithm defeats alg=none and the RS256/HS256
		// confusion, whatever the token's header claims.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(Issuer),
		// Required: a token without aud is refused like a wrong one.
		jwt.WithAudience(audience),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(clock.Now),
		jwt.WithStrictDecoding(),
	)
	return j
}

// claims is the token's JSON payload. user_id, organization_id and role
// are the original API's claims, kept for clients that read them; sub
// repeats the user id as a string, as RFC 7519 wants.
type claims struct {
	UserID int64  `json:"user_id"`
	OrgID  int64  `json:"organization_id"`
	Role   string `json:"role"`
	// SessionID (sid) names the login session; the application refuses a
	// token whose session has ended.
	SessionID int64 `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// TTL is the lifetime of the tokens Issue signs.
func (j *JWT) TTL() time.Duration { return j.ttl }

// Issue signs a token for c. The issuer owns the lifetime: c.ExpiresAt is
// ignored and exp is the clock's now plus TTL, so no caller can mint a
// longer-lived token by accident.
func (j *JWT) Issue(c ports.TokenClaims) (string, error) {
	if len(j.secret) == 0 {
		return "", errors.New("issue token: empty signing key")
	}
	if j.audience == "" {
		return "", errors.New("issue token: empty audience")
	}
	// A token the verifier would refuse is a bug upstream; fail loudly here.
	if c.UserID <= 0 || c.OrgID <= 0 {
		return "", fmt.Errorf("issue token: non-positive user id %d or organization id %d", c.UserID, c.OrgID)
	}
	if c.Role != domain.RoleAdmin && c.Role != domain.RoleUser {
		return "", fmt.Errorf("issue token: role %q is not ADMIN or USER", c.Role)
	}
	jti, err := randomID()
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	now := j.clock.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		UserID:    int64(c.UserID),
		OrgID:     int64(c.OrgID),
		Role:      string(c.Role),
		SessionID: int64(c.SessionID),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   strconv.FormatInt(int64(c.UserID), 10),
			Audience:  jwt.ClaimStrings{j.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(j.ttl)),
			ID:        jti,
		},
	})
	tok.Header["kid"] = j.kid
	s, err := tok.SignedString(j.secret)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return s, nil
}

// Verify checks the token's algorithm, signature, issuer, audience,
// expiry and the consistency of its claims. Every failure is domain.ErrUnauthenticated;
// the cause is wrapped too, for the server log only: the HTTP adapter
// shows the domain error's message, which reveals nothing.
func (j *JWT) Verify(token string) (ports.TokenClaims, error) {
	// A token string this process has verified verifies the same way until
	// it expires: the keys do not change while the process runs.
	if c, ok := j.verified.get(token, j.clock.Now()); ok {
		return c, nil
	}
	c, err := j.verify(token)
	if err == nil {
		j.verified.put(token, c)
	}
	return c, err
}

func (j *JWT) verify(token string) (ports.TokenClaims, error) {
	if j.audience == "" {
		return ports.TokenClaims{}, unauthenticated(errors.New("no audience configured"))
	}
	var cl claims
	if _, err := j.parser.ParseWithClaims(token, &cl, j.key); err != nil {
		return ports.TokenClaims{}, unauthenticated(err)
	}
	role, err := domain.ParseRole(cl.Role)
	switch {
	case err != nil:
		return ports.TokenClaims{}, unauthenticated(fmt.Errorf("role %q is not ADMIN or USER", cl.Role))
	case cl.UserID <= 0 || cl.OrgID <= 0 || cl.SessionID < 0:
		return ports.TokenClaims{}, unauthenticated(errors.New("user_id and organization_id must be positive"))
	case cl.Subject != strconv.FormatInt(cl.UserID, 10):
		return ports.TokenClaims{}, unauthenticated(fmt.Errorf("sub %q does not match user_id %d", cl.Subject, cl.UserID))
	case cl.IssuedAt == nil || cl.ID == "":
		// Every token this service signs carries iat and jti.
		return ports.TokenClaims{}, unauthenticated(errors.New("iat or jti missing"))
	}
	return ports.TokenClaims{
		UserID:    domain.UserID(cl.UserID),
		OrgID:     domain.OrgID(cl.OrgID),
		Role:      role,
		SessionID: domain.SessionID(cl.SessionID),
		ExpiresAt: cl.ExpiresAt.UTC(),
	}, nil
}

// key hands the parser the secret, after checking the method a second
// time: WithValidMethods already pins it, and this keeps the pin even if
// the options are ever edited.
func (j *JWT) key(t *jwt.Token) (any, error) {
	if t.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		// Tokens from before kids existed were signed with the current key.
		kid = j.kid
	}
	key, ok := j.verifyKeys[kid]
	if !ok || len(key) == 0 {
		return nil, errors.New("unknown signing key")
	}
	return key, nil
}

// KeyID names a key without revealing it: the first 8 bytes of its
// SHA-256, in hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

func unauthenticated(cause error) error {
	// errors.As finds domain.ErrUnauthenticated first, so the client sees
	// only its message; errors.Is still reaches jwt's sentinel causes.
	return fmt.Errorf("verify token: %w: %w", domain.ErrUnauthenticated, cause)
}

// randomID is a 128-bit token id, unique without coordination.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// verifiedTokens remembers recently verified tokens, so that a client
// sending the same token on every request pays for the HMAC and the JSON
// decoding once (the profile of a cached GET /tasks showed them among its
// largest costs). It is bounded; past the bound an arbitrary entry goes.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[string]ports.TokenClaims
}

const maxVerifiedTokens = 10_000

func (v *verifiedTokens) get(token string, now time.Time) (ports.TokenClaims, bool) {
	v.mu.RLock()
	c, ok := v.m[token]
	v.mu.RUnlock()
	// exp is checked again on every use, without leeway's help, so a
	// remembered token is never accepted later than a fresh parse would.
	if !ok || !now.Before(c.ExpiresAt) {
		return ports.TokenClaims{}, false
	}
	return c, true
}

func (v *verifiedTokens) put(token string, c ports.TokenClaims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string]ports.TokenClaims)
	}
	if len(v.m) >= maxVerifiedTokens {
		for k := range v.m {
			delete(v.m, k)
			break
		}
	}
	// The key is copied: the caller's string may point into a buffer the
	// HTTP server reuses.
	v.m[strings.Clone(token)] = c
}
