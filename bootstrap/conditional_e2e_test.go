package bootstrap_test

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var listETag = regexp.MustCompile(`^W/"[0-9a-f]{32}"$`)

// testConditionalReads: ETag and If-None-Match on GET /tasks and GET
// /tasks/{id} (304 while unchanged, never across tenants or queries), and
// 400 for a malformed If-None-Match or If-Match.
func testConditionalReads(t *testing.T, a *api) {
	tnA, tnB := a.newTenant(t), a.newTenant(t)
	tokA, tokB := tnA.Admin.Token, tnB.Admin.Token
	older := a.newTask(t, tokA, "older")
	newer := a.newTask(t, tokA, "newer")
	a.newTask(t, tokB, "b's own")

	tagOf := func(t *testing.T, tok, query string) string {
		t.Helper()
		_, r := a.listTasks(t, tok, query)
		tag := r.header.Get("ETag")
		if !listETag.MatchString(tag) {
			t.Fatalf("%s: ETag %q, want a weak tag W/\"<32 hex>\"", r, tag)
		}
		return tag
	}
	notModified := func(t *testing.T, tok, path, inm, wantTag string) {
		t.Helper()
		r := a.expect(t, http.StatusNotModified, "", "GET", path, tok, nil, "If-None-Match", inm)
		if len(r.body) != 0 {
			t.Errorf("%s: 304 with a body", r)
		}
		if got := r.header.Get("ETag"); got != wantTag {
			t.Errorf("%s: ETag %q, want %q", r, got, wantTag)
		}
	}

	tagA := tagOf(t, tokA, "")
	t.Run("list_unchanged_is_304", func(t *testing.T) {
		if again := tagOf(t, tokA, ""); again != tagA {
			t.Fatalf("the same list twice: ETag %q then %q", tagA, again)
		}
		notModified(t, tokA, "/tasks", tagA, tagA)
		notModified(t, tokA, "/tasks", strings.TrimPrefix(tagA, "W/"), tagA) // weak comparison
		notModified(t, tokA, "/tasks", `"stale", `+tagA, tagA)
		notModified(t, tokA, "/tasks", "*", tagA)
		a.expect(t, http.StatusOK, "", "GET", "/tasks", tokA, nil, "If-None-Match", `W/"00000000000000000000000000000000"`)
	})

	t.Run("write_in_another_org_keeps_304", func(t *testing.T) {
		a.newTask(t, tokB, "b's second")
		notModified(t, tokA, "/tasks", tagA, tagA)
	})

	t.Run("cross_tenant_tag_never_matches", func(t *testing.T) {
		r := a.expect(t, http.StatusOK, "", "GET", "/tasks", tokB, nil, "If-None-Match", tagA)
		var page []task
		r.into(t, &page)
		if len(page) != 2 {
			t.Fatalf("B's list with A's ETag = %v, want B's two tasks", ids(page))
		}
		for _, tk := range page {
			if tk.OrganizationID != tnB.ID {
				t.Fatalf("B's list holds task %d of organization %d", tk.ID, tk.OrganizationID)
			}
		}
		if tag := r.header.Get("ETag"); tag == tagA || !listETag.MatchString(tag) {
			t.Errorf("B's list ETag %q, want B's own (A's is %q)", tag, tagA)
		}
		// Two organizations without tasks serve the same bytes, "[]":
		// still each its own tag.
		c, d := a.newTenant(t), a.newTenant(t)
		tagC := tagOf(t, c.Admin.Token, "")
		if tagD := tagOf(t, d.Admin.Token, ""); tagD == tagC {
			t.Fatalf("two empty organizations share the list ETag %q", tagC)
		}
		a.expect(t, http.StatusOK, "", "GET", "/tasks", d.Admin.Token, nil, "If-None-Match", tagC)
	})

	t.Run("queries_have_their_own_tags", func(t *testing.T) {
		_, first := a.listTasks(t, tokA, "limit=1")
		cursorPath := "/tasks?cursor=" + nextCursor(t, first) + "&limit=1"
		r := a.expect(t, http.StatusOK, "", "GET", cursorPath, tokA, nil)
		tags := map[string]string{
			"":               tagA,
			"limit=1":        first.header.Get("ETag"),
			"cursor":         r.header.Get("ETag"),
			"limit=1&page=2": tagOf(t, tokA, "limit=1&page=2"), // the cursor page's tasks, by offset
			"status=CREATED": tagOf(t, tokA, "status=CREATED"), // every task, as without a filter
		}
		seen := map[string]string{}
		for q, tag := range tags {
			if other, dup := seen[tag]; dup {
				t.Errorf("queries %q and %q share the ETag %q", q, other, tag)
			}
			seen[tag] = q
		}
		notModified(t, tokA, cursorPath, tags["cursor"], tags["cursor"])
		a.expect(t, http.StatusOK, "", "GET", cursorPath, tokA, nil, "If-None-Match", tags["limit=1"])
	})

	t.Run("next_page_appearing_changes_the_tag", func(t *testing.T) {
		tn := a.newTenant(t)
		tok := tn.Admin.Token
		lower := a.newTask(t, tok, "lower")
		upper := a.newTask(t, tok, "upper")
		a.expect(t, http.StatusOK, "", "PUT", taskPath(upper.ID)+"?new_status=IN_PROGRESS", tok, nil)
		const q = "status=IN_PROGRESS&limit=1"
		before, r := a.listTasks(t, tok, q)
		if len(before) != 1 || before[0].ID != upper.ID || r.header.Get("Link") != "" {
			t.Fatalf("%s: want only task %d and no next page", r, upper.ID)
		}
		tag := r.header.Get("ETag")
		// The page's task stays as it was; only a next page appears.
		a.expect(t, http.StatusOK, "", "PUT", taskPath(lower.ID)+"?new_status=IN_PROGRESS", tok, nil)
		r = a.expect(t, http.StatusOK, "", "GET", "/tasks?"+q, tok, nil, "If-None-Match", tag)
		if string(r.body) != string(mustBody(t, a, tok, q)) || r.header.Get("Link") == "" || r.header.Get("ETag") == tag {
			t.Fatalf("%s: want the same task, a Link to the next page and a new ETag (was %q)", r, tag)
		}
	})

	t.Run("list_after_a_write_is_200_with_a_new_tag", func(t *testing.T) {
		a.expect(t, http.StatusOK, "", "PATCH", taskPath(older.ID), tokA, map[string]any{"title": "older, renamed"})
		r := a.expect(t, http.StatusOK, "", "GET", "/tasks", tokA, nil, "If-None-Match", tagA)
		var page []task
		r.into(t, &page)
		if len(page) != 2 || page[1].Title != "older, renamed" {
			t.Fatalf("%s: want both tasks, the older renamed", r)
		}
		fresh := r.header.Get("ETag")
		if fresh == tagA || !listETag.MatchString(fresh) {
			t.Fatalf("ETag after a write %q, want a new one (was %q)", fresh, tagA)
		}
		notModified(t, tokA, "/tasks", fresh, fresh)
	})

	t.Run("task", func(t *testing.T) {
		path := taskPath(newer.ID)
		notModified(t, tokA, path, `"1"`, `"1"`)
		notModified(t, tokA, path, `W/"1"`, `"1"`)
		notModified(t, tokA, path, `"7", "1"`, `"1"`)
		notModified(t, tokA, path, `*`, `"1"`)
		// Another tenant's task does not exist, even for "*".
		a.expect(t, http.StatusNotFound, "task_not_found", "GET", path, tokB, nil, "If-None-Match", `*`)
		a.expect(t, http.StatusNotFound, "task_not_found", "GET", path, tokB, nil, "If-None-Match", `"1"`)
		a.expect(t, http.StatusOK, "", "PATCH", path, tokA, map[string]any{"description": "changed"})
		r := a.expect(t, http.StatusOK, "", "GET", path, tokA, nil, "If-None-Match", `"1"`)
		if r.header.Get("ETag") != `"2"` || !strings.Contains(string(r.body), `"changed"`) {
			t.Fatalf("%s: want the changed task with ETag \"2\"", r)
		}
		notModified(t, tokA, path, `"2"`, `"2"`)
	})

	t.Run("malformed_if_none_match_is_400", func(t *testing.T) {
		for _, path := range []string{"/tasks", taskPath(newer.ID)} {
			for _, v := range []string{`2`, `W/2`, `"2`, `"a" "b"`, `"a", *`, `w/"2"`} {
				a.expect(t, http.StatusBadRequest, "malformed_if_none_match", "GET", path, tokA, nil, "If-None-Match", v)
			}
		}
	})

	t.Run("malformed_if_match_is_400_not_412", func(t *testing.T) {
		path := taskPath(newer.ID)
		before := a.getTask(t, tokA, newer.ID)
		for _, tc := range []struct {
			method, path, ifMatch string
			body                  any
		}{
			{"PATCH", path, `2`, map[string]any{"title": "lost"}},
			{"PATCH", path, `"2", "3"`, map[string]any{"title": "lost"}},
			{"PUT", path + "?new_status=IN_PROGRESS", `2`, nil},
			{"DELETE", path, `W/2`, nil},
		} {
			a.expect(t, http.StatusBadRequest, "malformed_if_match", tc.method, tc.path, tokA, tc.body, "If-Match", tc.ifMatch)
		}
		if got := a.getTask(t, tokA, newer.ID); !reflect.DeepEqual(got, before) {
			t.Errorf("after malformed If-Match the task is %+v, want %+v untouched", got, before)
		}
	})
}

// mustBody is the body of GET /tasks?query, unconditionally.
func mustBody(t *testing.T, a *api, tok, query string) []byte {
	t.Helper()
	return a.expect(t, http.StatusOK, "", "GET", "/tasks?"+query, tok, nil).body
}
