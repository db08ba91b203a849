package bootstrap_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// testListSearch: GET /tasks?q=, full-text search over title and
// description, alone and with other filters and sorts, through the
// cursor's Link, kept fresh by writes, across tenants and with bad
// values.
func testListSearch(t *testing.T, a *api) {
	tA, tB := a.newTenant(t), a.newTenant(t)
	tokA, tokB := tA.Admin.Token, tB.Admin.Token
	t1 := a.createTask(t, tokA, map[string]any{"title": "Release notes", "description": "Draft the notes for v2.0"})
	t2 := a.createTask(t, tokA, map[string]any{"title": "Release party", "priority": "URGENT",
		"description": "Book the venue; send the NOTES to bob@example.com"})
	t3 := a.createTask(t, tokA, map[string]any{"title": "Réunion d'été", "description": "Ordre du jour"})
	t4 := a.createTask(t, tokA, map[string]any{"title": "Releases overview"})
	// B's task holds every word searched below: never in A's lists.
	bTask := a.createTask(t, tokB, map[string]any{"title": "release notes party venue réunion été",
		"description": "example v2 releases"})

	list := func(t *testing.T, token, query string) []int64 {
		t.Helper()
		got, _ := a.listTasks(t, token, query)
		return ids(got)
	}
	for _, tc := range []struct {
		name, query string
		want        []int64
	}{
		{"one_word", "q=release", []int64{t2.ID, t1.ID}},
		{"every_word_must_occur", "q=" + url.QueryEscape("notes release"), []int64{t2.ID, t1.ID}},
		{"title_and_description", "q=" + url.QueryEscape("party notes"), []int64{t2.ID}},
		{"case_insensitive", "q=RELEASE+NOTES", []int64{t2.ID, t1.ID}},
		{"whole_words_only", "q=releas", nil},
		{"another_word", "q=releases", []int64{t4.ID}},
		{"punctuation_separates", "q=" + url.QueryEscape("bob@example.com"), []int64{t2.ID}},
		{"version", "q=v2.0", []int64{t1.ID}},
		{"accents_count", "q=" + url.QueryEscape("ÉTÉ"), []int64{t3.ID}},
		{"no_accent_no_match", "q=ete", nil},
		{"query_syntax_is_text", "q=" + url.QueryEscape(`"release" & !notes | party:* OR (x)`), nil},
		{"with_priority", "q=release&priority=URGENT", []int64{t2.ID}},
		{"with_sort", "q=release&sort=created", []int64{t1.ID, t2.ID}},
		{"with_priority_sort", "q=notes&sort=-priority", []int64{t2.ID, t1.ID}},
		{"with_status", "q=release&status=COMPLETED", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tokA, tc.query+"&limit=100"); !slices.Equal(got, tc.want) {
				t.Errorf("GET /tasks?%s = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
	t.Run("links_repeat_q_and_walk_every_match_once", func(t *testing.T) {
		for _, sort := range []string{"-created", "created", "-updated", "updated", "due", "-priority"} {
			query := "/tasks?q=" + url.QueryEscape("Release & notes") + "&sort=" + sort + "&limit=1"
			first := a.expect(t, http.StatusOK, "", "GET", query, tokA, nil)
			if link := nextLink(t, first); !strings.Contains(link, "q=Release+%26+notes") {
				t.Errorf("sort=%s: next link %q does not repeat q", sort, link)
			}
			all, pages := walk(t, a, tokA, query)
			want := list(t, tokA, "q=release+notes&limit=100&sort="+sort)
			if !slices.Equal(ids(all), want) || pages != 2 {
				t.Errorf("sort=%s: walk = %v in %d pages, want %v in 2", sort, ids(all), pages, want)
			}
		}
	})
	t.Run("a_cursor_is_bound_to_its_q", func(t *testing.T) {
		first := a.expect(t, http.StatusOK, "", "GET", "/tasks?q=release&limit=1", tokA, nil)
		c := url.QueryEscape(nextCursor(t, first))
		a.expect(t, http.StatusOK, "", "GET", "/tasks?q=release&limit=5&cursor="+c, tokA, nil)
		// The same words in another case are the same query.
		a.expect(t, http.StatusOK, "", "GET", "/tasks?q=RELEASE&limit=5&cursor="+c, tokA, nil)
		for _, q := range []string{"", "q=notes", "q=release+notes", "q=release&label=x"} {
			p := a.expect(t, http.StatusUnprocessableEntity, "", "GET", "/tasks?"+q+"&cursor="+c, tokA, nil).problem(t)
			if !slices.ContainsFunc(p.Errors, func(e fieldProblem) bool { return e.Field == "cursor" }) {
				t.Errorf("cursor with %q: problem %+v does not name cursor", q, p)
			}
		}
	})
	t.Run("writes_reach_the_search", func(t *testing.T) {
		tk := a.createTask(t, tokA, map[string]any{"title": "Budget " + unique("plan")})
		if got := list(t, tokA, "q=budget"); !slices.Equal(got, []int64{tk.ID}) {
			t.Fatalf("q=budget = %v, want [%d]", got, tk.ID)
		}
		a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tokA, map[string]any{"title": "Forecast"})
		if got := list(t, tokA, "q=budget"); len(got) != 0 {
			t.Errorf("q=budget after the rename = %v, want []", got)
		}
		if got := list(t, tokA, "q=forecast"); !slices.Equal(got, []int64{tk.ID}) {
			t.Errorf("q=forecast after the rename = %v, want [%d]", got, tk.ID)
		}
		a.expect(t, http.StatusNoContent, "", "DELETE", taskPath(tk.ID), tokA, nil)
		if got := list(t, tokA, "q=forecast"); len(got) != 0 {
			t.Errorf("q=forecast after the delete = %v, want []", got)
		}
	})
	t.Run("cross_tenant", func(t *testing.T) {
		for _, q := range []string{"release", "notes", "party+venue", "example", "releases", "r%C3%A9union"} {
			for _, tk := range mustList(t, a, tokA, "q="+q) {
				if tk.OrganizationID != tA.ID {
					t.Errorf("A's GET /tasks?q=%s shows task %d of organization %d", q, tk.ID, tk.OrganizationID)
				}
			}
		}
		if got := list(t, tokB, "q=release+notes+party+venue"); !slices.Equal(got, []int64{bTask.ID}) {
			t.Errorf("B's search = %v, want its own task %d", got, bTask.ID)
		}
	})
	t.Run("bad_values_are_422_naming_q", func(t *testing.T) {
		for _, query := range []string{
			"q=", "q=+++", "q=" + url.QueryEscape(`!?"*&|:()`), "q=a%00b", "q=%ff%fe",
			"q=" + strings.Repeat("x", 201), "q=" + url.QueryEscape("a b c d e f g h i j k l m n o p q"),
			"q=a&q=b",
		} {
			p := a.expect(t, http.StatusUnprocessableEntity, "", "GET", "/tasks?"+query, tokA, nil).problem(t)
			if !slices.ContainsFunc(p.Errors, func(e fieldProblem) bool { return e.Field == "q" }) {
				t.Errorf("GET /tasks?%s: problem %+v does not name q", query, p)
			}
		}
		// 200 characters and 16 words are allowed.
		a.expect(t, http.StatusOK, "", "GET", "/tasks?q="+strings.Repeat("x", 200), tokA, nil)
		a.expect(t, http.StatusOK, "", "GET", "/tasks?q="+url.QueryEscape("a b c d e f g h i j k l m n o p"), tokA, nil)
	})
}
