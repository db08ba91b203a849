package bootstrap_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// eventOut is an event as the API shows it.
type eventOut struct {
	ID             int64  `json:"id"`
	Type           string `json:"type"`
	OrganizationID int64  `json:"organization_id"`
	Actor          struct {
		UserID   *int64 `json:"user_id"`
		APIKeyID *int64 `json:"api_key_id"`
	} `json:"actor"`
	RequestID *string `json:"request_id"`
	Subject   struct {
		Type string `json:"type"`
		ID   int64  `json:"id"`
	} `json:"subject"`
	Data struct {
		Task    json.RawMessage            `json:"task"`
		Member  json.RawMessage            `json:"member"`
		Invite  json.RawMessage            `json:"invite"`
		Changes map[string]json.RawMessage `json:"changes"`
	} `json:"data"`
}

func (a *api) events(t testing.TB, token, path string) ([]eventOut, reply) {
	t.Helper()
	r := a.expect(t, http.StatusOK, "", "GET", path, token, nil)
	var out []eventOut
	r.into(t, &out)
	return out, r
}

// allEvents pages through path (which has no query yet) with after and
// limit, and checks that ids only grow.
func (a *api) allEvents(t testing.TB, token, path string, limit int) []eventOut {
	t.Helper()
	var all []eventOut
	after := int64(0)
	for {
		page, _ := a.events(t, token, fmt.Sprintf("%s?after=%d&limit=%d", path, after, limit))
		for _, e := range page {
			if e.ID <= after {
				t.Fatalf("%s: event %d after %d", path, e.ID, after)
			}
			after = e.ID
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
	}
}

func typesOf(events []eventOut) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func sameJSON(t testing.TB, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v: %s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v: %s", what, err, want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s:\n got  %s\n want %s", what, gb, wb)
	}
}

func TestEvents_E2E(t *testing.T) {
	t.Parallel()
	eachConfiguration(t, func(t *testing.T, a *api) {
		tn, other := a.newTenant(t), a.newTenant(t)
		user := a.addMember(t, tn, "USER")

		// A write and its event: the task as GET serves it, the caller,
		// the request id.
		r := a.expect(t, http.StatusCreated, "", "POST", "/tasks", tn.Admin.Token,
			map[string]any{"title": "Launch", "assignee_id": user.ID, "labels": []string{"B", "a"}},
			"X-Request-ID", "e2e-create-1")
		var tk task
		r.into(t, &tk)
		created := a.expect(t, http.StatusOK, "", "GET", taskPath(tk.ID), tn.Admin.Token, nil)
		moved := a.expect(t, http.StatusOK, "", "PUT", taskPath(tk.ID)+"?new_status=IN_PROGRESS", user.Token, nil)
		a.expect(t, http.StatusOK, "", "PATCH", taskPath(tk.ID), tn.Admin.Token,
			map[string]any{"title": "Launch it", "due_at": "2031-01-02T03:04:05Z", "assignee_id": nil})
		a.expect(t, http.StatusNoContent, "", "DELETE", taskPath(tk.ID), tn.Admin.Token, nil)

		t.Run("a_tasks_history_outlives_the_task_and_is_readable_by_any_member", func(t *testing.T) {
			hist, _ := a.events(t, user.Token, taskPath(tk.ID)+"/events")
			if got := typesOf(hist); !slices.Equal(got, []string{"task.created", "task.status_changed", "task.updated", "task.deleted"}) {
				t.Fatalf("history %v", got)
			}
			c := hist[0]
			if c.RequestID == nil || *c.RequestID != "e2e-create-1" || c.Actor.UserID == nil || *c.Actor.UserID != tn.Admin.ID ||
				c.Actor.APIKeyID != nil || c.OrganizationID != tn.ID || c.Subject.Type != "task" || c.Subject.ID != tk.ID {
				t.Errorf("task.created event %+v", c)
			}
			sameJSON(t, "task.created data.task vs GET /tasks/{id}", c.Data.Task, created.body)
			sameJSON(t, "task.status_changed data.task vs the PUT answer", hist[1].Data.Task, moved.body)
			sameJSON(t, "status change", hist[1].Data.Changes["status"], []byte(`["CREATED","IN_PROGRESS"]`))
			if len(hist[1].Data.Changes) != 1 || hist[1].Actor.UserID == nil || *hist[1].Actor.UserID != user.ID {
				t.Errorf("task.status_changed %+v", hist[1])
			}
			ch := hist[2].Data.Changes
			sameJSON(t, "title change", ch["title"], []byte(`["Launch","Launch it"]`))
			sameJSON(t, "due_at change", ch["due_at"], []byte(`[null,"2031-01-02T03:04:05Z"]`))
			sameJSON(t, "assignee change", ch["assignee_id"], []byte(fmt.Sprintf(`[%d,null]`, user.ID)))
			if len(ch) != 3 {
				t.Errorf("task.updated changes %v, want title, due_at and assignee_id", ch)
			}
			// Paged one by one, the same events.
			paged := a.allEvents(t, user.Token, taskPath(tk.ID)+"/events", 1)
			if len(paged) != 4 || paged[3].ID != hist[3].ID {
				t.Errorf("paged history %v", typesOf(paged))
			}
			statusOnly, _ := a.events(t, user.Token, taskPath(tk.ID)+"/events?type=task.status_changed")
			if got := typesOf(statusOnly); !slices.Equal(got, []string{"task.status_changed"}) {
				t.Errorf("history of type task.status_changed: %v", got)
			}
		})

		t.Run("a_task_id_never_used_in_the_organization_is_404_and_another_organizations_task_too", func(t *testing.T) {
			a.expect(t, http.StatusNotFound, "task_not_found", "GET", taskPath(1<<40)+"/events", tn.Admin.Token, nil)
			theirs := a.newTask(t, other.Admin.Token, "theirs")
			a.expect(t, http.StatusNotFound, "task_not_found", "GET", taskPath(theirs.ID)+"/events", tn.Admin.Token, nil)
			// Even a deleted one of theirs.
			a.expect(t, http.StatusNoContent, "", "DELETE", taskPath(theirs.ID), other.Admin.Token, nil)
			a.expect(t, http.StatusNotFound, "task_not_found", "GET", taskPath(theirs.ID)+"/events", tn.Admin.Token, nil)
			// A task with no events past after is an empty page, not 404.
			mine := a.newTask(t, tn.Admin.Token, "mine")
			if page, _ := a.events(t, user.Token, fmt.Sprintf("%s/events?after=%d", taskPath(mine.ID), 1<<40)); len(page) != 0 {
				t.Errorf("history past its end: %v", typesOf(page))
			}
		})

		t.Run("the_whole_log_is_for_admins_and_pages_every_event_exactly_once", func(t *testing.T) {
			a.expect(t, http.StatusForbidden, "", "GET", "/events", user.Token, nil)
			all := a.allEvents(t, tn.Admin.Token, "/events", 100)
			paged := a.allEvents(t, tn.Admin.Token, "/events", 3)
			if len(all) == 0 || len(paged) != len(all) {
				t.Fatalf("%d events by 100, %d by 3", len(all), len(paged))
			}
			for i := range all {
				if paged[i].ID != all[i].ID || all[i].OrganizationID != tn.ID {
					t.Fatalf("event %d: paged %d, all %d (organization %d)", i, paged[i].ID, all[i].ID, all[i].OrganizationID)
				}
			}
			// The organization's log from its start: the first ADMIN's
			// invite, made with the organization, then their joining.
			if got := typesOf(all[:4]); !slices.Equal(got, []string{"invite.created", "member.joined", "invite.created", "member.joined"}) {
				t.Errorf("log starts %v", got)
			}
			if all[0].Actor.UserID != nil || all[1].Actor.UserID == nil || *all[1].Actor.UserID != tn.Admin.ID {
				t.Errorf("actors of the first events: %+v, %+v", all[0].Actor, all[1].Actor)
			}
			tasks, _ := a.events(t, tn.Admin.Token, "/events?type=task.*")
			members, _ := a.events(t, tn.Admin.Token, "/events?type=member.joined")
			for _, e := range tasks {
				if !strings.HasPrefix(e.Type, "task.") {
					t.Errorf("type=task.* lists %s", e.Type)
				}
			}
			if len(members) != 2 {
				t.Errorf("type=member.joined lists %v", typesOf(members))
			}
			subject, _ := a.events(t, tn.Admin.Token, fmt.Sprintf("/events?type=task.*&subject_id=%d", tk.ID))
			if len(subject) != 4 {
				t.Errorf("subject_id=%d lists %v", tk.ID, typesOf(subject))
			}
			// Another organization's log shows none of this one's events.
			for _, e := range a.allEvents(t, other.Admin.Token, "/events", 100) {
				if e.OrganizationID != other.ID {
					t.Fatalf("organization %d's log holds an event of %d", other.ID, e.OrganizationID)
				}
			}
			if page, _ := a.events(t, other.Admin.Token, fmt.Sprintf("/events?subject_id=%d", tk.ID)); len(page) != 0 {
				t.Errorf("another organization lists events of our task: %v", typesOf(page))
			}
		})

		t.Run("members_and_invites_record_their_events_without_secrets", func(t *testing.T) {
			code := a.invite(t, tn, "USER", "")
			joiner := a.signUp(t, code, uniqueEmail("joiner"))
			mine := a.createTask(t, tn.Admin.Token, map[string]any{"title": "theirs", "assignee_id": joiner.ID})
			a.expect(t, http.StatusOK, "", "PATCH", userPath(joiner.ID), tn.Admin.Token, map[string]any{"role": "ADMIN"})
			r := a.expect(t, http.StatusCreated, "", "POST", "/api-keys", tn.Admin.Token, map[string]any{"name": "bot"})
			var key struct {
				ID  int64  `json:"id"`
				Key string `json:"key"`
			}
			r.into(t, &key)
			a.expect(t, http.StatusNoContent, "", "DELETE", userPath(joiner.ID), key.Key, nil)

			all := a.allEvents(t, tn.Admin.Token, "/events", 100)
			tail := all[len(all)-6:]
			if got := typesOf(tail); !slices.Equal(got, []string{"invite.created", "member.joined", "task.created",
				"member.role_changed", "member.removed", "task.updated"}) {
				t.Fatalf("last events %v", got)
			}
			sameJSON(t, "role change", tail[3].Data.Changes["role"], []byte(`["USER","ADMIN"]`))
			removed, unassigned := tail[4], tail[5]
			if removed.Subject.Type != "member" || removed.Subject.ID != joiner.ID || removed.Actor.APIKeyID == nil ||
				*removed.Actor.APIKeyID != key.ID || *removed.Actor.UserID != tn.Admin.ID {
				t.Errorf("member.removed %+v", removed)
			}
			if unassigned.Subject.ID != mine.ID || unassigned.Actor.APIKeyID == nil {
				t.Errorf("task.updated of the removal %+v", unassigned)
			}
			sameJSON(t, "unassignment", unassigned.Data.Changes["assignee_id"], []byte(fmt.Sprintf(`[%d,null]`, joiner.ID)))

			// An invite revoked, another organization cannot see it.
			var inv []pendingInvite
			code2 := a.invite(t, tn, "USER", "x@example.test")
			inv = a.listInvites(t, tn.Admin.Token)
			target, _ := inviteFor(inv, "x@example.test")
			a.expect(t, http.StatusNoContent, "", "DELETE", invitePath(target.ID), tn.Admin.Token, nil)
			revoked, _ := a.events(t, tn.Admin.Token, fmt.Sprintf("/events?type=invite.revoked&subject_id=%d", target.ID))
			if len(revoked) != 1 {
				t.Fatalf("invite.revoked events %v", typesOf(revoked))
			}

			raw := a.do(t, "GET", "/events?limit=100&after="+fmt.Sprint(all[0].ID-1), tn.Admin.Token, nil).body
			for _, secret := range []string{code, code2, password, key.Key, tn.Admin.Token, joiner.Token, "$2a$", "password", "code_hash"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("the event log carries a secret (%.12s...)", secret)
				}
			}
		})

		t.Run("bad_queries_are_422", func(t *testing.T) {
			for _, q := range []string{"limit=0", "limit=101", "limit=x", "after=-1", "after=x", "type=task", "type=nope.*",
				"type=task.exploded", "subject_id=0", "subject_id=x", "bogus=1", "limit=1&limit=2"} {
				a.expect(t, http.StatusUnprocessableEntity, "validation_failed", "GET", "/events?"+q, tn.Admin.Token, nil)
			}
			a.expect(t, http.StatusUnprocessableEntity, "validation_failed", "GET", taskPath(tk.ID)+"/events?subject_id=3", user.Token, nil)
			a.expect(t, http.StatusUnprocessableEntity, "validation_failed", "GET", "/tasks/x/events", user.Token, nil)
			a.expect(t, http.StatusUnauthorized, "", "GET", "/events", "", nil)
		})
	})
}
