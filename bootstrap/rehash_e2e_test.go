package bootstrap_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/taskflow/taskflow/adapters/sqlite"
	"github.com/taskflow/taskflow/config"
)

// TestAPI_LoginRehashesAtANewBcryptCost: an account hashed at cost 10 logs
// in to a replica started with BCRYPT_COST=11 (same database) and is
// stored at 11 from then on, so that its wrong passwords come to cost
// what an unknown email's do.
func TestAPI_LoginRehashesAtANewBcryptCost(t *testing.T) {
	t.Parallel()
	old := testConfig(t, "memory", "")
	old.BcryptCost = 10
	a := startServer(t, old)
	tn := a.newTenant(t)

	_, write, err := sqlite.Open(t.Context(), filepath.Join(old.DataDir, config.SQLiteFile), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = write.Close() })
	storedCost := func() int {
		t.Helper()
		var hash string
		if err := write.GetContext(t.Context(), &hash, `SELECT password_hash FROM users WHERE id = ?`, tn.Admin.ID); err != nil {
			t.Fatal(err)
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			t.Fatalf("stored hash %q: %v", hash, err)
		}
		return c
	}
	if c := storedCost(); c != 10 {
		t.Fatalf("signed up at cost %d, want 10", c)
	}

	raised := *old
	raised.BcryptCost = 11
	b := startServer(t, &raised)
	b.expect(t, http.StatusUnauthorized, "invalid_credentials", "POST", "/login", "",
		map[string]any{"email": tn.Admin.Email, "password": "not-the-password"})
	if c := storedCost(); c != 10 {
		t.Fatalf("a wrong password changed the stored cost to %d", c)
	}
	b.login(t, tn.Admin.Email)
	if c := storedCost(); c != 11 {
		t.Fatalf("stored cost %d after a login at BCRYPT_COST=11, want 11", c)
	}
	// Both replicas still accept the password: a hash names its own cost.
	a.login(t, tn.Admin.Email)
	b.login(t, tn.Admin.Email)
}
