package bootstrap_test

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

type apiKeyOut struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key"`
	ReadOnly   bool       `json:"read_only"`
	UserID     int64      `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

var apiKeyFormat = regexp.MustCompile(`^tf_[A-Za-z0-9_-]{43}$`)

// newAPIKey has token's member create a key with body (name defaulted).
func (a *api) newAPIKey(t testing.TB, token string, body map[string]any) apiKeyOut {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["name"]; !ok {
		body["name"] = "ci bot"
	}
	var k apiKeyOut
	a.expect(t, http.StatusCreated, "", "POST", "/api-keys", token, body).into(t, &k)
	if !apiKeyFormat.MatchString(k.Key) || !strings.HasPrefix(k.Key, k.Prefix) || len(k.Prefix) < 4 || k.ID < 1 {
		t.Fatalf("created key %+v", k)
	}
	return k
}

func (a *api) listAPIKeys(t testing.TB, token string) ([]apiKeyOut, reply) {
	t.Helper()
	r := a.expect(t, http.StatusOK, "", "GET", "/api-keys", token, nil)
	var ks []apiKeyOut
	r.into(t, &ks)
	return ks, r
}

func apiKeyPath(id int64) string { return "/api-keys/" + itoa(id) }

// testAPIKeys holds the contract's "API keys for machine clients" section.
func testAPIKeys(t *testing.T, a *api) {
	t.Run("the_key_is_shown_once_and_never_listed", func(t *testing.T) {
		tn := a.newTenant(t)
		k := a.newAPIKey(t, tn.Admin.Token, map[string]any{"name": "deploy", "read_only": false, "expires_at": nil})
		if k.UserID != tn.Admin.ID || k.Name != "deploy" || k.ReadOnly || k.ExpiresAt != nil || k.LastUsedAt != nil {
			t.Fatalf("created %+v", k)
		}
		ks, r := a.listAPIKeys(t, tn.Admin.Token)
		if len(ks) != 1 || ks[0].ID != k.ID || ks[0].Prefix != k.Prefix || ks[0].Key != "" {
			t.Fatalf("list = %+v", ks)
		}
		if bytes.Contains(r.body, []byte(k.Key)) || bytes.Contains(r.body, []byte(`"key"`)) {
			t.Fatalf("the list shows the secret: %s", r.body)
		}
	})
	t.Run("bad_input_is_422", func(t *testing.T) {
		tn := a.newTenant(t)
		for _, body := range []map[string]any{
			{"name": ""},
			{"name": strings.Repeat("n", 101)},
			{"name": "nul\x00"},
			{"name": "x", "expires_at": "tomorrow"},
			{"name": "x", "expires_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
			{"name": "x", "user_id": 1},
			{"name": "x", "read_only": "yes"},
		} {
			a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/api-keys", tn.Admin.Token, body)
		}
		a.newAPIKey(t, tn.Admin.Token, map[string]any{"name": strings.Repeat("é", 100)})
		if ks, _ := a.listAPIKeys(t, tn.Admin.Token); len(ks) != 1 {
			t.Fatalf("%d keys after refusals, want 1", len(ks))
		}
	})
	t.Run("a_key_acts_as_its_member_with_the_current_role", func(t *testing.T) {
		tn := a.newTenant(t)
		ann := a.addMember(t, tn, "ADMIN")
		k := a.newAPIKey(t, ann.Token, nil)
		var me userOut
		a.expect(t, http.StatusOK, "", "GET", "/me", k.Key, nil).into(t, &me)
		if me.ID != ann.ID || me.Role != "ADMIN" {
			t.Fatalf("GET /me with the key = %+v", me)
		}
		tk := a.newTask(t, k.Key, "by key")
		a.expect(t, http.StatusOK, "", "PATCH", userPath(ann.ID), tn.Admin.Token, map[string]any{"role": "USER"})
		// Demoted: the very next request with the key is a USER's.
		a.expect(t, http.StatusForbidden, "", "POST", "/tasks", k.Key, map[string]any{"title": "no longer"})
		a.expect(t, http.StatusForbidden, "", "DELETE", taskPath(tk.ID), k.Key, nil)
		a.expect(t, http.StatusOK, "", "GET", taskPath(tk.ID), k.Key, nil)
	})
	t.Run("a_read_only_key_only_reads", func(t *testing.T) {
		tn := a.newTenant(t)
		k := a.newAPIKey(t, tn.Admin.Token, map[string]any{"read_only": true})
		tk := a.newTask(t, tn.Admin.Token, "read me")
		a.expect(t, http.StatusOK, "", "GET", "/tasks", k.Key, nil)
		a.expect(t, http.StatusOK, "", "GET", taskPath(tk.ID), k.Key, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "POST", "/tasks", k.Key, map[string]any{"title": "x"})
		a.expect(t, http.StatusForbidden, "forbidden", "PATCH", taskPath(tk.ID), k.Key, map[string]any{"title": "x"})
		a.expect(t, http.StatusForbidden, "forbidden", "DELETE", taskPath(tk.ID), k.Key, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "POST", "/invites", k.Key, map[string]any{"role": "USER"})
		a.getTask(t, tn.Admin.Token, tk.ID) // untouched
	})
	t.Run("a_deleted_key_is_401_at_once", func(t *testing.T) {
		tn := a.newTenant(t)
		k := a.newAPIKey(t, tn.Admin.Token, nil)
		a.expect(t, http.StatusOK, "", "GET", "/me", k.Key, nil) // cached now
		a.expect(t, http.StatusNoContent, "", "DELETE", apiKeyPath(k.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", k.Key, nil)
		a.expect(t, http.StatusNotFound, "api_key_not_found", "DELETE", apiKeyPath(k.ID), tn.Admin.Token, nil)
	})
	t.Run("an_expired_key_is_401", func(t *testing.T) {
		tn := a.newTenant(t)
		exp := time.Now().Add(2 * time.Second).UTC()
		k := a.newAPIKey(t, tn.Admin.Token, map[string]any{"expires_at": exp.Format(time.RFC3339Nano)})
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(exp.Truncate(time.Microsecond)) {
			t.Fatalf("expires_at = %v, want %v", k.ExpiresAt, exp)
		}
		a.expect(t, http.StatusOK, "", "GET", "/me", k.Key, nil)
		// Poll past the expiry, then expect 401 (bounded: the expiry is 2 s out).
		deadline := time.Now().Add(20 * time.Second)
		for {
			sent := time.Now()
			r := a.do(t, "GET", "/me", k.Key, nil)
			if r.status == http.StatusUnauthorized {
				break
			}
			if r.status != http.StatusOK || time.Now().After(deadline) {
				t.Fatalf("%s; still not expired", r)
			}
			// The server read its clock after this request was sent.
			if sent.After(exp) {
				t.Fatalf("%s, sent at %v, after its expiry %v", r, sent, exp)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("a_removed_members_keys_are_401", func(t *testing.T) {
		tn := a.newTenant(t)
		bob := a.addMember(t, tn, "USER")
		k := a.newAPIKey(t, bob.Token, nil)
		a.expect(t, http.StatusOK, "", "GET", "/tasks", k.Key, nil)
		a.expect(t, http.StatusNoContent, "", "DELETE", userPath(bob.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/tasks", k.Key, nil)
		if ks, _ := a.listAPIKeys(t, tn.Admin.Token); len(ks) != 0 {
			t.Fatalf("the removed member's keys are still listed: %+v", ks)
		}
	})
	t.Run("a_key_cannot_mint_keys_change_the_password_or_log_out", func(t *testing.T) {
		tn := a.newTenant(t)
		k := a.newAPIKey(t, tn.Admin.Token, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "POST", "/api-keys", k.Key, map[string]any{"name": "child"})
		a.expect(t, http.StatusForbidden, "forbidden", "POST", "/me/password", k.Key,
			map[string]any{"current_password": password, "new_password": "brand-new-pw"})
		a.expect(t, http.StatusForbidden, "forbidden", "POST", "/logout", k.Key, nil)
		// Nothing happened: one key, the password and the session stand.
		if ks, _ := a.listAPIKeys(t, tn.Admin.Token); len(ks) != 1 {
			t.Fatalf("%d keys, want 1", len(ks))
		}
		a.expect(t, http.StatusOK, "", "GET", "/me", tn.Admin.Token, nil)
		a.login(t, tn.Admin.Email)
		// A key may list and delete keys (its own member's).
		a.listAPIKeys(t, k.Key)
		a.expect(t, http.StatusNoContent, "", "DELETE", apiKeyPath(k.ID), k.Key, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", k.Key, nil)
	})
	t.Run("a_user_lists_and_deletes_only_own_keys_an_admin_all", func(t *testing.T) {
		tn := a.newTenant(t)
		bob, cid := a.addMember(t, tn, "USER"), a.addMember(t, tn, "USER")
		kb, kc := a.newAPIKey(t, bob.Token, nil), a.newAPIKey(t, cid.Token, nil)
		ka := a.newAPIKey(t, tn.Admin.Token, nil)
		if ks, _ := a.listAPIKeys(t, bob.Token); len(ks) != 1 || ks[0].ID != kb.ID {
			t.Fatalf("bob lists %+v", ks)
		}
		if ks, _ := a.listAPIKeys(t, tn.Admin.Token); len(ks) != 3 || ks[0].ID != ka.ID || ks[2].ID != kb.ID {
			t.Fatalf("the ADMIN lists %+v", ks)
		}
		a.expect(t, http.StatusForbidden, "forbidden", "DELETE", apiKeyPath(kc.ID), bob.Token, nil)
		a.expect(t, http.StatusForbidden, "forbidden", "DELETE", apiKeyPath(ka.ID), bob.Token, nil)
		a.expect(t, http.StatusOK, "", "GET", "/me", kc.Key, nil)
		a.expect(t, http.StatusNoContent, "", "DELETE", apiKeyPath(kb.ID), bob.Token, nil)
		a.expect(t, http.StatusNoContent, "", "DELETE", apiKeyPath(kc.ID), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnauthorized, "", "GET", "/me", kc.Key, nil)
		a.expect(t, http.StatusNotFound, "api_key_not_found", "DELETE", apiKeyPath(999999999), tn.Admin.Token, nil)
		a.expect(t, http.StatusUnprocessableEntity, "", "DELETE", "/api-keys/abc", tn.Admin.Token, nil)
	})
	t.Run("another_organizations_keys_are_not_found_and_see_nothing_here", func(t *testing.T) {
		tnA, tnB := a.newTenant(t), a.newTenant(t)
		kA := a.newAPIKey(t, tnA.Admin.Token, nil)
		a.newTask(t, tnB.Admin.Token, "b's task")
		tkA := a.newTask(t, tnA.Admin.Token, "a's task")
		if ks, _ := a.listAPIKeys(t, tnB.Admin.Token); len(ks) != 0 {
			t.Fatalf("org B's ADMIN lists %+v", ks)
		}
		a.expect(t, http.StatusNotFound, "api_key_not_found", "DELETE", apiKeyPath(kA.ID), tnB.Admin.Token, nil)
		a.expect(t, http.StatusOK, "", "GET", "/me", kA.Key, nil) // still works
		ts, _ := a.listTasks(t, kA.Key, "")
		if len(ts) != 1 || ts[0].ID != tkA.ID {
			t.Fatalf("org A's key lists %v", ids(ts))
		}
		var users []userOut
		a.expect(t, http.StatusOK, "", "GET", "/users", kA.Key, nil).into(t, &users)
		for _, u := range users {
			if u.ID == tnB.Admin.ID {
				t.Fatalf("org A's key lists org B's member %+v", u)
			}
		}
		a.expect(t, http.StatusNotFound, "", "DELETE", userPath(tnB.Admin.ID), kA.Key, nil)
	})
	t.Run("idempotency_key_replays_the_key_to_the_same_caller_only", func(t *testing.T) {
		tn := a.newTenant(t)
		ann := a.addMember(t, tn, "ADMIN")
		const header = "Idempotency-Key"
		idem := unique("key-")
		body := map[string]any{"name": "retry me"}
		first := a.expect(t, http.StatusCreated, "", "POST", "/api-keys", tn.Admin.Token, body, header, idem)
		again := a.expect(t, http.StatusCreated, "", "POST", "/api-keys", tn.Admin.Token, body, header, idem)
		if again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first.body, again.body) {
			t.Fatalf("retry %s, want a replay of %s", again, first)
		}
		// Another member with the same key is another caller: a key of
		// their own, never the first caller's secret.
		other := a.expect(t, http.StatusCreated, "", "POST", "/api-keys", ann.Token, body, header, idem)
		var k1, k2 apiKeyOut
		first.into(t, &k1)
		other.into(t, &k2)
		if other.header.Get("Idempotent-Replayed") != "" || k2.Key == k1.Key || k2.UserID != ann.ID {
			t.Fatalf("another caller got %s", other)
		}
		if ks, _ := a.listAPIKeys(t, tn.Admin.Token); len(ks) != 2 {
			t.Fatalf("%d keys, want 2", len(ks))
		}
		// A key-authenticated caller is a caller of its own for
		// Idempotency-Key (here on POST /tasks).
		tidem, tbody := unique("key-"), map[string]any{"title": "once"}
		byUser := a.expect(t, http.StatusCreated, "", "POST", "/tasks", tn.Admin.Token, tbody, header, tidem)
		byKey := a.expect(t, http.StatusCreated, "", "POST", "/tasks", k1.Key, tbody, header, tidem)
		if byKey.header.Get("Idempotent-Replayed") != "" || bytes.Equal(byUser.body, byKey.body) {
			t.Fatalf("the key's request was answered with the user's: %s", byKey)
		}
	})
	t.Run("last_used_at_is_set_and_not_rewritten_within_a_minute", func(t *testing.T) {
		tn := a.newTenant(t)
		k := a.newAPIKey(t, tn.Admin.Token, nil)
		a.expect(t, http.StatusOK, "", "GET", "/me", k.Key, nil)
		ks, _ := a.listAPIKeys(t, tn.Admin.Token)
		if len(ks) != 1 || ks[0].LastUsedAt == nil {
			t.Fatalf("after a use: %+v", ks)
		}
		first := *ks[0].LastUsedAt
		a.expect(t, http.StatusOK, "", "GET", "/me", k.Key, nil)
		ks, _ = a.listAPIKeys(t, tn.Admin.Token)
		// The store suite proves the minute exactly, with explicit times;
		// here the second use is well within it unless the run stalled.
		if time.Since(first) < 50*time.Second && !ks[0].LastUsedAt.Equal(first) {
			t.Fatalf("last_used_at moved from %v to %v within a minute", first, ks[0].LastUsedAt)
		}
	})
}

// TestAPI_Redis_ADeletedKeyIsRefusedOnEveryReplica runs two servers on one
// database and one Redis (a single node, then a cluster): replica 2 has
// the key's check cached when the key is deleted through replica 1, and
// still refuses its next request.
func TestAPI_Redis_ADeletedKeyIsRefusedOnEveryReplica(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"redis", "redis-cluster"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testADeletedKeyIsRefusedOnEveryReplica(t, backend)
		})
	}
}

func testADeletedKeyIsRefusedOnEveryReplica(t *testing.T, backend string) {
	dbURL := newDatabase(t)
	cfg1 := testConfig(t, backend, dbURL)
	s1 := startServer(t, cfg1)
	cfg2 := *cfg1
	s2 := startServer(t, &cfg2)

	tn := s1.newTenant(t)
	bob := s1.addMember(t, tn, "ADMIN")
	k := s1.newAPIKey(t, tn.Admin.Token, nil)
	kb := s1.newAPIKey(t, bob.Token, nil)
	s2.expect(t, http.StatusOK, "", "GET", "/me", k.Key, nil)
	s2.expect(t, http.StatusCreated, "", "POST", "/tasks", kb.Key, map[string]any{"title": "as an ADMIN"})
	s1.expect(t, http.StatusNoContent, "", "DELETE", apiKeyPath(k.ID), tn.Admin.Token, nil)
	s2.expect(t, http.StatusUnauthorized, "", "GET", "/me", k.Key, nil)
	// A demotion through replica 1 reaches replica 2's cached check too.
	s1.expect(t, http.StatusOK, "", "PATCH", userPath(bob.ID), tn.Admin.Token, map[string]any{"role": "USER"})
	s2.expect(t, http.StatusForbidden, "", "POST", "/tasks", kb.Key, map[string]any{"title": "no longer"})
}
