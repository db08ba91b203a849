package bootstrap_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// testIdempotency holds POST /tasks and POST /invites to the contract's
// "Safe retries" section.
func testIdempotency(t *testing.T, a *api) {
	const header = "Idempotency-Key"
	replayed := func(r reply) bool { return r.header.Get("Idempotent-Replayed") == "true" }
	countTasks := func(t *testing.T, token string) int {
		t.Helper()
		ts, _ := a.listTasks(t, token, "limit=100")
		return len(ts)
	}

	t.Run("the_same_request_is_answered_again_and_writes_nothing", func(t *testing.T) {
		tn := a.newTenant(t)
		key := unique("key-")
		body := map[string]any{"title": "ship it"}
		first := a.expect(t, http.StatusCreated, "", "POST", "/tasks", tn.Admin.Token, body, header, key)
		again := a.expect(t, http.StatusCreated, "", "POST", "/tasks", tn.Admin.Token, body, header, key)
		if replayed(first) || !replayed(again) {
			t.Fatalf("Idempotent-Replayed: first %q, retry %q; want none, then true",
				first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
		}
		if !bytes.Equal(first.body, again.body) {
			t.Fatalf("retry body %s, want the first %s", again.body, first.body)
		}
		for _, h := range []string{"Location", "ETag"} {
			if first.header.Get(h) == "" || again.header.Get(h) != first.header.Get(h) {
				t.Fatalf("%s: first %q, retry %q", h, first.header.Get(h), again.header.Get(h))
			}
		}
		if n := countTasks(t, tn.Admin.Token); n != 1 {
			t.Fatalf("%d tasks after a retry, want 1", n)
		}
	})

	t.Run("the_same_key_with_another_body_or_path_is_422", func(t *testing.T) {
		tn := a.newTenant(t)
		key := unique("key-")
		a.expect(t, http.StatusCreated, "", "POST", "/tasks", tn.Admin.Token, map[string]any{"title": "one"}, header, key)
		a.expect(t, http.StatusUnprocessableEntity, "idempotency_key_reused", "POST", "/tasks", tn.Admin.Token,
			map[string]any{"title": "two"}, header, key)
		a.expect(t, http.StatusUnprocessableEntity, "idempotency_key_reused", "POST", "/invites", tn.Admin.Token,
			map[string]any{"role": "USER"}, header, key)
		if n := countTasks(t, tn.Admin.Token); n != 1 {
			t.Fatalf("%d tasks, want 1", n)
		}
		if invs := a.listInvites(t, tn.Admin.Token); len(invs) != 0 {
			t.Fatalf("%d invites, want none", len(invs))
		}
	})

	t.Run("a_malformed_key_is_400", func(t *testing.T) {
		tn := a.newTenant(t)
		for name, key := range map[string]string{
			"empty":      "",
			"too_long":   strings.Repeat("k", 256),
			"with_space": "two words",
			"non_ascii":  "clé",
			"with_a_tab": "a\tb",
		} {
			t.Run(name, func(t *testing.T) {
				a.expect(t, http.StatusBadRequest, "malformed_idempotency_key", "POST", "/tasks", tn.Admin.Token,
					map[string]any{"title": "x"}, header, key)
			})
		}
		t.Run("given_twice", func(t *testing.T) {
			req, err := http.NewRequest("POST", a.base+"/tasks", strings.NewReader(`{"title":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tn.Admin.Token)
			req.Header.Add(header, unique("a-"))
			req.Header.Add(header, unique("b-"))
			resp, err := a.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
		})
		if n := countTasks(t, tn.Admin.Token); n != 0 {
			t.Fatalf("%d tasks, want none", n)
		}
		a.expect(t, http.StatusCreated, "", "POST", "/tasks", tn.Admin.Token, map[string]any{"title": "x"},
			header, strings.Repeat("~", 255))
	})

	t.Run("a_422_is_remembered_and_replayed", func(t *testing.T) {
		tn := a.newTenant(t)
		key := unique("key-")
		bad := map[string]any{"title": "   "}
		first := a.expect(t, http.StatusUnprocessableEntity, "validation_failed", "POST", "/tasks", tn.Admin.Token, bad, header, key)
		again := a.expect(t, http.StatusUnprocessableEntity, "validation_failed", "POST", "/tasks", tn.Admin.Token, bad, header, key)
		if replayed(first) || !replayed(again) {
			t.Fatal("the second 422 is not marked as replayed")
		}
		p, q := first.problem(t), again.problem(t)
		p.RequestID, q.RequestID = "", ""
		if p.Detail != q.Detail || p.Code != q.Code || len(p.Errors) != len(q.Errors) {
			t.Fatalf("replayed problem %+v, want %+v", q, p)
		}
		// The key answered already: a corrected body needs a new key.
		a.expect(t, http.StatusUnprocessableEntity, "idempotency_key_reused", "POST", "/tasks", tn.Admin.Token,
			map[string]any{"title": "fixed"}, header, key)
	})

	t.Run("an_invite_code_is_replayed_to_its_caller_only", func(t *testing.T) {
		tn := a.newTenant(t)
		other := a.addMember(t, tn, "ADMIN")
		key := unique("key-")
		body := map[string]any{"role": "USER"}
		first := a.expect(t, http.StatusCreated, "", "POST", "/invites", tn.Admin.Token, body, header, key)
		again := a.expect(t, http.StatusCreated, "", "POST", "/invites", tn.Admin.Token, body, header, key)
		if !replayed(again) || !bytes.Equal(first.body, again.body) {
			t.Fatalf("retry %s (replayed %v), want the first answer %s", again.body, replayed(again), first.body)
		}
		// Another ADMIN of the organization with the same key is another
		// caller: their own invite, never the first one's code.
		theirs := a.expect(t, http.StatusCreated, "", "POST", "/invites", other.Token, body, header, key)
		if replayed(theirs) || theirs.obj(t)["code"] == first.obj(t)["code"] {
			t.Fatalf("another caller got %s (replayed %v); want a fresh invite", theirs.body, replayed(theirs))
		}
		if invs := a.listInvites(t, tn.Admin.Token); len(invs) != 2 {
			t.Fatalf("%d invites, want 2", len(invs))
		}
	})

	t.Run("another_organization_with_the_same_key_gets_its_own_answer", func(t *testing.T) {
		ta, tb := a.newTenant(t), a.newTenant(t)
		key := unique("key-")
		body := map[string]any{"title": "same title"}
		first := a.expect(t, http.StatusCreated, "", "POST", "/tasks", ta.Admin.Token, body, header, key)
		theirs := a.expect(t, http.StatusCreated, "", "POST", "/tasks", tb.Admin.Token, body, header, key)
		var ka, kb task
		first.into(t, &ka)
		theirs.into(t, &kb)
		if replayed(theirs) || kb.ID == ka.ID || kb.OrganizationID != tb.ID {
			t.Fatalf("b got %s (replayed %v), want its own new task", theirs.body, replayed(theirs))
		}
		if na, nb := countTasks(t, ta.Admin.Token), countTasks(t, tb.Admin.Token); na != 1 || nb != 1 {
			t.Fatalf("tasks: a %d, b %d; want 1 each", na, nb)
		}
	})

	t.Run("twenty_concurrent_requests_with_one_key_create_one_task", func(t *testing.T) {
		tn := a.newTenant(t)
		key := unique("key-")
		body := map[string]any{"title": "only once"}
		var mu sync.Mutex
		var wg sync.WaitGroup
		ids := map[int64]bool{}
		for range 20 {
			wg.Go(func() {
				r, violations, err := a.exchange("POST", "/tasks", tn.Admin.Token, body, header, key)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Error(err)
				case len(violations) > 0:
					t.Errorf("%s: %v", r, violations)
				case r.status == http.StatusCreated:
					var tk task
					if err := json.Unmarshal(r.body, &tk); err != nil {
						t.Error(err)
					}
					ids[tk.ID] = true
				case r.status != http.StatusConflict:
					t.Errorf("%s: want 201 or 409", r)
				}
			})
		}
		wg.Wait()
		if len(ids) != 1 {
			t.Errorf("201 answers name tasks %v, want one task", ids)
		}
		if n := countTasks(t, tn.Admin.Token); n != 1 {
			t.Fatalf("%d tasks, want 1", n)
		}
	})
}
