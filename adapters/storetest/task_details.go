package storetest

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// detailedTask is a new task with every detail set, not yet stored: a due
// date with nanoseconds and a zone (stores keep UTC microseconds) and
// labels given out of order, in mixed case, with a duplicate.
func detailedTask(t *testing.T, org domain.OrgID, by domain.UserID) *domain.Task {
	t.Helper()
	tk := newTask(t, org, by, nil)
	due := t0.Add(72*time.Hour + 5*time.Nanosecond)
	if err := tk.SetPriority(domain.PriorityUrgent); err != nil {
		t.Fatal(err)
	}
	if err := tk.SetDueAt(&due); err != nil {
		t.Fatal(err)
	}
	if err := tk.SetLabels([]string{"Release", "backend", "ÉTÉ", "release"}); err != nil {
		t.Fatal(err)
	}
	return tk
}

var taskDetailTests = []test{
	{"details_round_trip_through_create_get_and_list", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		plain := f.task(o.ID, admin.ID, nil)
		rich := detailedTask(t, o.ID, admin.ID)
		wantNoErr(t, "create", f.s.Tasks.Create(f.ctx, rich))

		wantEqual(t, "labels as created", rich.Labels, []string{"backend", "release", "été"})
		wantEqual(t, "due date as created", *rich.DueAt, t0.Add(72*time.Hour).UTC().Truncate(time.Microsecond))
		wantEqual(t, "stored task", f.getTask(o.ID, rich.ID), rich)

		got := f.getTask(o.ID, plain.ID)
		if got.Priority != domain.PriorityMedium || got.DueAt != nil || got.CompletedAt != nil || got.Labels == nil || len(got.Labels) != 0 {
			t.Fatalf("plain task = %+v; want MEDIUM, no due date, no labels ([] not nil), not completed", got)
		}
		wantEqual(t, "stored plain task", got, plain)

		page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 10})
		wantNoErr(t, "list", err)
		wantEqual(t, "listed tasks", page.Tasks, []domain.Task{*rich, *plain})
	}},
	{"update_writes_priority_due_date_and_labels", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := detailedTask(t, o.ID, admin.ID)
		wantNoErr(t, "create", f.s.Tasks.Create(f.ctx, tk))
		due := t0.Add(-24 * time.Hour)

		got, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
			wantEqual(t, "task given to fn", cur, tk)
			if err := cur.SetPriority(domain.PriorityLow); err != nil {
				return err
			}
			if err := cur.SetDueAt(&due); err != nil {
				return err
			}
			return cur.SetLabels([]string{"Ops", "backend"})
		})
		wantNoErr(t, "update", err)
		want := *tk
		want.Priority, want.DueAt, want.Labels, want.Version = domain.PriorityLow, ptr(due.UTC().Truncate(time.Microsecond)), []string{"backend", "ops"}, 2
		wantEqual(t, "returned task", got, &want)
		wantEqual(t, "stored task", f.getTask(o.ID, tk.ID), &want)

		// An update that leaves the labels alone keeps them.
		got, err = f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error { return cur.SetTitle("renamed") })
		wantNoErr(t, "rename", err)
		wantEqual(t, "labels after rename", f.getTask(o.ID, tk.ID).Labels, []string{"backend", "ops"})
		wantEqual(t, "returned labels after rename", got.Labels, []string{"backend", "ops"})

		got, err = f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error {
			if err := cur.SetDueAt(nil); err != nil {
				return err
			}
			return cur.SetLabels(nil)
		})
		wantNoErr(t, "clear", err)
		stored := f.getTask(o.ID, tk.ID)
		wantEqual(t, "stored after clearing", stored, got)
		if stored.DueAt != nil || stored.Labels == nil || len(stored.Labels) != 0 || stored.Priority != domain.PriorityLow {
			t.Fatalf("after clearing: %+v; want LOW, no due date, labels []", stored)
		}
	}},
	{"completed_at_is_stored_with_the_transition", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := f.task(o.ID, admin.ID, nil)
		for _, step := range []struct {
			to domain.Status
			at time.Time
		}{{domain.StatusInProgress, t0.Add(time.Hour)}, {domain.StatusCompleted, t0.Add(2*time.Hour + time.Nanosecond)}} {
			got, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(cur *domain.Task) error { return cur.Transition(step.to, step.at) })
			wantNoErr(t, "transition to "+string(step.to), err)
			wantEqual(t, "stored after "+string(step.to), f.getTask(o.ID, tk.ID), got)
		}
		got := f.getTask(o.ID, tk.ID)
		if got.CompletedAt == nil || !got.CompletedAt.Equal(t0.Add(2*time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("completed_at = %v, want %v", got.CompletedAt, t0.Add(2*time.Hour))
		}
	}},
	{"delete_removes_a_task_with_labels", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := detailedTask(t, o.ID, admin.ID)
		wantNoErr(t, "create", f.s.Tasks.Create(f.ctx, tk))
		wantNoErr(t, "delete", errOf(f.s.Tasks.Delete(f.ctx, o.ID, tk.ID, 0)))
		_, err := f.s.Tasks.Get(f.ctx, o.ID, tk.ID)
		wantErr(t, "get after delete", err, domain.ErrTaskNotFound)
	}},
	{"another_organization_cannot_change_or_see_labels", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		tk := detailedTask(t, o.ID, admin.ID)
		wantNoErr(t, "create", f.s.Tasks.Create(f.ctx, tk))
		other, otherAdmin := f.orgWithAdmin()
		// The other organization's own task with the same labels.
		theirs := detailedTask(t, other.ID, otherAdmin.ID)
		wantNoErr(t, "create theirs", f.s.Tasks.Create(f.ctx, theirs))

		_, err := f.s.Tasks.Update(f.ctx, other.ID, tk.ID, func(cur *domain.Task) error {
			t.Fatal("fn called for another organization's task")
			return cur.SetLabels(nil)
		})
		wantErr(t, "update", err, domain.ErrTaskNotFound)
		_, err = f.s.Tasks.Update(f.ctx, other.ID, theirs.ID, func(cur *domain.Task) error { return cur.SetLabels([]string{"mine"}) })
		wantNoErr(t, "update theirs", err)

		wantEqual(t, "task untouched", f.getTask(o.ID, tk.ID), tk)
		wantEqual(t, "their labels", f.getTask(other.ID, theirs.ID).Labels, []string{"mine"})
	}},
}
