package bootstrap_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestAttacks gathers what an attacker tries beyond the contract's own
// error table (which TestAPI covers): oversized headers, other tenants'
// ids smuggled into query strings, and organization or role fields
// smuggled into bodies.
func TestAttacks(t *testing.T) {
	t.Parallel()
	a := startServer(t, testConfig(t, "memory", newDatabase(t)))
	tn, other := a.newTenant(t), a.newTenant(t)
	theirs := a.newTask(t, other.Admin.Token, "their secret task")

	t.Run("oversized_headers_are_431_problems_not_crashes", func(t *testing.T) {
		req, _ := http.NewRequest("GET", a.base+"/tasks", nil)
		req.Header.Set("Authorization", "Bearer "+tn.Admin.Token)
		req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatalf("the server dropped the connection instead of answering: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("oversized header: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		// And the server still serves the next request.
		a.expect(t, http.StatusOK, "", "GET", "/tasks", tn.Admin.Token, nil)
	})
	t.Run("other_tenants_ids_in_query_strings_reveal_nothing", func(t *testing.T) {
		for _, q := range []string{
			"organization_id=" + strconv.FormatInt(other.ID, 10),
			"assignee_id=" + strconv.FormatInt(other.Admin.ID, 10),
			"cursor=" + cursorFor(theirs.ID+1),
		} {
			r := a.do(t, "GET", "/tasks?"+q, tn.Admin.Token, nil)
			if r.status >= 500 || strings.Contains(string(r.body), "their secret task") {
				t.Fatalf("GET /tasks?%s: %s", q, r)
			}
		}
		// A PUT naming their task in the path, whatever the query says.
		a.expect(t, http.StatusNotFound, "", "PUT", taskPath(theirs.ID)+"?new_status=IN_PROGRESS&organization_id="+strconv.FormatInt(other.ID, 10), tn.Admin.Token, nil)
		if got := a.getTask(t, other.Admin.Token, theirs.ID); got.Status != "CREATED" {
			t.Fatalf("their task moved: %+v", got)
		}
	})
	t.Run("other_tenants_ids_in_bodies_are_refused", func(t *testing.T) {
		a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/tasks", tn.Admin.Token,
			map[string]any{"title": "x", "organization_id": other.ID})
		a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/invites", tn.Admin.Token,
			map[string]any{"role": "ADMIN", "organization_id": other.ID})
		a.expect(t, http.StatusUnprocessableEntity, "", "POST", "/tasks", tn.Admin.Token,
			map[string]any{"title": "x", "assignee_id": other.Admin.ID})
		var users []userOut
		a.expect(t, http.StatusOK, "", "GET", "/users", other.Admin.Token, nil).into(t, &users)
		if len(users) != 1 {
			t.Fatalf("their organization changed: %+v", users)
		}
	})
}

// cursorFor builds the cursor the service would issue after task id.
func cursorFor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(id, 10)))
}
