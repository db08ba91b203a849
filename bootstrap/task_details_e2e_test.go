package bootstrap_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testTaskDetails covers priority, due_at, labels and completed_at: what
// POST and PATCH accept, what every answer carries, and who may touch them.
func testTaskDetails(t *testing.T, a *api) {
	tn := a.newTenant(t)
	tok := tn.Admin.Token

	t.Run("a_plain_task_carries_every_detail_with_its_default", func(t *testing.T) {
		r := a.expect(t, http.StatusCreated, "", "POST", "/tasks", tok, map[string]any{"title": "plain"})
		m := r.obj(t)
		for field, want := range map[string]string{"priority": `"MEDIUM"`, "due_at": "null", "labels": "[]", "completed_at": "null"} {
			v, ok := m[field]
			if !ok {
				t.Errorf("%s: no %s in the answer", r, field)
				continue
			}
			if got := jsonOf(t, v); got != want {
				t.Errorf("%s: %s = %s, want %s", r, field, got, want)
			}
		}
	})

	t.Run("create_with_every_detail", func(t *testing.T) {
		tk := a.createTask(t, tok, map[string]any{"title": "rich", "priority": "HIGH",
			"due_at": "2030-01-31T17:00:00.5+02:00", "labels": []string{" Backend ", "ops", "OPS", "Été"}})
		want := time.Date(2030, 1, 31, 15, 0, 0, 5e8, time.UTC)
		if tk.Priority != "HIGH" || tk.DueAt == nil || !tk.DueAt.Equal(want) || tk.CompletedAt != nil ||
			!slices.Equal(tk.Labels, []string{"backend", "ops", "été"}) {
			t.Fatalf("created %+v: want HIGH, due %v, labels [backend ops été], not completed", tk, want)
		}
		if tk.DueAt.Location() != time.UTC || !strings.HasSuffix(tk.DueAt.Format(time.RFC3339Nano), "Z") {
			t.Errorf("due_at %v is not given in UTC", tk.DueAt)
		}
		got := a.getTask(t, tok, tk.ID)
		if got.Priority != tk.Priority || !got.DueAt.Equal(*tk.DueAt) || !slices.Equal(got.Labels, tk.Labels) {
			t.Errorf("GET %+v differs from the created %+v", got, tk)
		}
	})

	t.Run("patch_each_detail_alone", func(t *testing.T) {
		tk := a.createTask(t, tok, map[string]any{"title": "patched", "labels": []string{"keep"}, "due_at": "2031-05-01T00:00:00Z"})
		patch := func(body map[string]any) task {
			t.Helper()
			var out task
			a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tok, body).into(t, &out)
			if listed := a.findListed(t, tok, tk.ID); listed.Version != out.Version || listed.Priority != out.Priority ||
				!slices.Equal(listed.Labels, out.Labels) || (listed.DueAt == nil) != (out.DueAt == nil) {
				t.Errorf("the list shows %+v after the PATCH answered %+v", listed, out)
			}
			return out
		}
		got := patch(map[string]any{"priority": "URGENT"})
		if got.Priority != "URGENT" || !slices.Equal(got.Labels, []string{"keep"}) || got.DueAt == nil || got.Title != "patched" {
			t.Fatalf("after priority: %+v", got)
		}
		due := time.Date(2032, 2, 29, 12, 0, 0, 0, time.UTC)
		got = patch(map[string]any{"due_at": due.Format(time.RFC3339)})
		if got.DueAt == nil || !got.DueAt.Equal(due) || got.Priority != "URGENT" || !slices.Equal(got.Labels, []string{"keep"}) {
			t.Fatalf("after due_at: %+v", got)
		}
		got = patch(map[string]any{"due_at": nil})
		if got.DueAt != nil || got.Priority != "URGENT" {
			t.Fatalf("after due_at null: %+v, want no due date", got)
		}
		got = patch(map[string]any{"labels": []string{"Zeta", "alpha", "ALPHA "}})
		if !slices.Equal(got.Labels, []string{"alpha", "zeta"}) || got.Priority != "URGENT" {
			t.Fatalf("after labels: %+v, want [alpha zeta]", got)
		}
		got = patch(map[string]any{"title": "renamed"})
		if !slices.Equal(got.Labels, []string{"alpha", "zeta"}) {
			t.Fatalf("a PATCH without labels changed them: %+v", got)
		}
		got = patch(map[string]any{"labels": []string{}})
		if got.Labels == nil || len(got.Labels) != 0 {
			t.Fatalf("after labels []: %+v, want []", got)
		}
		if got.Version != 7 {
			t.Errorf("version %d after six PATCHes, want 7", got.Version)
		}
	})

	t.Run("completed_at_is_set_when_the_task_completes", func(t *testing.T) {
		for _, method := range []string{"PUT", "PATCH"} {
			tk := a.newTask(t, tok, "to complete by "+method)
			var got task
			a.expect(t, http.StatusOK, "", method, taskPath(tk.ID), tok, map[string]any{"status": "IN_PROGRESS"}).into(t, &got)
			if got.CompletedAt != nil {
				t.Fatalf("%s IN_PROGRESS: completed_at %v, want null", method, got.CompletedAt)
			}
			a.expect(t, http.StatusOK, "", method, taskPath(tk.ID), tok, map[string]any{"status": "COMPLETED"}).into(t, &got)
			if got.CompletedAt == nil || !got.CompletedAt.Equal(got.UpdatedAt) {
				t.Fatalf("%s COMPLETED: completed_at %v, want the update's time %v", method, got.CompletedAt, got.UpdatedAt)
			}
			done := *got.CompletedAt
			// Later edits move updated_at, not the completion.
			a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tok, map[string]any{"labels": []string{"done"}}).into(t, &got)
			if got.CompletedAt == nil || !got.CompletedAt.Equal(done) {
				t.Fatalf("after an edit: completed_at %v, want %v", got.CompletedAt, done)
			}
			if g := a.getTask(t, tok, tk.ID); g.CompletedAt == nil || !g.CompletedAt.Equal(done) {
				t.Fatalf("GET: completed_at %v, want %v", g.CompletedAt, done)
			}
		}
	})

	t.Run("completed_at_cannot_be_set_by_a_client", func(t *testing.T) {
		tk := a.newTask(t, tok, "not completed")
		for _, method := range []string{"POST", "PATCH"} {
			path := "/tasks"
			if method == "PATCH" {
				path = taskPath(tk.ID)
			}
			p := a.expect(t, http.StatusUnprocessableEntity, "", method, path, tok,
				map[string]any{"title": "smuggled", "completed_at": "2020-01-01T00:00:00Z"}).problem(t)
			if !slices.Contains(p.fields(), "completed_at") {
				t.Errorf("%s: 422 names %v, want completed_at", method, p.fields())
			}
		}
		if got := a.getTask(t, tok, tk.ID); got.CompletedAt != nil || got.Version != 1 || got.Title != "not completed" {
			t.Errorf("task after the refused requests: %+v", got)
		}
	})

	tk := a.newTask(t, tok, "validated")
	labels := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "label-" + strconv.Itoa(i)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"21_labels", map[string]any{"labels": labels(21)}, "labels"},
		{"label_of_51_chars", map[string]any{"labels": []string{strings.Repeat("é", 51)}}, "labels"},
		{"blank_label", map[string]any{"labels": []string{"ok", "  "}}, "labels"},
		{"labels_null", map[string]any{"labels": nil}, "labels"},
		{"labels_not_an_array", map[string]any{"labels": "bug"}, "labels"},
		{"label_not_a_string", map[string]any{"labels": []any{1}}, "labels"},
		{"bad_priority", map[string]any{"priority": "CRITICAL"}, "priority"},
		{"lower_case_priority", map[string]any{"priority": "high"}, "priority"},
		{"priority_null", map[string]any{"priority": nil}, "priority"},
		{"bad_due_at", map[string]any{"due_at": "next tuesday"}, "due_at"},
		{"due_at_without_zone", map[string]any{"due_at": "2030-01-31T17:00:00"}, "due_at"},
		{"due_at_date_only", map[string]any{"due_at": "2030-01-31"}, "due_at"},
		{"due_at_not_a_string", map[string]any{"due_at": 1700000000}, "due_at"},
	} {
		t.Run("invalid_"+tc.name+"_is_422", func(t *testing.T) {
			create := map[string]any{"title": "invalid " + tc.name}
			for k, v := range tc.body {
				create[k] = v
			}
			for _, req := range []struct {
				method, path string
				body         map[string]any
			}{{"POST", "/tasks", create}, {"PATCH", taskPath(tk.ID), tc.body}} {
				p := a.expect(t, http.StatusUnprocessableEntity, "", req.method, req.path, tok, req.body).problem(t)
				if !slices.Contains(p.fields(), tc.field) {
					t.Errorf("%s %s: 422 names %v, want %s", req.method, req.path, p.fields(), tc.field)
				}
				// Refused for its value, not as a field the request lacks.
				for _, e := range p.Errors {
					if strings.Contains(e.Message, "is not a field") {
						t.Errorf("%s %s: %s %s", req.method, req.path, e.Field, e.Message)
					}
				}
			}
		})
	}
	t.Run("boundaries_are_accepted", func(t *testing.T) {
		// 20 distinct labels, given 23 times over in other cases.
		in := append(labels(20), "LABEL-0", " label-1 ", "Label-19")
		got := a.createTask(t, tok, map[string]any{"title": "twenty", "labels": in, "priority": "LOW"})
		if len(got.Labels) != 20 || got.Priority != "LOW" {
			t.Errorf("created %+v: want 20 labels, LOW", got)
		}
		got = a.createTask(t, tok, map[string]any{"title": "long label", "labels": []string{strings.Repeat("é", 50)}})
		if !slices.Equal(got.Labels, []string{strings.Repeat("é", 50)}) {
			t.Errorf("labels %q, want one of 50 characters", got.Labels)
		}
	})
	if got := a.getTask(t, tok, tk.ID); got.Version != 1 || len(got.Labels) != 0 || got.Priority != "MEDIUM" || got.DueAt != nil {
		t.Errorf("task after the refused PATCHes: %+v", got)
	}

	t.Run("another_organization_cannot_patch_the_labels", func(t *testing.T) {
		other := a.newTenant(t)
		mine := a.createTask(t, tok, map[string]any{"title": "mine", "labels": []string{"secret"}})
		gotB := a.expect(t, http.StatusNotFound, "", "PATCH", taskPath(mine.ID), other.Admin.Token,
			map[string]any{"labels": []string{"hijacked"}}).problem(t)
		gotNone := a.expect(t, http.StatusNotFound, "", "PATCH", taskPath(9_000_000_000_001), other.Admin.Token,
			map[string]any{"labels": []string{"hijacked"}}).problem(t)
		if gotB.Code != gotNone.Code || gotB.Detail != gotNone.Detail {
			t.Errorf("another organization's task answers %+v, a missing one %+v: they must not differ", gotB, gotNone)
		}
		a.expect(t, http.StatusNotFound, "", "PATCH", taskPath(mine.ID), other.Admin.Token,
			map[string]any{"priority": "LOW", "due_at": nil})
		got := a.getTask(t, tok, mine.ID)
		if !slices.Equal(got.Labels, []string{"secret"}) || got.Version != 1 || got.Priority != "MEDIUM" {
			t.Errorf("task after the other organization's PATCHes: %+v", got)
		}
		if list, _ := a.listTasks(t, other.Admin.Token, ""); len(list) != 0 {
			t.Errorf("the other organization lists %v", ids(list))
		}
	})
}

// findListed is the task id as GET /tasks?limit=100 shows it.
func (a *api) findListed(t *testing.T, token string, id int64) task {
	t.Helper()
	list, _ := a.listTasks(t, token, "limit=100")
	for _, tk := range list {
		if tk.ID == id {
			return tk
		}
	}
	t.Fatalf("task %d is not listed", id)
	return task{}
}

// jsonOf is v encoded as JSON, for comparing decoded values by their text.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
