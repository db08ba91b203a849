package sqlite_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/migrations"
)

// TestMigrate_CitusReadyBackfillsTheLookups migrates a database holding a
// user, an invite and an API key written before
// migrations/sqlite/00017_citus_ready.sql: the stores, which find them
// through the lookup tables from then on, must find them, and the email
// must stay taken.
func TestMigrate_CitusReadyBackfillsTheLookups(t *testing.T) {
	t.Parallel()
	p := openFresh(t)
	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	prov, err := goose.NewProvider(goose.DialectSQLite3, p.write.DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	const citusReady = 17
	if _, err := prov.UpTo(t.Context(), citusReady-1); err != nil {
		t.Fatal(err)
	}
	var org, user, invite, key int64
	for _, step := range []func() error{
		func() error {
			return p.write.GetContext(t.Context(), &org, `INSERT INTO organizations (name) VALUES ('before') RETURNING id`)
		},
		func() error {
			return p.write.GetContext(t.Context(), &user, `INSERT INTO users (organization_id, email, password_hash, role)
				VALUES (?, 'ann@example.com', 'hash', 'ADMIN') RETURNING id`, org)
		},
		func() error {
			return p.write.GetContext(t.Context(), &invite, `INSERT INTO invites (organization_id, code_hash, role, expires_at)
				VALUES (?, 'code-a', 'USER', '2100-01-01 00:00:00+00:00') RETURNING id`, org)
		},
		func() error {
			return p.write.GetContext(t.Context(), &key, `INSERT INTO api_keys (organization_id, user_id, name, prefix, key_hash)
				VALUES (?, ?, 'k', 'tf_', 'key-a') RETURNING id`, org, user)
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	migrate(t, p.write, "up")

	ctx, s := t.Context(), newStore(p).Stores()
	u, err := s.Users.ByEmail(ctx, "ANN@example.com")
	if err != nil || int64(u.ID) != user || int64(u.OrgID) != org {
		t.Fatalf("login after the migration: %+v, %v", u, err)
	}
	inv, err := s.Invites.ByCodeHash(ctx, "code-a")
	if err != nil || inv.ID != invite {
		t.Fatalf("invite after the migration: %+v, %v", inv, err)
	}
	k, err := s.APIKeys.ByHash(ctx, "key-a")
	if err != nil || int64(k.ID) != key {
		t.Fatalf("api key after the migration: %+v, %v", k, err)
	}
	other, err := domain.NewOrganization("after", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	dup := &domain.User{OrgID: other.ID, Email: strings.ToUpper("ann@example.com"), PasswordHash: "x",
		Role: domain.RoleAdmin, CreatedAt: time.Now()}
	if err := s.Users.Create(ctx, dup); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("sign-up with the backfilled email elsewhere: %v, want ErrEmailTaken", err)
	}
}
