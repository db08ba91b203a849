package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/taskflow/taskflow/adapters/auth"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// FuzzJWT_Verify: no string panics the verifier, and the only tokens it
// accepts are ones this issuer signed (here: the seed it issued, or a
// re-encoding the library treats as the same signed token).
func FuzzJWT_Verify(f *testing.F) {
	j, _ := newJWT(f)
	good, err := j.Issue(ports.TokenClaims{UserID: 7, OrgID: 3, Role: domain.RoleAdmin})
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for _, seed := range []string{
		good, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".", parts[0] + ".." + parts[2],
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",
		"eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9." + parts[1] + "." + parts[2],
		good + "x", strings.Repeat("A", 4096), "Bearer " + good,
	} {
		f.Add(seed)
	}
	other := auth.NewJWT([]byte("another-key-0123456789abcdef012345"), testAudience, testTTL, &fakeClock{now: t0})
	f.Fuzz(func(t *testing.T, token string) {
		c, err := j.Verify(token)
		if err != nil {
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("Verify(%q) error %v is not ErrUnauthenticated", token, err)
			}
			return
		}
		// Accepted: it must carry exactly what was issued, and a verifier
		// with another key must refuse it.
		if c.UserID != 7 || c.OrgID != 3 || c.Role != domain.RoleAdmin {
			t.Fatalf("Verify(%q) accepted foreign claims %+v", token, c)
		}
		if _, err := other.Verify(token); err == nil {
			t.Fatalf("a verifier with another key accepted %q", token)
		}
	})
}
