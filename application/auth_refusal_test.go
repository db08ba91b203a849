package application

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// liveSessions is a SessionStore of live sessions, each a member's role,
// that counts its session checks (Principal).
type liveSessions struct {
	ports.SessionStore
	mu         sync.Mutex
	live       map[sessionRef]domain.Role
	err        error // returned by Principal when set
	principals atomic.Int64
}

type sessionRef struct {
	org  domain.OrgID
	user domain.UserID
	sid  domain.SessionID
}

func (s *liveSessions) Principal(_ context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, _ time.Time) (*domain.User, error) {
	s.principals.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	role, ok := s.live[sessionRef{org, user, id}]
	if !ok {
		return nil, domain.ErrUnauthenticated
	}
	return &domain.User{OrgID: org, ID: user, Role: role}, nil
}

func (s *liveSessions) Revoke(_ context.Context, org domain.OrgID, user domain.UserID, id domain.SessionID, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, sessionRef{org, user, id})
	return nil
}

// claimTokens verifies tokens of the form "org/user/session".
type claimTokens struct{ Tokens }

func (claimTokens) Verify(token string) (ports.TokenClaims, error) {
	var c ports.TokenClaims
	if _, err := fmt.Sscanf(token, "%d/%d/%d", &c.OrgID, &c.UserID, &c.SessionID); err != nil {
		return ports.TokenClaims{}, errors.New("bad token")
	}
	return c, nil
}

func tokenOf(r sessionRef) string { return fmt.Sprintf("%d/%d/%d", r.org, r.user, r.sid) }

// refusalRig is an Auth over liveSessions and cache, with one live
// session per org 1 and 2 for the same user and session ids.
func refusalRig(t testing.TB, cache ports.ListCache) (*Auth, *liveSessions) {
	t.Helper()
	sessions := &liveSessions{live: map[sessionRef]domain.Role{
		{1, 7, 70}: domain.RoleAdmin,
		{2, 7, 70}: domain.RoleUser,
	}}
	a, err := NewAuth(nil, ports.Stores{Sessions: sessions}, &countingHasher{}, claimTokens{}, fixedClock{}, okCodes{},
		NewOrgCache(cache, quietLog()), time.Hour, quietLog(), jsonRep{})
	if err != nil {
		t.Fatal(err)
	}
	return a, sessions
}

var (
	inOrg1 = sessionRef{1, 7, 70}
	inOrg2 = sessionRef{2, 7, 70}
)

func TestAuth_Authenticate_ALoggedOutTokenCostsOneSessionQuery(t *testing.T) {
	a, sessions := refusalRig(t, newFakeCache())
	ctx := t.Context()
	actor, err := a.Authenticate(ctx, tokenOf(inOrg1))
	if err != nil || actor.Role != domain.RoleAdmin {
		t.Fatalf("live session: %+v, %v", actor, err)
	}
	if err := a.Logout(ctx, actor, ""); err != nil {
		t.Fatal(err)
	}
	sessions.principals.Store(0)
	for i := range 50 {
		if _, err := a.Authenticate(WithCacheSnapshot(ctx), tokenOf(inOrg1)); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("request %d with the logged-out token: %v, want ErrUnauthenticated", i, err)
		}
	}
	if n := sessions.principals.Load(); n != 1 {
		t.Fatalf("50 refusals made %d session queries, want 1", n)
	}
	// The same user and session ids in another organization are another
	// session: its check is its own.
	if actor, err := a.Authenticate(ctx, tokenOf(inOrg2)); err != nil || actor.Role != domain.RoleUser {
		t.Fatalf("org 2's session after org 1's logout: %+v, %v", actor, err)
	}
}

func TestAuth_Authenticate_ABurstOfRefusalsMakesOneQuery(t *testing.T) {
	a, sessions := refusalRig(t, newFakeCache())
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := a.Authenticate(t.Context(), "1/7/71"); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Errorf("unknown session: %v, want ErrUnauthenticated", err)
			}
		})
	}
	wg.Wait()
	// One flight, or a few when a caller comes after the flight ended and
	// before its entry was read: never one per request.
	if n := sessions.principals.Load(); n < 1 || n > 4 {
		t.Fatalf("32 concurrent refusals made %d session queries, want 1 (a few at most)", n)
	}
}

// A refusal lives in the sessions space: what invalidates the session
// checks (a logout, a removal, a role change, on any replica) drops it
// too, and a task write does not.
func TestAuth_Authenticate_ARefusalGoesWithTheSessionChecks(t *testing.T) {
	cache := newFakeCache()
	a, sessions := refusalRig(t, cache)
	ctx := t.Context()
	unknown := "1/7/71"
	refuse := func(wantQueries int64) {
		t.Helper()
		sessions.principals.Store(0)
		if _, err := a.Authenticate(ctx, unknown); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("unknown session: %v", err)
		}
		if n := sessions.principals.Load(); n != wantQueries {
			t.Fatalf("refusal made %d session queries, want %d", n, wantQueries)
		}
	}
	refuse(1)
	refuse(0)
	a.cache.invalidate(ctx, 1, ports.SpaceTasks)
	refuse(0)
	a.cache.invalidate(ctx, 1, ports.SpaceSessions)
	refuse(1)
	// Had the session become live, the next check after the invalidation
	// would see it.
	sessions.mu.Lock()
	sessions.live[sessionRef{1, 7, 71}] = domain.RoleUser
	sessions.mu.Unlock()
	a.cache.invalidate(ctx, 1, ports.SpaceSessions)
	if actor, err := a.Authenticate(ctx, unknown); err != nil || actor.Role != domain.RoleUser {
		t.Fatalf("after the invalidation: %+v, %v", actor, err)
	}
}

// With the cache away each request asks the store, as before: still 401,
// never an error of the cache's. A store failure is no refusal, and is
// not remembered.
func TestAuth_Authenticate_RefusalsWithoutTheCacheAndStoreFailures(t *testing.T) {
	cache := newFakeCache()
	a, sessions := refusalRig(t, cache)
	ctx := t.Context()
	cache.setFail(true, false)
	for range 3 {
		if _, err := a.Authenticate(ctx, "1/7/71"); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("refusal with the cache down: %v, want ErrUnauthenticated", err)
		}
	}
	if n := sessions.principals.Load(); n != 3 {
		t.Fatalf("3 refusals with the cache down made %d queries, want 3", n)
	}
	cache.setFail(false, false)
	down := domain.DatabaseUnavailable(errors.New("connection refused"))
	sessions.mu.Lock()
	sessions.err = down
	sessions.mu.Unlock()
	if _, err := a.Authenticate(ctx, "1/7/72"); !errors.Is(err, down) || errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("store down: %v, want the store's error", err)
	}
	sessions.mu.Lock()
	sessions.err = nil
	sessions.live[sessionRef{1, 7, 72}] = domain.RoleAdmin
	sessions.mu.Unlock()
	if actor, err := a.Authenticate(ctx, "1/7/72"); err != nil || actor.Role != domain.RoleAdmin {
		t.Fatalf("after the store came back: %+v, %v (a failure was cached as a refusal?)", actor, err)
	}
	for _, bad := range []string{"", "garbage", "1/7/0", "1/7/-3"} {
		if _, err := a.Authenticate(ctx, bad); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", bad, err)
		}
	}
}
