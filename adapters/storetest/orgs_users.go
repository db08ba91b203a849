package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

var orgTests = []test{
	{"create_then_get_returns_the_same_organization", func(t *testing.T, f *fixture) {
		o := f.org()
		if o.ID == 0 {
			t.Fatal("Create left the id unset")
		}
		got, err := f.s.Orgs.Get(f.ctx, o.ID)
		wantNoErr(t, "get", err)
		wantEqual(t, "organization", got, o)
		wantEqual(t, "created_at", got.CreatedAt, t0.UTC().Truncate(time.Microsecond))
	}},
	{"get_absent_is_not_found", func(t *testing.T, f *fixture) {
		_, err := f.s.Orgs.Get(f.ctx, absent)
		wantErr(t, "get", err, domain.ErrOrgNotFound)
	}},
}

var userTests = []test{
	{"create_then_get_returns_the_same_user", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		if u.ID == 0 {
			t.Fatal("Create left the id unset")
		}
		wantEqual(t, "user", f.getUser(o.ID, u.ID), u)
	}},
	{"get_absent_is_not_found", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		_, err := f.s.Users.Get(f.ctx, o.ID, absent)
		wantErr(t, "get", err, domain.ErrUserNotFound)
	}},
	{"create_in_an_absent_organization_is_org_not_found", func(t *testing.T, f *fixture) {
		wantErr(t, "create", f.s.Users.Create(f.ctx, newUser(absent, domain.RoleAdmin)), domain.ErrOrgNotFound)
	}},
	{"by_email_ignores_case", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		got, err := f.s.Users.ByEmail(f.ctx, strings.ToUpper(u.Email))
		wantNoErr(t, "by email", err)
		wantEqual(t, "user", got, u)
	}},
	{"by_email_absent_is_not_found", func(t *testing.T, f *fixture) {
		_, err := f.s.Users.ByEmail(f.ctx, unique("nobody")+"@example.com")
		wantErr(t, "by email", err, domain.ErrUserNotFound)
	}},
	{"list_returns_own_members_oldest_first", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u1 := f.user(o.ID, domain.RoleUser)
		u2 := f.user(o.ID, domain.RoleUser)
		other, _ := f.orgWithAdmin()
		f.user(other.ID, domain.RoleUser)

		got, err := f.s.Users.List(f.ctx, o.ID)
		wantNoErr(t, "list", err)
		wantEqual(t, "members", got, []domain.User{*admin, *u1, *u2})
	}},
	{"email_taken_in_any_case_is_refused", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		dup := newUser(o.ID, domain.RoleUser)
		dup.Email = strings.ToUpper(admin.Email)
		wantErr(t, "create", f.s.Users.Create(f.ctx, dup), domain.ErrEmailTaken)
	}},
	{"email_taken_in_another_organization_is_refused", func(t *testing.T, f *fixture) {
		_, admin := f.orgWithAdmin()
		other := f.org()
		dup := newUser(other.ID, domain.RoleAdmin)
		dup.Email = admin.Email
		wantErr(t, "create", f.s.Users.Create(f.ctx, dup), domain.ErrEmailTaken)
	}},
	{"set_role_promotes_and_demotes", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)

		got, err := f.s.Users.SetRole(f.ctx, o.ID, u.ID, domain.RoleAdmin)
		wantNoErr(t, "promote", err)
		u.Role = domain.RoleAdmin
		wantEqual(t, "promoted", got, u)
		wantEqual(t, "stored", f.getUser(o.ID, u.ID), u)

		got, err = f.s.Users.SetRole(f.ctx, o.ID, u.ID, domain.RoleUser)
		wantNoErr(t, "demote", err)
		wantEqual(t, "role", got.Role, domain.RoleUser)
	}},
	{"set_role_refuses_to_demote_the_last_admin", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		f.user(o.ID, domain.RoleUser)
		_, err := f.s.Users.SetRole(f.ctx, o.ID, admin.ID, domain.RoleUser)
		wantErr(t, "demote", err, domain.ErrLastAdmin)
		wantEqual(t, "role", f.getUser(o.ID, admin.ID).Role, domain.RoleAdmin)
	}},
	{"set_role_keeps_the_last_admin_an_admin", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		got, err := f.s.Users.SetRole(f.ctx, o.ID, admin.ID, domain.RoleAdmin)
		wantNoErr(t, "set ADMIN again", err)
		wantEqual(t, "role", got.Role, domain.RoleAdmin)
	}},
	{"set_role_of_absent_user_is_not_found", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		_, err := f.s.Users.SetRole(f.ctx, o.ID, absent, domain.RoleAdmin)
		wantErr(t, "set role", err, domain.ErrUserNotFound)
	}},
	{"delete_removes_the_member", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		wantNoErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, o.ID, u.ID)))
		_, err := f.s.Users.Get(f.ctx, o.ID, u.ID)
		wantErr(t, "get after delete", err, domain.ErrUserNotFound)
		wantErr(t, "delete again", errOf2(f.s.Users.Delete(f.ctx, o.ID, u.ID)), domain.ErrUserNotFound)
	}},
	{"delete_of_an_admin_works_while_another_remains", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		f.user(o.ID, domain.RoleAdmin)
		wantNoErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, o.ID, admin.ID)))
		wantEqual(t, "admins left", f.countAdmins(o.ID), 1)
	}},
	{"delete_refuses_to_remove_the_last_admin", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		f.user(o.ID, domain.RoleUser)
		wantErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, o.ID, admin.ID)), domain.ErrLastAdmin)
		f.getUser(o.ID, admin.ID)
	}},
	{"delete_unassigns_their_tasks_and_moves_the_version_on", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		assigned := f.task(o.ID, admin.ID, &u.ID)
		authored := f.task(o.ID, u.ID, nil)

		wantNoErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, o.ID, u.ID)))

		got := f.getTask(o.ID, assigned.ID)
		if got.AssigneeID != nil {
			t.Fatalf("assignee = %d, want none", *got.AssigneeID)
		}
		if got.Version <= assigned.Version {
			t.Fatalf("version = %d, want > %d: the task changed, so must its ETag", got.Version, assigned.Version)
		}
		// The record of who wrote a task outlives its author.
		wantEqual(t, "authored task", f.getTask(o.ID, authored.ID), authored)
	}},
	{"concurrent_admins_demoting_each_other_leave_one_admin", func(t *testing.T, f *fixture) {
		for range 5 {
			o, a := f.orgWithAdmin()
			b := f.user(o.ID, domain.RoleAdmin)
			ids := []domain.UserID{a.ID, b.ID}
			errs := race(2, func(i int) error {
				_, err := f.s.Users.SetRole(f.ctx, o.ID, ids[i], domain.RoleUser)
				return err
			})
			checkOneWonOneLastAdmin(t, errs)
			wantEqual(t, "admins left", f.countAdmins(o.ID), 1)
		}
	}},
	{"concurrent_admins_deleting_each_other_leave_one_admin", func(t *testing.T, f *fixture) {
		for range 5 {
			o, a := f.orgWithAdmin()
			b := f.user(o.ID, domain.RoleAdmin)
			ids := []domain.UserID{a.ID, b.ID}
			errs := race(2, func(i int) error {
				return errOf2(f.s.Users.Delete(f.ctx, o.ID, ids[i]))
			})
			checkOneWonOneLastAdmin(t, errs)
			wantEqual(t, "admins left", f.countAdmins(o.ID), 1)
		}
	}},
	{"another_organizations_user_is_not_found", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		other, _ := f.orgWithAdmin()

		_, err := f.s.Users.Get(f.ctx, other.ID, u.ID)
		wantErr(t, "get", err, domain.ErrUserNotFound)
		_, err = f.s.Users.SetRole(f.ctx, other.ID, u.ID, domain.RoleAdmin)
		wantErr(t, "set role", err, domain.ErrUserNotFound)
		wantErr(t, "delete", errOf2(f.s.Users.Delete(f.ctx, other.ID, u.ID)), domain.ErrUserNotFound)
		wantErr(t, "delete admin", errOf2(f.s.Users.Delete(f.ctx, other.ID, admin.ID)), domain.ErrUserNotFound)

		wantEqual(t, "user untouched", f.getUser(o.ID, u.ID), u)
		members, err := f.s.Users.List(f.ctx, other.ID)
		wantNoErr(t, "list", err)
		for _, m := range members {
			if m.OrgID != other.ID {
				t.Fatalf("list of organization %d returned %+v", other.ID, m)
			}
		}
	}},
}

func checkOneWonOneLastAdmin(t *testing.T, errs []error) {
	t.Helper()
	won, refused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, domain.ErrLastAdmin):
			refused++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if won != 1 || refused != 1 {
		t.Fatalf("%d succeeded and %d were refused, want 1 and 1", won, refused)
	}
}
