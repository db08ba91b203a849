package storetest

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

func (f *fixture) invite(org domain.OrgID, email string) *domain.Invite {
	f.t.Helper()
	inv := &domain.Invite{OrgID: org, CodeHash: unique("hash"), Role: domain.RoleUser, Email: email,
		ExpiresAt: t0.Add(72 * time.Hour), CreatedAt: t0}
	if err := f.s.Invites.Create(f.ctx, inv); err != nil {
		f.t.Fatalf("create invite: %v", err)
	}
	return inv
}

var inviteTests = []test{
	{"create_then_find_by_code_hash_returns_the_same_invite", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		for _, email := range []string{"", unique("invitee") + "@example.com"} {
			inv := f.invite(o.ID, email)
			if inv.ID == 0 {
				t.Fatal("Create left the id unset")
			}
			got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
			wantNoErr(t, "by code hash", err)
			wantEqual(t, "invite", got, inv)
		}
	}},
	{"create_in_an_absent_organization_is_org_not_found", func(t *testing.T, f *fixture) {
		inv := &domain.Invite{OrgID: absent, CodeHash: unique("hash"), Role: domain.RoleUser,
			ExpiresAt: t0, CreatedAt: t0}
		wantErr(t, "create", f.s.Invites.Create(f.ctx, inv), domain.ErrOrgNotFound)
	}},
	{"by_code_hash_absent_is_not_found", func(t *testing.T, f *fixture) {
		_, err := f.s.Invites.ByCodeHash(f.ctx, unique("nohash"))
		wantErr(t, "by code hash", err, domain.ErrInviteNotFound)
	}},
	{"mark_used_twice_refuses_the_second", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		inv := f.invite(o.ID, "")
		at := t0.Add(time.Hour)

		wantNoErr(t, "first mark used", f.s.Invites.MarkUsed(f.ctx, o.ID, inv.ID, at))
		wantErr(t, "second mark used", f.s.Invites.MarkUsed(f.ctx, o.ID, inv.ID, at.Add(time.Minute)),
			domain.ErrInviteInvalid)

		got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantNoErr(t, "by code hash", err)
		wantEqual(t, "used_at", got.UsedAt, ptr(at.UTC().Truncate(time.Microsecond)))
	}},
	{"concurrent_mark_used_lets_one_win", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		inv := f.invite(o.ID, "")
		errs := race(5, func(int) error { return f.s.Invites.MarkUsed(f.ctx, o.ID, inv.ID, t0) })
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			default:
				wantErr(t, "mark used", err, domain.ErrInviteInvalid)
			}
		}
		wantEqual(t, "winners", won, 1)
	}},
	{"mark_used_of_another_organizations_invite_is_invalid", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		inv := f.invite(o.ID, "")
		other, _ := f.orgWithAdmin()

		wantErr(t, "mark used", f.s.Invites.MarkUsed(f.ctx, other.ID, inv.ID, t0), domain.ErrInviteInvalid)
		got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantNoErr(t, "by code hash", err)
		if got.UsedAt != nil {
			t.Fatalf("invite marked used at %v by another organization", got.UsedAt)
		}
	}},
}
