package bootstrap_test

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// pendingInvite is an entry of GET /invites.
type pendingInvite struct {
	ID        int64     `json:"id"`
	Role      string    `json:"role"`
	Email     *string   `json:"email"`
	CreatedBy *int64    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func invitePath(id int64) string { return "/invites/" + strconv.FormatInt(id, 10) }

// inviteAs has the member holding token issue an invite and returns its
// code.
func (a *api) inviteAs(t testing.TB, token, role, email string) string {
	t.Helper()
	body := map[string]any{"role": role}
	if email != "" {
		body["email"] = email
	}
	var inv struct {
		Code string `json:"code"`
	}
	a.expect(t, http.StatusCreated, "", "POST", "/invites", token, body).into(t, &inv)
	return inv.Code
}

// listInvites is GET /invites as the member holding token; it also checks
// that no entry carries a code.
func (a *api) listInvites(t testing.TB, token string) []pendingInvite {
	t.Helper()
	r := a.expect(t, http.StatusOK, "", "GET", "/invites", token, nil)
	var raw []map[string]any
	r.into(t, &raw)
	for _, inv := range raw {
		if _, ok := inv["code"]; ok {
			t.Fatalf("GET /invites shows a code: %v", inv)
		}
	}
	var out []pendingInvite
	r.into(t, &out)
	return out
}

// inviteFor finds the listed invite bound to email.
func inviteFor(invs []pendingInvite, email string) (pendingInvite, bool) {
	i := slices.IndexFunc(invs, func(inv pendingInvite) bool { return inv.Email != nil && *inv.Email == email })
	if i < 0 {
		return pendingInvite{}, false
	}
	return invs[i], true
}

func inviteIDs(invs []pendingInvite) []int64 {
	out := []int64{}
	for _, inv := range invs {
		out = append(out, inv.ID)
	}
	return out
}

func testInviteManagement(t *testing.T, a *api) {
	signUpWith := func(t *testing.T, status int, code, invite string) {
		t.Helper()
		a.expect(t, status, code, "POST", "/signup", "",
			map[string]any{"email": uniqueEmail("joiner"), "password": password, "invite_code": invite})
	}

	t.Run("list_shows_usable_invites_with_their_creator_and_never_the_code", func(t *testing.T) {
		tn := a.newTenant(t)
		if got := a.listInvites(t, tn.Admin.Token); len(got) != 0 {
			t.Fatalf("a new organization lists %+v; its first ADMIN's invite is used", got)
		}
		bound := uniqueEmail("bob")
		a.inviteAs(t, tn.Admin.Token, "USER", bound)
		a.inviteAs(t, tn.Admin.Token, "ADMIN", "")
		used := a.inviteAs(t, tn.Admin.Token, "USER", "")
		signUpWith(t, http.StatusCreated, "", used)

		got := a.listInvites(t, tn.Admin.Token)
		if len(got) != 2 {
			t.Fatalf("listed %+v, want the two unused invites", got)
		}
		first, second := got[0], got[1]
		if first.Email == nil || *first.Email != bound || first.Role != "USER" {
			t.Errorf("first invite %+v: want USER bound to %s", first, bound)
		}
		if second.Email != nil || second.Role != "ADMIN" {
			t.Errorf("second invite %+v: want an open ADMIN invite", second)
		}
		for _, inv := range got {
			if inv.CreatedBy == nil || *inv.CreatedBy != tn.Admin.ID {
				t.Errorf("invite %d created_by %v, want %d", inv.ID, inv.CreatedBy, tn.Admin.ID)
			}
			if d := inv.ExpiresAt.Sub(inv.CreatedAt); d != 168*time.Hour {
				t.Errorf("invite %d lives %v, want 7 days", inv.ID, d)
			}
		}
	})

	t.Run("delete_stops_the_code_at_once", func(t *testing.T) {
		tn := a.newTenant(t)
		email := uniqueEmail("revoked")
		code := a.inviteAs(t, tn.Admin.Token, "USER", email)
		inv, ok := inviteFor(a.listInvites(t, tn.Admin.Token), email)
		if !ok {
			t.Fatal("the new invite is not listed")
		}
		a.expect(t, http.StatusNoContent, "", "DELETE", invitePath(inv.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusForbidden, "invite_invalid", "POST", "/signup", "",
			map[string]any{"email": email, "password": password, "invite_code": code})
		a.expect(t, http.StatusNotFound, "", "DELETE", invitePath(inv.ID), tn.Admin.Token, nil)
		if got := a.listInvites(t, tn.Admin.Token); len(got) != 0 {
			t.Fatalf("listed %+v after the delete", got)
		}
	})

	t.Run("a_used_invite_cannot_be_deleted", func(t *testing.T) {
		tn := a.newTenant(t)
		email := uniqueEmail("used")
		code := a.inviteAs(t, tn.Admin.Token, "USER", email)
		inv, _ := inviteFor(a.listInvites(t, tn.Admin.Token), email)
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
			map[string]any{"email": email, "password": password, "invite_code": code})
		a.expect(t, http.StatusNotFound, "invite_not_found", "DELETE", invitePath(inv.ID), tn.Admin.Token, nil)
	})

	t.Run("a_user_is_403_and_a_bad_id_is_422", func(t *testing.T) {
		tn := a.newTenant(t)
		user := a.addMember(t, tn, "USER")
		email := uniqueEmail("kept")
		code := a.inviteAs(t, tn.Admin.Token, "USER", email)
		inv, _ := inviteFor(a.listInvites(t, tn.Admin.Token), email)
		a.expect(t, http.StatusForbidden, "forbidden", "GET", "/invites", user.Token, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "DELETE", invitePath(inv.ID), user.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/invites", "", nil)
		for _, id := range []string{"abc", "0", "-1", "99999999999999999999"} {
			a.expect(t, http.StatusUnprocessableEntity, "", "DELETE", "/invites/"+id, tn.Admin.Token, nil)
		}
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
			map[string]any{"email": email, "password": password, "invite_code": code})
	})

	// The finding: a rogue ADMIN keeps an ADMIN invite code, is removed,
	// and signs up again with it to take the organization over.
	t.Run("a_removed_admins_unused_invites_stop_working", func(t *testing.T) {
		tn := a.newTenant(t)
		rogue := a.addMember(t, tn, "ADMIN")
		adminCode := a.inviteAs(t, rogue.Token, "ADMIN", "")
		userCode := a.inviteAs(t, rogue.Token, "USER", uniqueEmail("friend"))
		ownersCode := a.inviteAs(t, tn.Admin.Token, "USER", "")
		if got := a.listInvites(t, tn.Admin.Token); len(got) != 3 {
			t.Fatalf("listed %+v, want three invites", got)
		}

		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(rogue.ID), tn.Admin.Token, nil)
		signUpWith(t, http.StatusForbidden, "invite_invalid", adminCode)
		for _, inv := range a.listInvites(t, tn.Admin.Token) {
			if inv.CreatedBy != nil && *inv.CreatedBy == rogue.ID {
				t.Errorf("the removed member's invite %+v is still listed", inv)
			}
		}
		if got := a.listInvites(t, tn.Admin.Token); len(got) != 1 {
			t.Errorf("listed %+v, want only the owner's invite", got)
		}
		a.expect(t, http.StatusForbidden, "invite_invalid", "POST", "/signup", "",
			map[string]any{"email": uniqueEmail("friend"), "password": password, "invite_code": userCode})
		signUpWith(t, http.StatusCreated, "", ownersCode)
	})

	t.Run("a_demoted_admins_unused_invites_stop_working", func(t *testing.T) {
		tn := a.newTenant(t)
		rogue := a.addMember(t, tn, "ADMIN")
		adminCode := a.inviteAs(t, rogue.Token, "ADMIN", "")
		userCode := a.inviteAs(t, rogue.Token, "USER", "")
		ownersCode := a.inviteAs(t, tn.Admin.Token, "ADMIN", "")

		a.expect(t, http.StatusOK, "", "PATCH", userPath(rogue.ID), tn.Admin.Token, map[string]any{"role": "USER"})
		signUpWith(t, http.StatusForbidden, "invite_invalid", adminCode)
		signUpWith(t, http.StatusForbidden, "invite_invalid", userCode)
		if got := a.listInvites(t, tn.Admin.Token); len(got) != 1 || got[0].CreatedBy == nil || *got[0].CreatedBy != tn.Admin.ID {
			t.Errorf("listed %+v, want only the owner's invite", got)
		}
		// Promoted again, the member does not get the old codes back.
		a.expect(t, http.StatusOK, "", "PATCH", userPath(rogue.ID), tn.Admin.Token, map[string]any{"role": "ADMIN"})
		signUpWith(t, http.StatusForbidden, "invite_invalid", adminCode)
		signUpWith(t, http.StatusCreated, "", ownersCode)
	})

	t.Run("a_promotion_leaves_invites_alone", func(t *testing.T) {
		tn := a.newTenant(t)
		second := a.addMember(t, tn, "ADMIN")
		code := a.inviteAs(t, second.Token, "USER", "")
		other := a.addMember(t, tn, "USER")
		a.expect(t, http.StatusOK, "", "PATCH", userPath(other.ID), tn.Admin.Token, map[string]any{"role": "ADMIN"})
		signUpWith(t, http.StatusCreated, "", code)
	})

	t.Run("cross_tenant", func(t *testing.T) {
		tA, tB := a.newTenant(t), a.newTenant(t)
		emailA := uniqueEmail("a-invitee")
		codeA := a.inviteAs(t, tA.Admin.Token, "ADMIN", emailA)
		invA, ok := inviteFor(a.listInvites(t, tA.Admin.Token), emailA)
		if !ok {
			t.Fatal("A's invite is not listed to A")
		}
		emailB := uniqueEmail("b-invitee")
		a.inviteAs(t, tB.Admin.Token, "USER", emailB)

		listB := a.listInvites(t, tB.Admin.Token)
		if _, ok := inviteFor(listB, emailA); ok || len(listB) != 1 {
			t.Fatalf("B lists %+v, want only its own invite", listB)
		}
		if _, ok := inviteFor(listB, emailB); !ok {
			t.Fatalf("B lists %+v, without its own invite", listB)
		}
		a.expect(t, http.StatusNotFound, "invite_not_found", "DELETE", invitePath(invA.ID), tB.Admin.Token, nil)
		// The same answer as for an id that does not exist at all.
		a.expect(t, http.StatusNotFound, "invite_not_found", "DELETE", invitePath(9_000_000_000_001), tB.Admin.Token, nil)
		if got := inviteIDs(a.listInvites(t, tA.Admin.Token)); !slices.Equal(got, []int64{invA.ID}) {
			t.Fatalf("A lists %v after B's delete, want [%d]", got, invA.ID)
		}
		a.expect(t, http.StatusCreated, "", "POST", "/signup", "",
			map[string]any{"email": emailA, "password": password, "invite_code": codeA})
	})
}
