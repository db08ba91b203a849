package application

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// countingHasher counts the bcrypt-sized work a login does: a timing
// difference between "no such email" and "wrong password" can only come
// from one of them skipping it. (A timed test would be at the mercy of the
// machine; this one is exact.)
type countingHasher struct{ compares int }

func (h *countingHasher) Hash(pw string) (string, error) { return "hash:" + pw, nil }
func (h *countingHasher) Compare(hash, pw string) error {
	h.compares++
	if hash != "hash:"+pw {
		return domain.ErrBadCredentials
	}
	return nil
}

// oneUser is a UserStore holding a single member, for login.
type oneUser struct {
	ports.UserStore
	u domain.User
}

func (s oneUser) ByEmail(_ context.Context, email string) (*domain.User, error) {
	if email != s.u.Email {
		return nil, domain.ErrUserNotFound
	}
	u := s.u
	return &u, nil
}

type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) }

func TestAuth_Login_UnknownEmailCostsTheSameHashWorkAsAWrongPassword(t *testing.T) {
	h := &countingHasher{}
	users := oneUser{u: domain.User{ID: 1, OrgID: 1, Email: "admin@acme.com", PasswordHash: "hash:secure123", Role: domain.RoleAdmin}}
	a, err := NewAuth(nil, ports.Stores{Users: users}, h, nil, fixedClock{}, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, email, password string }{
		{"wrong_password", "admin@acme.com", "not-it-at-all"},
		{"unknown_email", "nobody@acme.com", "not-it-at-all"},
		{"malformed_email", "not an email", "not-it-at-all"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.compares = 0
			_, err := a.Login(t.Context(), c.email, c.password)
			if !errors.Is(err, domain.ErrBadCredentials) {
				t.Fatalf("Login err = %v, want ErrBadCredentials", err)
			}
			if h.compares != 1 {
				t.Fatalf("%d password comparisons, want exactly 1 as for every failed login", h.compares)
			}
		})
	}
}
