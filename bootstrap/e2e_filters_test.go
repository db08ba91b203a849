package bootstrap_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testListFilters: the filters of GET /tasks (assignee_id me and none,
// priority, label, due_before, due_after), alone, together, through the
// cursor's Link, across tenants and with bad values.
func testListFilters(t *testing.T, a *api) {
	tA, tB := a.newTenant(t), a.newTenant(t)
	tokA := tA.Admin.Token
	bob := a.addMember(t, tA, "USER")
	t1 := a.createTask(t, tokA, map[string]any{"title": "one", "priority": "LOW", "labels": []string{"Backend"}})
	t2 := a.createTask(t, tokA, map[string]any{"title": "two", "priority": "URGENT", "assignee_id": bob.ID,
		"due_at": "2030-01-01T10:00:00Z", "labels": []string{"release", "backend"}})
	t3 := a.createTask(t, tokA, map[string]any{"title": "three", "priority": "URGENT", "assignee_id": tA.Admin.ID,
		"due_at": "2030-01-02T10:00:00+02:00"})
	t4 := a.createTask(t, tokA, map[string]any{"title": "four", "due_at": "2030-01-03T10:00:00Z", "labels": []string{"RELEASE"}})
	// B's tasks carry the same label, priority and due dates, unassigned
	// and assigned to B's admin: none of them may show in A's lists.
	a.createTask(t, tB.Admin.Token, map[string]any{"title": "b one", "priority": "URGENT",
		"due_at": "2030-01-02T00:00:00Z", "labels": []string{"release", "backend"}})
	a.createTask(t, tB.Admin.Token, map[string]any{"title": "b two", "assignee_id": tB.Admin.ID, "labels": []string{"release"}})

	list := func(t *testing.T, token, query string) []int64 {
		t.Helper()
		got, _ := a.listTasks(t, token, query)
		return ids(got)
	}
	for _, tc := range []struct {
		name, query string
		want        []int64
	}{
		{"assignee_me", "assignee_id=me", []int64{t3.ID}},
		{"assignee_none", "assignee_id=none", []int64{t4.ID, t1.ID}},
		{"assignee_member", "assignee_id=" + strconv.FormatInt(bob.ID, 10), []int64{t2.ID}},
		{"priority", "priority=URGENT", []int64{t3.ID, t2.ID}},
		{"priority_default_medium", "priority=MEDIUM", []int64{t4.ID}},
		{"label_any_case", "label=Release", []int64{t4.ID, t2.ID}},
		{"label_trimmed", "label=" + url.QueryEscape("  BACKEND "), []int64{t2.ID, t1.ID}},
		{"label_absent", "label=nope", nil},
		{"due_before_is_exclusive", "due_before=2030-01-02T08:00:00Z", []int64{t2.ID}},
		{"due_before_with_offset", "due_before=" + url.QueryEscape("2030-01-02T10:00:01+02:00"), []int64{t3.ID, t2.ID}},
		{"due_after_is_exclusive", "due_after=2030-01-02T08:00:00Z", []int64{t4.ID}},
		{"due_window_skips_undated", "due_after=2000-01-01T00:00:00Z&due_before=2100-01-01T00:00:00Z", []int64{t4.ID, t3.ID, t2.ID}},
		{"everything_together", "assignee_id=none&priority=MEDIUM&label=release&due_after=2030-01-01T00:00:00Z&status=CREATED", []int64{t4.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tokA, tc.query+"&limit=100"); !slices.Equal(got, tc.want) {
				t.Errorf("GET /tasks?%s = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
	t.Run("me_is_the_caller", func(t *testing.T) {
		if got := list(t, bob.Token, "assignee_id=me"); !slices.Equal(got, []int64{t2.ID}) {
			t.Errorf("bob's assignee_id=me = %v, want [%d]", got, t2.ID)
		}
	})
	t.Run("links_repeat_every_filter", func(t *testing.T) {
		query := "/tasks?assignee_id=none&label=release&due_after=" + url.QueryEscape("2029-12-31T00:00:00+01:00") +
			"&priority=MEDIUM&limit=1"
		a.createTask(t, tokA, map[string]any{"title": "five", "due_at": "2030-02-01T00:00:00Z", "labels": []string{"release"}})
		first := a.expect(t, http.StatusOK, "", "GET", query, tokA, nil)
		link := nextLink(t, first)
		for _, p := range []string{"assignee_id=none", "label=release", "due_after=", "priority=MEDIUM", "limit=1", "cursor="} {
			if !strings.Contains(link, p) {
				t.Errorf("next link %q lacks %s", link, p)
			}
		}
		all, _ := walk(t, a, tokA, query)
		if len(all) != 2 || all[1].ID != t4.ID {
			t.Errorf("walk = %v, want the new task then %d", ids(all), t4.ID)
		}
	})
	t.Run("sorts_walk_every_task_once_by_cursor_and_by_page", func(t *testing.T) {
		for _, sort := range []string{"-created", "created", "-updated", "updated", "due", "-priority"} {
			want := list(t, tokA, "sort="+sort+"&limit=100")
			if len(want) < 5 {
				t.Fatalf("sort=%s lists %v", sort, want)
			}
			byCursor, _ := walk(t, a, tokA, "/tasks?sort="+sort+"&limit=2")
			if !slices.Equal(ids(byCursor), want) {
				t.Errorf("sort=%s by cursor = %v, want %v", sort, ids(byCursor), want)
			}
			if got := list(t, tokA, "sort="+sort+"&limit=2&page=2"); !slices.Equal(got, want[2:4]) {
				t.Errorf("sort=%s page 2 = %v, want %v", sort, got, want[2:4])
			}
		}
		// Undated tasks last, soonest first; URGENT first.
		if got := list(t, tokA, "sort=due&limit=3"); !slices.Equal(got, []int64{t2.ID, t3.ID, t4.ID}) {
			t.Errorf("sort=due = %v, want %v first", got, []int64{t2.ID, t3.ID, t4.ID})
		}
		if got := list(t, tokA, "sort=-priority&limit=2"); !slices.Equal(got, []int64{t3.ID, t2.ID}) {
			t.Errorf("sort=-priority = %v, want %v first", got, []int64{t3.ID, t2.ID})
		}
	})
	t.Run("a_cursor_is_bound_to_its_query", func(t *testing.T) {
		first := a.expect(t, http.StatusOK, "", "GET", "/tasks?sort=due&label=release&limit=1", tokA, nil)
		c := url.QueryEscape(nextCursor(t, first))
		a.expect(t, http.StatusOK, "", "GET", "/tasks?sort=due&label=release&limit=5&cursor="+c, tokA, nil)
		for _, q := range []string{
			"sort=-created&label=release", "label=release", "sort=due", "sort=due&label=backend",
			"sort=due&label=release&priority=MEDIUM", "sort=due&label=release&assignee_id=none",
			"sort=due&label=release&due_after=2000-01-01T00:00:00Z", "sort=due&label=release&status=CREATED",
		} {
			p := a.expect(t, http.StatusUnprocessableEntity, "", "GET", "/tasks?"+q+"&cursor="+c, tokA, nil).problem(t)
			if !slices.ContainsFunc(p.Errors, func(e fieldProblem) bool { return e.Field == "cursor" }) {
				t.Errorf("cursor with %s: problem %+v does not name cursor", q, p)
			}
		}
	})
	t.Run("cross_tenant", func(t *testing.T) {
		tokB := tB.Admin.Token
		for _, q := range []string{"label=release", "label=backend", "priority=URGENT", "assignee_id=none",
			"due_before=2030-01-02T09:00:00Z", "assignee_id=me"} {
			for _, tk := range mustList(t, a, tokB, q) {
				if tk.OrganizationID != tB.ID {
					t.Errorf("B's GET /tasks?%s shows task %d of organization %d", q, tk.ID, tk.OrganizationID)
				}
			}
		}
		// A's member ids from B find nothing, as any member id of
		// another organization.
		for _, id := range []int64{bob.ID, tA.Admin.ID} {
			if got := list(t, tokB, "assignee_id="+strconv.FormatInt(id, 10)); len(got) != 0 {
				t.Errorf("B's assignee_id=%d (A's member) = %v, want []", id, got)
			}
		}
		if got := list(t, tokB, "label=release&limit=100"); len(got) != 2 {
			t.Errorf("B's label=release = %v, want its own 2 tasks", got)
		}
	})
	t.Run("bad_values_are_422_naming_the_field", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"assignee_id=you", "assignee_id"},
			{"assignee_id=ME", "assignee_id"},
			{"assignee_id=0", "assignee_id"},
			{"priority=urgent", "priority"},
			{"priority=", "priority"},
			{"label=", "label"},
			{"label=" + url.QueryEscape("   "), "label"},
			{"label=" + strings.Repeat("x", 51), "label"},
			{"label=a%00b", "label"},
			{"due_before=2030-01-01", "due_before"},
			{"due_before=tomorrow", "due_before"},
			{"due_after=2030-01-01T10:00:00", "due_after"},
			{"due_after=0000-01-01T00:00:00Z", "due_after"},
			{"label=a&label=b", "label"},
			{"priority=LOW&priority=LOW", "priority"},
			{"due_at=2030-01-01T00:00:00Z", "due_at"},
			{"sort=priority", "sort"},
			{"sort=", "sort"},
			{"sort=due&sort=due", "sort"},
		} {
			p := a.expect(t, http.StatusUnprocessableEntity, "", "GET", "/tasks?"+tc.query, tokA, nil).problem(t)
			if !slices.ContainsFunc(p.Errors, func(e fieldProblem) bool { return e.Field == tc.field }) {
				t.Errorf("GET /tasks?%s: problem %+v does not name %s", tc.query, p, tc.field)
			}
		}
	})
}

func mustList(t *testing.T, a *api, token, query string) []task {
	t.Helper()
	got, _ := a.listTasks(t, token, query)
	return got
}
