package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

func wantForeignAssignee(t *testing.T, what string, err error) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.KindInvalid ||
		len(de.Fields) != 1 || de.Fields[0].Field != "assignee_id" {
		t.Fatalf("%s: got error %v, want a KindInvalid error on assignee_id", what, err)
	}
}

func ids(tasks []domain.Task) []domain.TaskID {
	out := make([]domain.TaskID, 0, len(tasks))
	for _, tk := range tasks {
		out = append(out, tk.ID)
	}
	return out
}

var taskTests = []test{
	{"create_then_get_returns_the_same_task", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		for _, assignee := range []*domain.UserID{nil, &admin.ID} {
			tk := f.task(o.ID, admin.ID, assignee)
			if tk.ID == 0 || tk.Version != 1 {
				t.Fatalf("after Create: id %d, version %d; want an id and version 1", tk.ID, tk.Version)
			}
			wantEqual(t, "task", f.getTask(o.ID, tk.ID), tk)
		}
	}},
	{"get_absent_is_not_found", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		_, err := f.s.Tasks.Get(f.ctx, o.ID, absent)
		wantErr(t, "get", err, domain.ErrTaskNotFound)
	}},
	{"create_with_an_assignee_of_another_organization_is_invalid", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		_, stranger := f.orgWithAdmin()
		wantForeignAssignee(t, "create", f.s.Tasks.Create(f.ctx, newTask(t, o.ID, admin.ID, &stranger.ID)))
		wantForeignAssignee(t, "create with absent user",
			f.s.Tasks.Create(f.ctx, newTask(t, o.ID, admin.ID, ptr(domain.UserID(absent)))))
		page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 10})
		wantNoErr(t, "list", err)
		wantEqual(t, "tasks", len(page.Tasks), 0)
	}},
	{"create_in_an_absent_organization_is_org_not_found", func(t *testing.T, f *fixture) {
		_, admin := f.orgWithAdmin()
		for _, assignee := range []*domain.UserID{nil, &admin.ID} {
			wantErr(t, "create", f.s.Tasks.Create(f.ctx, newTask(t, absent, admin.ID, assignee)), domain.ErrOrgNotFound)
		}
	}},
	{"list_pages_newest_first_with_filters", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		t1 := f.task(o.ID, admin.ID, nil)
		t2 := f.task(o.ID, admin.ID, &u.ID)
		t3 := f.task(o.ID, admin.ID, nil)
		t4 := f.task(o.ID, admin.ID, &u.ID)
		t5 := f.task(o.ID, admin.ID, nil)
		_, err := f.s.Tasks.Update(f.ctx, o.ID, t3.ID, func(tk *domain.Task) error {
			return tk.Transition(domain.StatusInProgress, t0)
		})
		wantNoErr(t, "start t3", err)
		other, otherAdmin := f.orgWithAdmin()
		f.task(other.ID, otherAdmin.ID, nil)

		inProgress, created := domain.StatusInProgress, domain.StatusCreated
		for _, c := range []struct {
			name    string
			filter  ports.TaskFilter
			want    []domain.TaskID
			hasMore bool
		}{
			{"all", ports.TaskFilter{Limit: 10}, []domain.TaskID{t5.ID, t4.ID, t3.ID, t2.ID, t1.ID}, false},
			{"exactly_all", ports.TaskFilter{Limit: 5}, []domain.TaskID{t5.ID, t4.ID, t3.ID, t2.ID, t1.ID}, false},
			{"first_page", ports.TaskFilter{Limit: 2}, []domain.TaskID{t5.ID, t4.ID}, true},
			{"offset_page", ports.TaskFilter{Limit: 2, Offset: 2}, []domain.TaskID{t3.ID, t2.ID}, true},
			{"last_offset_page", ports.TaskFilter{Limit: 2, Offset: 4}, []domain.TaskID{t1.ID}, false},
			{"past_the_end", ports.TaskFilter{Limit: 2, Offset: 9}, []domain.TaskID{}, false},
			{"keyset_page", ports.TaskFilter{Limit: 2, After: cursorAfter(t4)}, []domain.TaskID{t3.ID, t2.ID}, true},
			{"last_keyset_page", ports.TaskFilter{Limit: 2, After: cursorAfter(t2)}, []domain.TaskID{t1.ID}, false},
			{"keyset_past_the_end", ports.TaskFilter{Limit: 2, After: cursorAfter(t1)}, []domain.TaskID{}, false},
			{"by_status", ports.TaskFilter{Limit: 10, Status: &inProgress}, []domain.TaskID{t3.ID}, false},
			{"by_assignee", ports.TaskFilter{Limit: 10, Assignee: &u.ID}, []domain.TaskID{t4.ID, t2.ID}, false},
			{"by_status_and_assignee", ports.TaskFilter{Limit: 1, Status: &created, Assignee: &u.ID}, []domain.TaskID{t4.ID}, true},
			{"by_assignee_with_keyset", ports.TaskFilter{Limit: 1, Assignee: &u.ID, After: cursorAfter(t4)}, []domain.TaskID{t2.ID}, false},
		} {
			page, err := f.s.Tasks.List(f.ctx, o.ID, c.filter)
			wantNoErr(t, c.name, err)
			wantEqual(t, c.name+": ids", ids(page.Tasks), c.want)
			wantEqual(t, c.name+": has more", page.HasMore, c.hasMore)
		}

		page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 1})
		wantNoErr(t, "list", err)
		wantEqual(t, "listed task", page.Tasks[0], *t5)
	}},
	{"update_writes_the_changes_and_moves_the_version_on", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		tk := f.task(o.ID, admin.ID, nil)
		later := t0.Add(90*time.Minute + 7*time.Nanosecond)

		got, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
			wantEqual(t, "task given to fn", cur, tk)
			if err := cur.SetTitle("New title"); err != nil {
				return err
			}
			cur.Description = "new description"
			cur.AssigneeID = &u.ID
			return cur.Transition(domain.StatusInProgress, later)
		})
		wantNoErr(t, "update", err)

		want := *tk
		want.Title, want.Description, want.AssigneeID = "New title", "new description", &u.ID
		want.Status, want.UpdatedAt, want.Version = domain.StatusInProgress, later.UTC().Truncate(time.Microsecond), 2
		wantEqual(t, "returned task", got, &want)
		wantEqual(t, "stored task", f.getTask(o.ID, tk.ID), &want)
	}},
	{"update_returns_fns_error_and_changes_nothing", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		errStop := errors.New("stop")
		_, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
			cur.Title = "changed"
			return errStop
		})
		wantErr(t, "update", err, errStop)
		wantEqual(t, "stored task", f.getTask(o.ID, tk.ID), tk)
	}},
	{"update_to_an_assignee_of_another_organization_is_invalid", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		_, stranger := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		_, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
			cur.AssigneeID = &stranger.ID
			return nil
		})
		wantForeignAssignee(t, "update", err)
		wantEqual(t, "stored task", f.getTask(o.ID, tk.ID), tk)
	}},
	{"update_of_absent_task_is_not_found", func(t *testing.T, f *fixture) {
		o, _ := f.orgWithAdmin()
		_, err := f.s.Tasks.Update(f.ctx, o.ID, absent, func(*domain.Task) error {
			t.Fatal("fn called for an absent task")
			return nil
		})
		wantErr(t, "update", err, domain.ErrTaskNotFound)
	}},
	{"concurrent_transitions_exactly_one_wins", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		errs := race(20, func(int) error {
			_, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
				// Widens the gap between read and write, so that a store
				// which does not serialize writers fails every time.
				time.Sleep(2 * time.Millisecond)
				return cur.Transition(domain.StatusInProgress, t0)
			})
			return err
		})
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case domain.KindOf(err) != domain.KindConflict || !errors.Is(err, domain.ErrInvalidTransition):
				t.Fatalf("loser got %v, want an invalid transition conflict", err)
			}
		}
		wantEqual(t, "winners", won, 1)
		got := f.getTask(o.ID, tk.ID)
		wantEqual(t, "status", got.Status, domain.StatusInProgress)
		wantEqual(t, "version", got.Version, int64(2))
	}},
	{"delete_removes_the_task", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		wantNoErr(t, "delete", errOf(f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, 0)))
		_, err := f.s.Tasks.Get(f.ctx, o.ID, tk.ID)
		wantErr(t, "get after delete", err, domain.ErrTaskNotFound)
		wantErr(t, "delete again", errOf(f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, 0)), domain.ErrTaskNotFound)
		wantErr(t, "delete again with version", errOf(f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, 1)), domain.ErrTaskNotFound)
	}},
	{"delete_at_the_expected_version_removes_the_task", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		wantNoErr(t, "delete", errOf(f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, tk.Version)))
		_, err := f.s.Tasks.Get(f.ctx, o.ID, tk.ID)
		wantErr(t, "get after delete", err, domain.ErrTaskNotFound)
	}},
	{"delete_at_a_stale_version_is_a_mismatch_and_keeps_the_task", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		updated, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
			return cur.SetTitle("moved on")
		})
		wantNoErr(t, "update", err)
		wantErr(t, "delete", errOf(f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, tk.Version)), domain.ErrVersionMismatch)
		wantEqual(t, "stored task", f.getTask(o.ID, tk.ID), updated)
	}},
	{"another_organizations_task_is_not_found", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, &admin.ID)
		other, _ := f.orgWithAdmin()

		_, err := f.s.Tasks.Get(f.ctx, other.ID, tk.ID)
		wantErr(t, "get", err, domain.ErrTaskNotFound)
		_, err = f.s.Tasks.Update(f.ctx, other.ID, tk.ID, func(*domain.Task) error {
			t.Fatal("fn called for another organization's task")
			return nil
		})
		wantErr(t, "update", err, domain.ErrTaskNotFound)
		wantErr(t, "delete", errOf(f.s.Tasks.Delete(f.ctx, other.ID, tk.ID, 0)), domain.ErrTaskNotFound)
		wantErr(t, "delete with version", errOf(f.s.Tasks.Delete(f.ctx, other.ID, tk.ID, tk.Version)), domain.ErrTaskNotFound)
		page, err := f.s.Tasks.List(f.ctx, other.ID, ports.TaskFilter{Limit: 100, Assignee: &admin.ID})
		wantNoErr(t, "list", err)
		wantEqual(t, "listed", len(page.Tasks), 0)

		wantEqual(t, "task untouched", f.getTask(o.ID, tk.ID), tk)
	}},
}
