package storetest

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// storedTask creates a task of org with the given details (nil: left at
// their defaults).
func (f *fixture) storedTask(t *testing.T, org domain.OrgID, by domain.UserID, assignee *domain.UserID,
	p domain.Priority, due *time.Time, labels ...string) *domain.Task {
	t.Helper()
	tk := newTask(t, org, by, assignee)
	if p != "" {
		wantNoErr(t, "priority", tk.SetPriority(p))
	}
	wantNoErr(t, "due", tk.SetDueAt(due))
	wantNoErr(t, "labels", tk.SetLabels(labels))
	wantNoErr(t, "create", f.s.Tasks.Create(f.ctx, tk))
	return tk
}

var taskFilterTests = []test{
	{"list_filters_by_unassigned_priority_label_and_due_bounds", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		u := f.user(o.ID, domain.RoleUser)
		day := func(n int) *time.Time { d := t0.Add(time.Duration(n) * 24 * time.Hour); return &d }
		// Due dates with microseconds, so that a bound equal to one is
		// told apart from one a microsecond away.
		at := day(2).Add(time.Microsecond)
		t1 := f.storedTask(t, o.ID, admin.ID, nil, domain.PriorityLow, nil, "backend")
		t2 := f.storedTask(t, o.ID, admin.ID, &u.ID, domain.PriorityUrgent, day(1), "Release", "backend")
		t3 := f.storedTask(t, o.ID, admin.ID, nil, domain.PriorityUrgent, &at)
		t4 := f.storedTask(t, o.ID, admin.ID, &u.ID, "", day(3), "release")
		// Another tenant with the same label, priority and due dates, and
		// a task assigned to nobody: never listed.
		other, otherAdmin := f.orgWithAdmin()
		f.storedTask(t, other.ID, otherAdmin.ID, nil, domain.PriorityUrgent, day(1), "release", "backend")

		urgent, low, medium := domain.PriorityUrgent, domain.PriorityLow, domain.PriorityMedium
		release, backend, absentLabel := "release", "backend", "nope"
		before, after := at, at
		justAfter, justBefore := at.Add(time.Microsecond), at.Add(-time.Microsecond)
		for _, c := range []struct {
			name   string
			filter ports.TaskFilter
			want   []domain.TaskID
		}{
			{"unassigned", ports.TaskFilter{Unassigned: true}, []domain.TaskID{t3.ID, t1.ID}},
			{"priority_urgent", ports.TaskFilter{Priority: &urgent}, []domain.TaskID{t3.ID, t2.ID}},
			{"priority_low", ports.TaskFilter{Priority: &low}, []domain.TaskID{t1.ID}},
			{"priority_medium_is_the_default", ports.TaskFilter{Priority: &medium}, []domain.TaskID{t4.ID}},
			{"label", ports.TaskFilter{Label: &release}, []domain.TaskID{t4.ID, t2.ID}},
			{"label_backend", ports.TaskFilter{Label: &backend}, []domain.TaskID{t2.ID, t1.ID}},
			{"absent_label", ports.TaskFilter{Label: &absentLabel}, []domain.TaskID{}},
			{"due_before_is_exclusive", ports.TaskFilter{DueBefore: &before}, []domain.TaskID{t2.ID}},
			{"due_before_just_after", ports.TaskFilter{DueBefore: &justAfter}, []domain.TaskID{t3.ID, t2.ID}},
			{"due_after_is_exclusive", ports.TaskFilter{DueAfter: &after}, []domain.TaskID{t4.ID}},
			{"due_after_just_before", ports.TaskFilter{DueAfter: &justBefore}, []domain.TaskID{t4.ID, t3.ID}},
			{"due_window", ports.TaskFilter{DueAfter: day(1), DueBefore: day(3)}, []domain.TaskID{t3.ID}},
			{"label_and_assignee", ports.TaskFilter{Label: &backend, Assignee: &u.ID}, []domain.TaskID{t2.ID}},
			{"unassigned_and_priority", ports.TaskFilter{Unassigned: true, Priority: &urgent}, []domain.TaskID{t3.ID}},
			{"label_and_priority_with_keyset", ports.TaskFilter{Label: &release, Before: &t4.ID}, []domain.TaskID{t2.ID}},
		} {
			c.filter.Limit = 10
			page, err := f.s.Tasks.List(f.ctx, o.ID, c.filter)
			wantNoErr(t, c.name, err)
			wantEqual(t, c.name+": ids", ids(page.Tasks), c.want)
		}
	}},
}
