package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// apiKey creates a key for u.
func (f *fixture) apiKey(u *domain.User, expires *time.Time) *domain.APIKey {
	f.t.Helper()
	k := &domain.APIKey{OrgID: u.OrgID, UserID: u.ID, Name: "ci bot", Prefix: "tf_abcd", Hash: unique("kh"),
		CreatedAt: t0, ExpiresAt: expires}
	if err := f.s.APIKeys.Create(f.ctx, k); err != nil {
		f.t.Fatalf("create api key: %v", err)
	}
	if k.ID < 1 {
		f.t.Fatalf("api key id %d", k.ID)
	}
	return k
}

var apiKeyTests = []test{
	{"create_then_by_hash_and_get_read_it_back", func(t *testing.T, f *fixture) {
		o := f.org()
		u := f.user(o.ID, domain.RoleUser)
		exp := t0.Add(time.Hour)
		k := f.apiKey(u, &exp)
		got, err := f.s.APIKeys.ByHash(f.ctx, k.Hash)
		wantNoErr(t, "by hash", err)
		wantEqual(t, "by hash", *got, *k)
		got, err = f.s.APIKeys.Get(f.ctx, o.ID, k.ID)
		wantNoErr(t, "get", err)
		wantEqual(t, "get", *got, *k)
		_, err = f.s.APIKeys.ByHash(f.ctx, unique("nope"))
		wantErr(t, "unknown hash", err, domain.ErrAPIKeyNotFound)
	}},
	{"another_organizations_key_is_invisible", func(t *testing.T, f *fixture) {
		o, other := f.org(), f.org()
		u := f.user(o.ID, domain.RoleAdmin)
		k := f.apiKey(u, nil)
		_, err := f.s.APIKeys.Get(f.ctx, other.ID, k.ID)
		wantErr(t, "get through another org", err, domain.ErrAPIKeyNotFound)
		keys, err := f.s.APIKeys.List(f.ctx, other.ID, 0)
		wantNoErr(t, "list another org", err)
		wantEqual(t, "another org's keys", len(keys), 0)
		_, err = f.s.APIKeys.Principal(f.ctx, other.ID, k.ID, t0)
		wantErr(t, "principal through another org", err, domain.ErrUnauthenticated)
		wantErr(t, "delete through another org", f.s.APIKeys.Delete(f.ctx, other.ID, k.ID), domain.ErrAPIKeyNotFound)
		if wrote, err := f.s.APIKeys.Touch(f.ctx, other.ID, k.ID, t0); err != nil || wrote {
			t.Fatalf("touch through another org = %v, %v", wrote, err)
		}
		_, err = f.s.APIKeys.Get(f.ctx, o.ID, k.ID)
		wantNoErr(t, "still there", err)
		// A member of another organization cannot own a key here.
		w := f.user(other.ID, domain.RoleUser)
		err = f.s.APIKeys.Create(f.ctx, &domain.APIKey{OrgID: o.ID, UserID: w.ID, Name: "x", Prefix: "tf_x", Hash: unique("kh"), CreatedAt: t0})
		wantErr(t, "create for another org's member", err, domain.ErrUserNotFound)
	}},
	{"list_is_per_member_or_the_whole_organization_newest_first", func(t *testing.T, f *fixture) {
		o := f.org()
		u, v := f.user(o.ID, domain.RoleUser), f.user(o.ID, domain.RoleAdmin)
		k1, k2, k3 := f.apiKey(u, nil), f.apiKey(v, nil), f.apiKey(u, nil)
		ids := func(keys []*domain.APIKey, err error) []domain.APIKeyID {
			t.Helper()
			wantNoErr(t, "list", err)
			var out []domain.APIKeyID
			for _, k := range keys {
				out = append(out, k.ID)
			}
			return out
		}
		wantEqual(t, "u's keys", ids(f.s.APIKeys.List(f.ctx, o.ID, u.ID)), []domain.APIKeyID{k3.ID, k1.ID})
		wantEqual(t, "all keys", ids(f.s.APIKeys.List(f.ctx, o.ID, 0)), []domain.APIKeyID{k3.ID, k2.ID, k1.ID})
	}},
	{"principal_has_the_current_role_until_expiry_deletion_or_removal", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleAdmin)
		exp := t0.Add(time.Hour)
		k := f.apiKey(u, &exp)
		got, err := f.s.APIKeys.Principal(f.ctx, o.ID, k.ID, t0)
		wantNoErr(t, "principal", err)
		wantEqual(t, "role", got.Role, domain.RoleAdmin)
		if _, err := f.s.Users.SetRole(f.ctx, o.ID, u.ID, domain.RoleUser); err != nil {
			t.Fatal(err)
		}
		got, err = f.s.APIKeys.Principal(f.ctx, o.ID, k.ID, t0)
		wantNoErr(t, "principal after demotion", err)
		wantEqual(t, "role after demotion", got.Role, domain.RoleUser)
		_, err = f.s.APIKeys.Principal(f.ctx, o.ID, k.ID, exp)
		wantErr(t, "at expiry", err, domain.ErrUnauthenticated)

		k2 := f.apiKey(admin, nil)
		wantNoErr(t, "delete", f.s.APIKeys.Delete(f.ctx, o.ID, k2.ID))
		_, err = f.s.APIKeys.Principal(f.ctx, o.ID, k2.ID, t0)
		wantErr(t, "deleted", err, domain.ErrUnauthenticated)
		_, err = f.s.APIKeys.ByHash(f.ctx, k2.Hash)
		wantErr(t, "deleted by hash", err, domain.ErrAPIKeyNotFound)
		wantErr(t, "delete twice", f.s.APIKeys.Delete(f.ctx, o.ID, k2.ID), domain.ErrAPIKeyNotFound)

		if _, _, err := f.s.Users.Delete(f.ctx, o.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.s.APIKeys.ByHash(f.ctx, k.Hash)
		wantErr(t, "removed member's key", err, domain.ErrAPIKeyNotFound)
	}},
	{"touch_writes_at_most_once_a_minute", func(t *testing.T, f *fixture) {
		o := f.org()
		k := f.apiKey(f.user(o.ID, domain.RoleUser), nil)
		touch := func(at time.Time) bool {
			t.Helper()
			wrote, err := f.s.APIKeys.Touch(f.ctx, o.ID, k.ID, at)
			wantNoErr(t, "touch", err)
			return wrote
		}
		wantEqual(t, "first use", touch(t0), true)
		wantEqual(t, "30 s later", touch(t0.Add(30*time.Second)), false)
		wantEqual(t, "59.9 s later", touch(t0.Add(time.Minute-time.Millisecond)), false)
		got, err := f.s.APIKeys.Get(f.ctx, o.ID, k.ID)
		wantNoErr(t, "get", err)
		wantEqual(t, "last_used_at", *got.LastUsedAt, stored(t0))
		wantEqual(t, "a minute later", touch(t0.Add(time.Minute)), true)
		got, _ = f.s.APIKeys.Get(f.ctx, o.ID, k.ID)
		wantEqual(t, "last_used_at moved", *got.LastUsedAt, stored(t0.Add(time.Minute)))
	}},
	{"a_hash_is_unique", func(t *testing.T, f *fixture) {
		o := f.org()
		u := f.user(o.ID, domain.RoleUser)
		k := f.apiKey(u, nil)
		err := f.s.APIKeys.Create(f.ctx, &domain.APIKey{OrgID: o.ID, UserID: u.ID, Name: "x", Prefix: "tf_x", Hash: k.Hash, CreatedAt: t0})
		if err == nil || errors.Is(err, domain.ErrUserNotFound) {
			t.Fatalf("a second key with the same hash: %v", err)
		}
	}},
}

// stored is t as the stores keep it: UTC, microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
