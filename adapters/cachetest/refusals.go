package cachetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// RunRefusals checks, through the Auth use case, that a cache remembers a
// refused session check (a logged-out token) as the session-check cache
// the refusal lives in promises: one session query for a flood of
// refusals, on every replica; scoped by organization; gone with the
// sessions space's invalidation, made by any replica; gone with the TTL.
//
// newPair returns two caches over one backend, empty and isolated from
// every other pair, as two replicas of one installation see it (for a
// cache local to a process, the same cache twice), whose entries live for
// ttl; it registers its own cleanup on t.
func RunRefusals(t *testing.T, newPair func(t *testing.T, ttl time.Duration) (ports.ListCache, ports.ListCache)) {
	// org 1 and org 2 each have a session 70 of a user 7.
	live := func() *countedSessions {
		return &countedSessions{live: map[sessionRef]domain.Role{{1, 7, 70}: domain.RoleAdmin, {2, 7, 70}: domain.RoleUser}}
	}
	const token, other = "1/7/70", "2/7/70"

	t.Run("a_logout_on_one_replica_costs_one_query_on_all", func(t *testing.T) {
		t.Parallel()
		ca, cb := newPair(t, longTTL)
		store := live()
		a, b := newAuth(t, ca, store), newAuth(t, cb, store)
		ctx := t.Context()
		actor := mustAuthenticate(t, b, token) // b caches the live session
		if err := a.Logout(ctx, actor, ""); err != nil {
			t.Fatal(err)
		}
		store.principals.Store(0)
		for i := range 40 {
			r := []*application.Auth{a, b}[i%2]
			if _, err := r.Authenticate(application.WithCacheSnapshot(ctx), token); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("request %d with the logged-out token on replica %d: %v, want ErrUnauthenticated", i, i%2, err)
			}
		}
		// One query where the replicas share the cache; one per replica
		// where each has its own.
		if n := store.principals.Load(); n < 1 || n > 2 {
			t.Fatalf("40 refusals over two replicas made %d session queries, want 1 (2 with caches of their own)", n)
		}
		if got := mustAuthenticate(t, a, other); got.Role != domain.RoleUser {
			t.Fatalf("org 2's session after org 1's logout: %+v", got)
		}
	})

	t.Run("an_invalidation_on_one_replica_drops_the_refusal_on_the_other", func(t *testing.T) {
		t.Parallel()
		ca, cb := newPair(t, longTTL)
		store := live()
		a, b := newAuth(t, ca, store), newAuth(t, cb, store)
		ctx := t.Context()
		late := "1/7/71" // a session the store does not know yet
		if _, err := b.Authenticate(ctx, late); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("unknown session: %v", err)
		}
		store.set(sessionRef{1, 7, 71}, domain.RoleUser)
		// A logout of another session of the org, through replica a,
		// invalidates the org's session checks everywhere.
		if err := a.Logout(ctx, mustAuthenticate(t, a, token), ""); err != nil {
			t.Fatal(err)
		}
		if got := mustAuthenticate(t, b, late); got.Role != domain.RoleUser {
			t.Fatalf("after the invalidation: %+v", got)
		}
	})

	t.Run("a_refusal_expires_with_the_ttl", func(t *testing.T) {
		t.Parallel()
		ca, _ := newPair(t, ShortTTL)
		store := live()
		a := newAuth(t, ca, store)
		for range 2 {
			if _, err := a.Authenticate(t.Context(), "1/7/71"); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("unknown session: %v", err)
			}
		}
		if n := store.principals.Load(); n != 1 {
			t.Fatalf("2 refusals made %d queries, want 1", n)
		}
		time.Sleep(2 * ShortTTL)
		if _, err := a.Authenticate(t.Context(), "1/7/71"); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("unknown session: %v", err)
		}
		if n := store.principals.Load(); n != 2 {
			t.Fatalf("a refusal was served after twice its ttl (%d queries, want 2)", n)
		}
	})
}

func mustAuthenticate(t *testing.T, a *application.Auth, token string) domain.Actor {
	t.Helper()
	actor, err := a.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatalf("Authenticate(%q): %v", token, err)
	}
	return actor
}

func newAuth(t *testing.T, c ports.ListCache, s *countedSessions) *application.Auth {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := application.NewAuth(nil, ports.Stores{Sessions: s}, plainHasher{}, claimTokens{}, realClock{}, nil,
		application.NewOrgCache(c, log), time.Hour, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type sessionRef struct {
	org  domain.OrgID
	user domain.UserID
	sid  domain.SessionID
}

// countedSessions is a SessionStore of live sessions that counts its
// session checks.
type countedSessions struct {
	ports.SessionStore
	mu         sync.Mutex
	live       map[sessionRef]domain.Role
	principals atomic.Int64
}

func (s *countedSessions) set(r sessionRef, role domain.Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[r] = role
}

func (s *countedSessions) Principal(_ context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, _ time.Time) (*domain.User, error) {
	s.principals.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	role, ok := s.live[sessionRef{org, user, id}]
	if !ok {
		return nil, domain.ErrUnauthenticated
	}
	return &domain.User{OrgID: org, ID: user, Role: role}, nil
}

func (s *countedSessions) Revoke(_ context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, sessionRef{org, user, id})
	return nil
}

// claimTokens verifies tokens of the form "org/user/session".
type claimTokens struct{ application.Tokens }

func (claimTokens) Verify(token string) (ports.TokenClaims, error) {
	var c ports.TokenClaims
	if _, err := fmt.Sscanf(token, "%d/%d/%d", &c.OrgID, &c.UserID, &c.SessionID); err != nil {
		return ports.TokenClaims{}, errors.New("bad token")
	}
	return c, nil
}

type plainHasher struct{}

func (plainHasher) Hash(pw string) (string, error) { return pw, nil }
func (plainHasher) Compare(hash, pw string) error {
	if hash != pw {
		return domain.ErrBadCredentials
	}
	return nil
}
func (plainHasher) NeedsRehash(string) bool { return false }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RefuseOnce has the Auth use case refuse a token of session sid of user
// in org, which no store knows, through c: what c then holds is a
// refusal, for a backend's own tests to look at.
func RefuseOnce(t *testing.T, c ports.ListCache, org domain.OrgID, user domain.UserID, sid domain.SessionID) {
	t.Helper()
	a := newAuth(t, c, &countedSessions{live: map[sessionRef]domain.Role{}})
	if _, err := a.Authenticate(t.Context(), fmt.Sprintf("%d/%d/%d", org, user, sid)); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("unknown session: %v, want ErrUnauthenticated", err)
	}
}
