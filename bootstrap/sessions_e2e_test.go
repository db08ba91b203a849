package bootstrap_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

type tokenPair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
	Type    string `json:"token_type"`
	Expires int64  `json:"expires_in"`
}

func (a *api) loginPair(t *testing.T, email, pw string) tokenPair {
	t.Helper()
	var p tokenPair
	a.expect(t, http.StatusOK, "", "POST", "/login", "", map[string]any{"email": email, "password": pw}).into(t, &p)
	if p.Access == "" || p.Refresh == "" || p.Type != "bearer" || p.Expires < 1 {
		t.Fatalf("login answered %+v", p)
	}
	return p
}

func (a *api) refresh(t *testing.T, refresh string) tokenPair {
	t.Helper()
	var p tokenPair
	a.expect(t, http.StatusOK, "", "POST", "/token/refresh", "", map[string]any{"refresh_token": refresh}).into(t, &p)
	if p.Access == "" || p.Refresh == "" || p.Refresh == refresh {
		t.Fatalf("refresh answered %+v", p)
	}
	return p
}

func testSessions(t *testing.T, a *api) {
	t.Run("refresh_rotates_and_the_new_pair_works", func(t *testing.T) {
		tn := a.newTenant(t)
		p := a.loginPair(t, tn.Admin.Email, password)
		q := a.refresh(t, p.Refresh)
		a.expect(t, http.StatusOK, "", "GET", "/me", q.Access, nil)
		a.expect(t, http.StatusOK, "", "GET", "/me", p.Access, nil) // same session: still live
		r := a.refresh(t, q.Refresh)
		a.expect(t, http.StatusOK, "", "GET", "/tasks", r.Access, nil)
	})
	t.Run("reusing_a_spent_refresh_token_ends_the_whole_family", func(t *testing.T) {
		tn := a.newTenant(t)
		p := a.loginPair(t, tn.Admin.Email, password)
		q := a.refresh(t, p.Refresh)
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": p.Refresh})
		// The thief's replay ended the session: the legitimate holder's
		// newer tokens are dead too.
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": q.Refresh})
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", q.Access, nil)
		// Another login is a new session and works.
		a.expect(t, http.StatusOK, "", "GET", "/me", a.loginPair(t, tn.Admin.Email, password).Access, nil)
	})
	t.Run("unknown_or_malformed_refresh_tokens_are_401", func(t *testing.T) {
		tn := a.newTenant(t)
		for _, bad := range []string{"nope", "rt1.1.short", "rt1." + "9999999." + strings.Repeat("a", 43), a.loginPair(t, tn.Admin.Email, password).Access} {
			a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": bad})
		}
		a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/token/refresh", "", map[string]any{"refresh_token": ""})
		a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/token/refresh", "", map[string]any{"refresh_token": "x", "user_id": 1})
	})
	t.Run("a_refresh_token_names_its_organization_and_cannot_cross_it", func(t *testing.T) {
		tn, other := a.newTenant(t), a.newTenant(t)
		p := a.loginPair(t, tn.Admin.Email, password)
		_, secret, _ := strings.Cut(strings.TrimPrefix(p.Refresh, "rt1."), ".")
		forged := "rt1." + itoa(other.ID) + "." + secret
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": forged})
		a.refresh(t, p.Refresh) // the real one still works
	})
	t.Run("logout_ends_access_and_refresh_tokens_at_once", func(t *testing.T) {
		tn := a.newTenant(t)
		p := a.loginPair(t, tn.Admin.Email, password)
		other := a.loginPair(t, tn.Admin.Email, password) // a second device
		a.expect(t, http.StatusNoContent, "", "POST", "/logout", p.Access, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", p.Access, nil)
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": p.Refresh})
		// The other device's session is untouched.
		a.expect(t, http.StatusOK, "", "GET", "/me", other.Access, nil)
		a.expect(t, http.StatusUnauthorized, "", "POST", "/logout", p.Access, nil)
	})
	t.Run("logout_with_a_refresh_token_ends_that_session_too", func(t *testing.T) {
		tn := a.newTenant(t)
		p, q := a.loginPair(t, tn.Admin.Email, password), a.loginPair(t, tn.Admin.Email, password)
		a.expect(t, http.StatusNoContent, "", "POST", "/logout", p.Access, map[string]any{"refresh_token": q.Refresh})
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", q.Access, nil)
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": q.Refresh})
	})
	t.Run("logout_cannot_end_another_members_session", func(t *testing.T) {
		tn := a.newTenant(t)
		bob := a.addMember(t, tn, "USER")
		victim := a.loginPair(t, tn.Admin.Email, password)
		a.expect(t, http.StatusNoContent, "", "POST", "/logout", bob.Token, map[string]any{"refresh_token": victim.Refresh})
		a.expect(t, http.StatusOK, "", "GET", "/me", victim.Access, nil)
		a.refresh(t, victim.Refresh)
	})
	t.Run("password_change_ends_every_session", func(t *testing.T) {
		tn := a.newTenant(t)
		p, q := a.loginPair(t, tn.Admin.Email, password), a.loginPair(t, tn.Admin.Email, password)
		a.expect(t, http.StatusForbidden, "wrong_password", "POST", "/me/password", p.Access,
			map[string]any{"current_password": "not-the-password", "new_password": "brand-new-pw"})
		a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/me/password", p.Access,
			map[string]any{"current_password": password, "new_password": "short"})
		a.expect(t, http.StatusOK, "", "GET", "/me", p.Access, nil) // refusals changed nothing
		a.expect(t, http.StatusNoContent, "", "POST", "/me/password", p.Access,
			map[string]any{"current_password": password, "new_password": "brand-new-pw"})
		for _, tok := range []string{p.Access, q.Access} {
			a.expect(t, http.StatusUnauthorized, "", "GET", "/me", tok, nil)
		}
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": q.Refresh})
		a.expect(t, http.StatusUnauthorized, "invalid_credentials", "POST", "/login", "", map[string]any{"email": tn.Admin.Email, "password": password})
		a.expect(t, http.StatusOK, "", "GET", "/me", a.loginPair(t, tn.Admin.Email, "brand-new-pw").Access, nil)
	})
	t.Run("a_role_change_ends_the_members_sessions", func(t *testing.T) {
		tn := a.newTenant(t)
		bob := a.addMember(t, tn, "USER")
		bobPair := a.loginPair(t, bob.Email, password)
		a.expect(t, http.StatusOK, "", "PATCH", userPath(bob.ID), tn.Admin.Token, map[string]any{"role": "ADMIN"})
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", bob.Token, nil)
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": bobPair.Refresh})
		// Logging in again gives the new role.
		var me userOut
		a.expect(t, http.StatusOK, "", "GET", "/me", a.loginPair(t, bob.Email, password).Access, nil).into(t, &me)
		if me.Role != "ADMIN" {
			t.Fatalf("role after promotion = %q", me.Role)
		}
		// Setting the same role again is no change and ends nothing.
		a.expect(t, http.StatusOK, "", "PATCH", userPath(bob.ID), tn.Admin.Token, map[string]any{"role": "ADMIN"})
		a.expect(t, http.StatusOK, "", "GET", "/me", tn.Admin.Token, nil)
	})
	t.Run("removing_a_member_ends_their_sessions", func(t *testing.T) {
		tn := a.newTenant(t)
		bob := a.addMember(t, tn, "USER")
		pair := a.loginPair(t, bob.Email, password)
		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(bob.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", pair.Access, nil)
		a.expect(t, http.StatusUnauthorized, "invalid_refresh_token", "POST", "/token/refresh", "", map[string]any{"refresh_token": pair.Refresh})
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
