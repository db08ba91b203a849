package storetest

import (
	"testing"

	"github.com/taskflow/taskflow/domain"
)

// passwordTests are the UserStore's password hash writes.
var passwordTests = []test{
	{"replace_password_hash_replaces_the_hash_it_was_given", func(t *testing.T, f *fixture) {
		o, u := f.orgWithAdmin()
		wantNoErr(t, "replace", f.s.Users.ReplacePasswordHash(f.ctx, o.ID, u.ID, u.PasswordHash, "$2a$11$rehashed"))
		got, err := f.s.Users.ByEmail(f.ctx, u.Email)
		wantNoErr(t, "by email", err)
		wantEqual(t, "password hash", got.PasswordHash, "$2a$11$rehashed")
	}},
	{"replace_password_hash_leaves_a_hash_changed_meanwhile", func(t *testing.T, f *fixture) {
		o, u := f.orgWithAdmin()
		wantNoErr(t, "set password", f.s.Users.SetPassword(f.ctx, o.ID, u.ID, "$2a$10$changed"))
		wantNoErr(t, "replace", f.s.Users.ReplacePasswordHash(f.ctx, o.ID, u.ID, u.PasswordHash, "$2a$11$rehashed"))
		got, err := f.s.Users.ByEmail(f.ctx, u.Email)
		wantNoErr(t, "by email", err)
		wantEqual(t, "password hash", got.PasswordHash, "$2a$10$changed")
	}},
	{"replace_password_hash_of_another_tenants_member_changes_nothing", func(t *testing.T, f *fixture) {
		o, u := f.orgWithAdmin()
		other, _ := f.orgWithAdmin()
		wantNoErr(t, "replace", f.s.Users.ReplacePasswordHash(f.ctx, other.ID, u.ID, u.PasswordHash, "$2a$11$rehashed"))
		got := f.getUser(o.ID, u.ID)
		wantEqual(t, "password hash", got.PasswordHash, u.PasswordHash)
		wantNoErr(t, "absent member", f.s.Users.ReplacePasswordHash(f.ctx, o.ID, domain.UserID(absent), "x", "y"))
	}},
}
