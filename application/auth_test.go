package application

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
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
func (h *countingHasher) NeedsRehash(string) bool        { return false }
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
	a, err := NewAuth(nil, ports.Stores{Users: users}, h, nil, fixedClock{}, nil, nil, time.Hour, slog.New(slog.DiscardHandler), jsonRep{})
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

// costHasher makes hashes "<cost>:<password>"; a hash of another cost
// needs a rehash.
type costHasher struct{ cost string }

func (h costHasher) Hash(pw string) (string, error) { return h.cost + ":" + pw, nil }
func (h costHasher) Compare(hash, pw string) error {
	if _, p, _ := strings.Cut(hash, ":"); p != pw {
		return domain.ErrBadCredentials
	}
	return nil
}
func (h costHasher) NeedsRehash(hash string) bool { return !strings.HasPrefix(hash, h.cost+":") }

// rehashStore is a one-member UserStore that records rehashes.
type rehashStore struct {
	ports.UserStore
	u        domain.User
	replaced []string // "old -> new"
	err      error
}

func (s *rehashStore) ByEmail(_ context.Context, email string) (*domain.User, error) {
	if email != s.u.Email {
		return nil, domain.ErrUserNotFound
	}
	u := s.u
	return &u, nil
}

func (s *rehashStore) ReplacePasswordHash(_ context.Context, org domain.OrgID, id domain.UserID, oldHash, newHash string) error {
	if org != s.u.OrgID || id != s.u.ID {
		return errors.New("wrong member")
	}
	s.replaced = append(s.replaced, oldHash+" -> "+newHash)
	return s.err
}

type okSessions struct{ ports.SessionStore }

func (okSessions) Create(_ context.Context, s *domain.Session, _ string) error {
	s.ID = 1
	return nil
}

type okTokens struct{ Tokens }

func (okTokens) Issue(ports.TokenClaims) (string, error) { return "token", nil }
func (okTokens) TTL() time.Duration                      { return time.Minute }

type okCodes struct{}

func (okCodes) NewCode() (string, error) { return strings.Repeat("c", 32), nil }

func TestAuth_Login_RehashesAtTheConfiguredCost(t *testing.T) {
	member := domain.User{ID: 4, OrgID: 2, Email: "bob@acme.com", PasswordHash: "10:secure123", Role: domain.RoleUser}
	newAuth := func(t *testing.T, users *rehashStore, log *bytes.Buffer) *Auth {
		a, err := NewAuth(nil, ports.Stores{Users: users, Sessions: okSessions{}}, costHasher{cost: "11"}, okTokens{},
			fixedClock{}, okCodes{}, nil, time.Hour, slog.New(slog.NewTextHandler(log, nil)), jsonRep{})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("a_hash_of_another_cost_is_replaced_after_a_good_password", func(t *testing.T) {
		users, log := &rehashStore{u: member}, &bytes.Buffer{}
		if _, err := newAuth(t, users, log).Login(t.Context(), "bob@acme.com", "secure123"); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if want := []string{"10:secure123 -> 11:secure123"}; !slices.Equal(users.replaced, want) {
			t.Fatalf("replaced %v, want %v", users.replaced, want)
		}
	})
	t.Run("a_wrong_password_rehashes_nothing", func(t *testing.T) {
		users, log := &rehashStore{u: member}, &bytes.Buffer{}
		if _, err := newAuth(t, users, log).Login(t.Context(), "bob@acme.com", "not-the-one"); !errors.Is(err, domain.ErrBadCredentials) {
			t.Fatalf("Login err = %v, want ErrBadCredentials", err)
		}
		if len(users.replaced) != 0 {
			t.Fatalf("replaced %v after a wrong password", users.replaced)
		}
	})
	t.Run("a_hash_of_the_configured_cost_stays", func(t *testing.T) {
		current := member
		current.PasswordHash = "11:secure123"
		users, log := &rehashStore{u: current}, &bytes.Buffer{}
		if _, err := newAuth(t, users, log).Login(t.Context(), "bob@acme.com", "secure123"); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if len(users.replaced) != 0 {
			t.Fatalf("replaced %v, want nothing", users.replaced)
		}
	})
	t.Run("a_failed_rehash_is_logged_and_the_login_succeeds", func(t *testing.T) {
		users, log := &rehashStore{u: member, err: errors.New("database is down")}, &bytes.Buffer{}
		tok, err := newAuth(t, users, log).Login(t.Context(), "bob@acme.com", "secure123")
		if err != nil || tok == nil || tok.AccessToken != "token" {
			t.Fatalf("Login = %+v, %v; want the token", tok, err)
		}
		if !strings.Contains(log.String(), "database is down") || !strings.Contains(log.String(), "level=ERROR") {
			t.Fatalf("log %q: want the rehash error", log.String())
		}
	})
}

func TestRoleOf_GivesTheStoredRole(t *testing.T) {
	for _, r := range []domain.Role{domain.RoleAdmin, domain.RoleUser, "OTHER"} {
		if got := roleOf([]byte(r)); got != r {
			t.Errorf("roleOf(%q) = %q", r, got)
		}
	}
}
