package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// The lookups made before the tenant is known (login by email, sign-up by
// invite code, an API key's hash) and the rule that an email is one
// account across every organization. The stores keep them in lookup
// tables written with their rows (migrations/postgres/00019); these cases
// hold whatever keeps them.
var lookupTests = []test{
	{"an_email_taken_in_another_organization_in_any_case_is_refused_and_leaves_nothing", func(t *testing.T, f *fixture) {
		_, admin := f.orgWithAdmin()
		other, otherAdmin := f.orgWithAdmin()
		dup := newUser(other.ID, domain.RoleUser)
		dup.Email = strings.ToUpper(admin.Email)
		wantErr(t, "create", f.s.Users.Create(f.ctx, dup), domain.ErrEmailTaken)
		members, err := f.s.Users.List(f.ctx, other.ID)
		wantNoErr(t, "list", err)
		wantEqual(t, "members of the refused organization", members, []domain.User{*otherAdmin})
		got, err := f.s.Users.ByEmail(f.ctx, dup.Email)
		wantNoErr(t, "by email", err)
		wantEqual(t, "login finds the first owner", got, admin)
	}},
	{"login_by_email_finds_each_member_in_its_own_organization", func(t *testing.T, f *fixture) {
		var users []*domain.User
		for range 3 {
			o, admin := f.orgWithAdmin()
			users = append(users, admin, f.user(o.ID, domain.RoleUser))
		}
		for _, u := range users {
			got, err := f.s.Users.ByEmail(f.ctx, strings.ToUpper(u.Email[:1])+u.Email[1:])
			wantNoErr(t, "by email", err)
			wantEqual(t, "user", got, u)
		}
	}},
	{"sign_up_by_invite_code_finds_each_invite_in_its_own_organization", func(t *testing.T, f *fixture) {
		a, _ := f.orgWithAdmin()
		b, _ := f.orgWithAdmin()
		invA, invB := f.invite(a.ID, ""), f.invite(b.ID, "")
		for _, inv := range []*domain.Invite{invA, invB} {
			got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
			wantNoErr(t, "by code hash", err)
			wantEqual(t, "invite", got, inv)
		}
	}},
	{"racing_sign_ups_with_one_email_in_different_organizations_exactly_one_wins", func(t *testing.T, f *fixture) {
		const n = 6
		orgs := make([]domain.OrgID, n)
		for i := range orgs {
			orgs[i] = f.org().ID
		}
		email := unique("racer") + "@example.com"
		users := make([]*domain.User, n)
		errs := race(n, func(i int) error {
			// As sign-up does it: the member in a transaction of its own.
			return f.tx.InTx(f.ctx, func(s ports.Stores) error {
				u := newUser(orgs[i], domain.RoleAdmin)
				u.Email = email
				if i%2 == 1 {
					u.Email = strings.ToUpper(email)
				}
				users[i] = u
				return s.Users.Create(f.ctx, u)
			})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("sign-ups %d and %d both won", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, domain.ErrEmailTaken):
				t.Fatalf("sign-up %d: %v, want nil or ErrEmailTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("no sign-up won: %v", errs)
		}
		got, err := f.s.Users.ByEmail(f.ctx, email)
		wantNoErr(t, "by email", err)
		wantEqual(t, "login finds the winner", got, users[winner])
		for i, org := range orgs {
			members, err := f.s.Users.List(f.ctx, org)
			wantNoErr(t, "list", err)
			if want := map[bool]int{true: 1, false: 0}[i == winner]; len(members) != want {
				t.Errorf("organization of sign-up %d has %d members, want %d", i, len(members), want)
			}
		}
	}},
	{"a_rolled_back_sign_up_leaves_its_email_free", func(t *testing.T, f *fixture) {
		o := f.org()
		u := newUser(o.ID, domain.RoleAdmin)
		boom := errors.New("later step failed")
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			if err := s.Users.Create(f.ctx, u); err != nil {
				return err
			}
			return boom
		})
		wantErr(t, "sign-up", err, boom)
		_, err = f.s.Users.ByEmail(f.ctx, u.Email)
		wantErr(t, "by email after rollback", err, domain.ErrUserNotFound)
		again := newUser(f.org().ID, domain.RoleAdmin)
		again.Email = u.Email
		wantNoErr(t, "sign up again", f.s.Users.Create(f.ctx, again))
	}},
	{"removing_a_member_frees_their_email_for_any_organization", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		wantNoErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, o.ID, u.ID)))
		_, err := f.s.Users.ByEmail(f.ctx, u.Email)
		wantErr(t, "by email after removal", err, domain.ErrUserNotFound)

		other, _ := f.orgWithAdmin()
		again := newUser(other.ID, domain.RoleUser)
		again.Email = strings.ToUpper(u.Email)
		wantNoErr(t, "sign up with the freed email elsewhere", f.s.Users.Create(f.ctx, again))
		got, err := f.s.Users.ByEmail(f.ctx, u.Email)
		wantNoErr(t, "by email", err)
		wantEqual(t, "login finds the new member", got, again)
	}},
	{"removing_a_member_ends_the_lookups_of_their_keys_and_invites", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		member := f.user(o.ID, domain.RoleAdmin)
		k := f.apiKey(member, nil)
		inv := f.inviteBy(o.ID, &member.ID, "", t0.Add(time.Hour))
		wantNoErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, o.ID, member.ID)))
		_, err := f.s.APIKeys.ByHash(f.ctx, k.Hash)
		wantErr(t, "key by hash", err, domain.ErrAPIKeyNotFound)
		_, err = f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantErr(t, "invite by code", err, domain.ErrInviteNotFound)
		// Nothing of them is left to collide with: the same hashes can
		// be stored again (a hash is the lookup's key).
		f.reuseHashes(o.ID, k.Hash, inv.CodeHash)
	}},
	{"deleting_a_key_or_an_invite_ends_its_lookup", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		k := f.apiKey(admin, nil)
		inv := f.invite(o.ID, "")
		wantNoErr(t, "delete key", f.s.APIKeys.Delete(f.ctx, o.ID, k.ID))
		wantNoErr(t, "delete invite", errOf(f.s.Invites.Delete(f.ctx, o.ID, inv.ID)))
		_, err := f.s.APIKeys.ByHash(f.ctx, k.Hash)
		wantErr(t, "key by hash", err, domain.ErrAPIKeyNotFound)
		_, err = f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantErr(t, "invite by code", err, domain.ErrInviteNotFound)
		f.reuseHashes(o.ID, k.Hash, inv.CodeHash)

		// And the unused invites a member made, revoked together.
		member := f.user(o.ID, domain.RoleAdmin)
		mine := f.inviteBy(o.ID, &member.ID, "", t0.Add(time.Hour))
		wantNoErr(t, "delete unused by", f.s.Invites.DeleteUnusedBy(f.ctx, o.ID, member.ID))
		_, err = f.s.Invites.ByCodeHash(f.ctx, mine.CodeHash)
		wantErr(t, "revoked invite by code", err, domain.ErrInviteNotFound)
	}},
}

// reuseHashes stores a new key and a new invite in a new organization
// under the given hashes, and finds them by those hashes.
func (f *fixture) reuseHashes(from domain.OrgID, keyHash, codeHash string) {
	f.t.Helper()
	o, admin := f.orgWithAdmin()
	if o.ID == from {
		f.t.Fatal("the new organization is the old one")
	}
	k := &domain.APIKey{OrgID: o.ID, UserID: admin.ID, Name: "again", Prefix: "tf_abcd", Hash: keyHash, CreatedAt: t0}
	wantNoErr(f.t, "create a key with the old hash", f.s.APIKeys.Create(f.ctx, k))
	got, err := f.s.APIKeys.ByHash(f.ctx, keyHash)
	wantNoErr(f.t, "key by hash", err)
	wantEqual(f.t, "key", *got, *k)
	inv := &domain.Invite{OrgID: o.ID, CodeHash: codeHash, Role: domain.RoleUser, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	wantNoErr(f.t, "create an invite with the old code", f.s.Invites.Create(f.ctx, inv))
	gotInv, err := f.s.Invites.ByCodeHash(f.ctx, codeHash)
	wantNoErr(f.t, "invite by code", err)
	wantEqual(f.t, "invite", gotInv, inv)
}
