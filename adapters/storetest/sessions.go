package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// session starts a session for u with refresh token hash h.
func (f *fixture) session(u *domain.User, h string) *domain.Session {
	f.t.Helper()
	s := &domain.Session{OrgID: u.OrgID, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := f.s.Sessions.Create(f.ctx, s, h); err != nil {
		f.t.Fatalf("create session: %v", err)
	}
	if s.ID < 1 {
		f.t.Fatalf("session id %d", s.ID)
	}
	return s
}

func (f *fixture) principal(u *domain.User, id domain.SessionID, at time.Time) error {
	f.t.Helper()
	got, err := f.s.Sessions.Principal(f.ctx, u.OrgID, u.ID, id, at)
	if err == nil && (got.ID != u.ID || got.Role != u.Role || got.Email != u.Email) {
		f.t.Fatalf("Principal = %+v, want %+v", got, u)
	}
	return err
}

var sessionTests = []test{
	{"principal_of_a_live_session_is_the_member_with_the_current_role", func(t *testing.T, f *fixture) {
		o := f.org()
		u := f.user(o.ID, domain.RoleAdmin)
		f.user(o.ID, domain.RoleAdmin) // so u may be demoted
		s := f.session(u, unique("h"))
		if err := f.principal(u, s.ID, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Users.SetRole(f.ctx, o.ID, u.ID, domain.RoleUser); err != nil {
			t.Fatal(err)
		}
		u.Role = domain.RoleUser
		if err := f.principal(u, s.ID, t0); err != nil {
			t.Fatalf("after a demotion: %v", err)
		}
	}},
	{"expired_revoked_or_foreign_sessions_are_not_principals", func(t *testing.T, f *fixture) {
		o, other := f.org(), f.org()
		u, v := f.user(o.ID, domain.RoleUser), f.user(o.ID, domain.RoleUser)
		w := f.user(other.ID, domain.RoleUser)
		s := f.session(u, unique("h"))
		for name, err := range map[string]error{
			"at expiry":            f.principal(u, s.ID, t0.Add(time.Hour)),
			"another member's":     f.principal(v, s.ID, t0),
			"absent":               f.principal(u, absent, t0),
			"other organization's": f.principal(&domain.User{OrgID: other.ID, ID: u.ID}, s.ID, t0),
		} {
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Errorf("%s: err = %v, want ErrUnauthenticated", name, err)
			}
		}
		ws := f.session(w, unique("h"))
		if err := f.principal(&domain.User{OrgID: o.ID, ID: w.ID}, ws.ID, t0); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("another organization's member through this org: %v", err)
		}
		if err := f.s.Sessions.Revoke(f.ctx, o.ID, u.ID, s.ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.principal(u, s.ID, t0); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("revoked: err = %v", err)
		}
		if err := f.s.Sessions.Revoke(f.ctx, o.ID, u.ID, s.ID, t0); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
	}},
	{"rotate_spends_the_token_and_keeps_the_session", func(t *testing.T, f *fixture) {
		o := f.org()
		u := f.user(o.ID, domain.RoleUser)
		h1, h2, h3 := unique("h"), unique("h"), unique("h")
		s := f.session(u, h1)
		got, err := f.s.Sessions.Rotate(f.ctx, o.ID, h1, h2, t0)
		if err != nil || got.ID != s.ID || got.UserID != u.ID {
			t.Fatalf("Rotate = %+v, %v", got, err)
		}
		if _, err := f.s.Sessions.Rotate(f.ctx, o.ID, h2, h3, t0); err != nil {
			t.Fatalf("rotating the successor: %v", err)
		}
		if err := f.principal(u, s.ID, t0); err != nil {
			t.Fatalf("session after rotations: %v", err)
		}
	}},
	{"reusing_a_spent_token_ends_the_session", func(t *testing.T, f *fixture) {
		o := f.org()
		u := f.user(o.ID, domain.RoleUser)
		h1, h2 := unique("h"), unique("h")
		s := f.session(u, h1)
		if _, err := f.s.Sessions.Rotate(f.ctx, o.ID, h1, h2, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Sessions.Rotate(f.ctx, o.ID, h1, unique("h"), t0); !errors.Is(err, domain.ErrRefreshReused) {
			t.Fatalf("reuse: err = %v", err)
		}
		if err := f.principal(u, s.ID, t0); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("session after reuse: %v", err)
		}
		if _, err := f.s.Sessions.Rotate(f.ctx, o.ID, h2, unique("h"), t0); !errors.Is(err, domain.ErrRefreshInvalid) {
			t.Fatalf("the successor after reuse: err = %v", err)
		}
	}},
	{"unknown_foreign_or_expired_tokens_do_not_rotate", func(t *testing.T, f *fixture) {
		o, other := f.org(), f.org()
		u := f.user(o.ID, domain.RoleUser)
		h := unique("h")
		f.session(u, h)
		if _, err := f.s.Sessions.Rotate(f.ctx, o.ID, unique("nope"), unique("h"), t0); !errors.Is(err, domain.ErrRefreshInvalid) {
			t.Errorf("unknown: %v", err)
		}
		if _, err := f.s.Sessions.Rotate(f.ctx, other.ID, h, unique("h"), t0); !errors.Is(err, domain.ErrRefreshInvalid) {
			t.Errorf("through another organization: %v", err)
		}
		if _, err := f.s.Sessions.Rotate(f.ctx, o.ID, h, unique("h"), t0.Add(time.Hour)); !errors.Is(err, domain.ErrRefreshInvalid) {
			t.Errorf("expired: %v", err)
		}
	}},
	{"concurrent_rotations_of_one_token_let_at_most_one_through", func(t *testing.T, f *fixture) {
		o := f.org()
		u := f.user(o.ID, domain.RoleUser)
		h := unique("h")
		f.session(u, h)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				_, err := f.s.Sessions.Rotate(f.ctx, o.ID, h, unique("h"), t0)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, domain.ErrRefreshReused) && !errors.Is(err, domain.ErrRefreshInvalid) {
					t.Errorf("Rotate: %v", err)
				}
			})
		}
		wg.Wait()
		if wins > 1 {
			t.Fatalf("%d rotations of one token succeeded", wins)
		}
	}},
	{"revoke_user_and_revoke_by_refresh_end_only_that_members_sessions", func(t *testing.T, f *fixture) {
		o := f.org()
		u, v := f.user(o.ID, domain.RoleUser), f.user(o.ID, domain.RoleUser)
		hu2 := unique("h")
		su1, su2, sv := f.session(u, unique("h")), f.session(u, hu2), f.session(v, unique("h"))
		// v cannot end u's session with u's refresh token.
		if err := f.s.Sessions.RevokeByRefresh(f.ctx, o.ID, v.ID, hu2, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.principal(u, su2.ID, t0); err != nil {
			t.Fatalf("another member's refresh token ended u's session: %v", err)
		}
		if err := f.s.Sessions.RevokeByRefresh(f.ctx, o.ID, u.ID, hu2, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.principal(u, su2.ID, t0); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("after RevokeByRefresh: %v", err)
		}
		if err := f.s.Sessions.RevokeUser(f.ctx, o.ID, u.ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := f.principal(u, su1.ID, t0); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("after RevokeUser: %v", err)
		}
		if err := f.principal(v, sv.ID, t0); err != nil {
			t.Fatalf("RevokeUser ended another member's session: %v", err)
		}
	}},
	{"removing_a_member_removes_their_sessions", func(t *testing.T, f *fixture) {
		o := f.org()
		f.user(o.ID, domain.RoleAdmin)
		u := f.user(o.ID, domain.RoleUser)
		s := f.session(u, unique("h"))
		if _, _, err := f.s.Users.Delete(f.ctx, o.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.principal(u, s.ID, t0); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("removed member's session: %v", err)
		}
	}},
	{"set_password_is_scoped", func(t *testing.T, f *fixture) {
		o, other := f.org(), f.org()
		u := f.user(o.ID, domain.RoleUser)
		if err := f.s.Users.SetPassword(f.ctx, other.ID, u.ID, "$2a$10$other"); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("through another organization: %v", err)
		}
		if err := f.s.Users.SetPassword(f.ctx, o.ID, u.ID, "$2a$10$new"); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.Users.Get(f.ctx, o.ID, u.ID)
		if err != nil || got.PasswordHash != "$2a$10$new" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
	}},
	{"a_session_for_an_absent_member_is_refused", func(t *testing.T, f *fixture) {
		o := f.org()
		s := &domain.Session{OrgID: o.ID, UserID: absent, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := f.s.Sessions.Create(f.ctx, s, unique("h")); !errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("err = %v", err)
		}
	}},
}
