package storetest

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

func (f *fixture) invite(org domain.OrgID, email string) *domain.Invite {
	f.t.Helper()
	return f.inviteBy(org, nil, email, t0.Add(72*time.Hour))
}

// inviteBy creates an invite made by creator (nil: none) expiring at
// expires.
func (f *fixture) inviteBy(org domain.OrgID, creator *domain.UserID, email string, expires time.Time) *domain.Invite {
	f.t.Helper()
	inv := &domain.Invite{OrgID: org, CodeHash: unique("hash"), Role: domain.RoleUser, Email: email,
		ExpiresAt: expires, CreatedAt: t0, CreatedBy: creator}
	if err := f.s.Invites.Create(f.ctx, inv); err != nil {
		f.t.Fatalf("create invite: %v", err)
	}
	return inv
}

// inviteIDs lists the ids of org's usable invites at now.
func (f *fixture) inviteIDs(org domain.OrgID, now time.Time) []int64 {
	f.t.Helper()
	invs, err := f.s.Invites.ListUsable(f.ctx, org, now)
	wantNoErr(f.t, "list usable invites", err)
	ids := []int64{}
	for _, inv := range invs {
		ids = append(ids, inv.ID)
	}
	return ids
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
			if err == nil {
				won++
				continue
			}
			wantErr(t, "mark used", err, domain.ErrInviteInvalid)
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
	{"create_with_a_creator_then_find_by_code_hash_returns_the_creator", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		inv := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantNoErr(t, "by code hash", err)
		wantEqual(t, "invite", got, inv)
		wantEqual(t, "created_by", got.CreatedBy, &admin.ID)
	}},
	{"create_by_a_member_of_another_organization_is_user_not_found", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		_, stranger := f.orgWithAdmin()
		inv := &domain.Invite{OrgID: o.ID, CodeHash: unique("hash"), Role: domain.RoleAdmin,
			ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, CreatedBy: &stranger.ID}
		wantErr(t, "create", f.s.Invites.Create(f.ctx, inv), domain.ErrUserNotFound)
		wantEqual(t, "usable invites", f.inviteIDs(o.ID, t0), []int64{})
	}},
	{"create_by_a_member_who_is_not_an_admin_is_forbidden", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		user := f.user(o.ID, domain.RoleUser)
		inv := &domain.Invite{OrgID: o.ID, CodeHash: unique("hash"), Role: domain.RoleAdmin,
			ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, CreatedBy: &user.ID}
		wantErr(t, "create", f.s.Invites.Create(f.ctx, inv), domain.ErrForbidden)
		wantEqual(t, "usable invites", f.inviteIDs(o.ID, t0), []int64{})
	}},
	// A rogue ADMIN making an invite while being demoted: either the
	// invite comes first and the demotion revokes it, or the demotion
	// comes first and the invite is refused; never an invite that
	// outlives the role.
	{"an_invite_racing_its_creators_demotion_never_survives_it", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		for range 20 {
			rogue := f.user(o.ID, domain.RoleAdmin)
			errs := race(2, func(i int) error {
				if i == 0 {
					return f.tx.InTx(f.ctx, func(s ports.Stores) error {
						if _, err := s.Users.SetRole(f.ctx, o.ID, rogue.ID, domain.RoleUser); err != nil {
							return err
						}
						return s.Invites.DeleteUnusedBy(f.ctx, o.ID, rogue.ID)
					})
				}
				return f.s.Invites.Create(f.ctx, &domain.Invite{OrgID: o.ID, CodeHash: unique("hash"), Role: domain.RoleAdmin,
					ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, CreatedBy: &rogue.ID})
			})
			wantNoErr(t, "demote", errs[0])
			if errs[1] != nil {
				wantErr(t, "create", errs[1], domain.ErrForbidden)
			}
			invs, err := f.s.Invites.ListUsable(f.ctx, o.ID, t0)
			wantNoErr(t, "list usable", err)
			for _, inv := range invs {
				if inv.CreatedBy != nil && *inv.CreatedBy == rogue.ID {
					t.Fatalf("invite %d of a demoted member survived the demotion", inv.ID)
				}
			}
		}
	}},
	{"list_usable_returns_unused_unexpired_invites_of_the_organization_oldest_first", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		other, otherAdmin := f.orgWithAdmin()
		first := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		used := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		wantNoErr(t, "mark used", f.s.Invites.MarkUsed(f.ctx, o.ID, used.ID, t0))
		f.inviteBy(o.ID, &admin.ID, "", t0) // expires at the very moment listed
		second := f.inviteBy(o.ID, nil, unique("bound")+"@example.com", t0.Add(time.Minute))
		f.inviteBy(other.ID, &otherAdmin.ID, "", t0.Add(time.Hour))

		got, err := f.s.Invites.ListUsable(f.ctx, o.ID, t0)
		wantNoErr(t, "list usable", err)
		wantEqual(t, "invites", got, []domain.Invite{*first, *second})
		wantEqual(t, "after the second expired", f.inviteIDs(o.ID, t0.Add(time.Minute)), []int64{first.ID})
	}},
	{"delete_stops_the_code_and_a_second_delete_is_not_found", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		inv := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		keep := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))

		wantNoErr(t, "delete", errOf(f.s.Invites.Delete(f.ctx, o.ID, inv.ID)))
		_, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantErr(t, "by code hash after delete", err, domain.ErrInviteNotFound)
		wantErr(t, "second delete", errOf(f.s.Invites.Delete(f.ctx, o.ID, inv.ID)), domain.ErrInviteNotFound)
		wantErr(t, "mark used after delete", f.s.Invites.MarkUsed(f.ctx, o.ID, inv.ID, t0), domain.ErrInviteInvalid)
		wantEqual(t, "usable invites", f.inviteIDs(o.ID, t0), []int64{keep.ID})
	}},
	{"delete_of_another_tenants_invite_is_not_found_and_leaves_it", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		inv := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		other, _ := f.orgWithAdmin()

		wantErr(t, "delete from another organization", errOf(f.s.Invites.Delete(f.ctx, other.ID, inv.ID)), domain.ErrInviteNotFound)
		wantEqual(t, "owner's usable invites", f.inviteIDs(o.ID, t0), []int64{inv.ID})
		wantEqual(t, "other's usable invites", f.inviteIDs(other.ID, t0), []int64{})
		got, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantNoErr(t, "by code hash", err)
		wantEqual(t, "invite", got, inv)
	}},
	{"delete_of_a_used_or_absent_invite_is_not_found", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		inv := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		wantNoErr(t, "mark used", f.s.Invites.MarkUsed(f.ctx, o.ID, inv.ID, t0))
		wantErr(t, "delete used", errOf(f.s.Invites.Delete(f.ctx, o.ID, inv.ID)), domain.ErrInviteNotFound)
		wantErr(t, "delete absent", errOf(f.s.Invites.Delete(f.ctx, o.ID, absent)), domain.ErrInviteNotFound)
		_, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantNoErr(t, "the used invite stays", err)
	}},
	{"delete_unused_by_removes_only_that_members_unused_invites", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		rogue := f.user(o.ID, domain.RoleAdmin)
		other, otherAdmin := f.orgWithAdmin()
		gone1 := f.inviteBy(o.ID, &rogue.ID, "", t0.Add(time.Hour))
		gone2 := f.inviteBy(o.ID, &rogue.ID, "", t0.Add(time.Hour))
		used := f.inviteBy(o.ID, &rogue.ID, "", t0.Add(time.Hour))
		wantNoErr(t, "mark used", f.s.Invites.MarkUsed(f.ctx, o.ID, used.ID, t0))
		admins := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))
		first := f.inviteBy(o.ID, nil, "", t0.Add(time.Hour))
		elsewhere := f.inviteBy(other.ID, &otherAdmin.ID, "", t0.Add(time.Hour))

		// Another organization's scope touches nothing of this one.
		wantNoErr(t, "delete unused by, other organization", f.s.Invites.DeleteUnusedBy(f.ctx, other.ID, rogue.ID))
		wantEqual(t, "usable invites", f.inviteIDs(o.ID, t0), []int64{gone1.ID, gone2.ID, admins.ID, first.ID})

		wantNoErr(t, "delete unused by", f.s.Invites.DeleteUnusedBy(f.ctx, o.ID, rogue.ID))
		wantEqual(t, "usable invites", f.inviteIDs(o.ID, t0), []int64{admins.ID, first.ID})
		wantEqual(t, "other's usable invites", f.inviteIDs(other.ID, t0), []int64{elsewhere.ID})
		for _, inv := range []*domain.Invite{gone1, gone2} {
			_, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
			wantErr(t, "by code hash of a revoked invite", err, domain.ErrInviteNotFound)
		}
		_, err := f.s.Invites.ByCodeHash(f.ctx, used.CodeHash)
		wantNoErr(t, "the used invite stays", err)
	}},
	{"removing_a_member_takes_the_invites_they_made", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		rogue := f.user(o.ID, domain.RoleAdmin)
		inv := f.inviteBy(o.ID, &rogue.ID, "", t0.Add(time.Hour))
		kept := f.inviteBy(o.ID, &admin.ID, "", t0.Add(time.Hour))

		wantNoErr(t, "delete member", errOf2(f.s.Users.Delete(f.ctx, o.ID, rogue.ID)))
		_, err := f.s.Invites.ByCodeHash(f.ctx, inv.CodeHash)
		wantErr(t, "by code hash", err, domain.ErrInviteNotFound)
		wantEqual(t, "usable invites", f.inviteIDs(o.ID, t0), []int64{kept.ID})
	}},
}
