package storetest

import (
	"cmp"
	"fmt"
	"slices"
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
			{"label_and_priority_with_keyset", ports.TaskFilter{Label: &release, After: cursorAfter(t4)}, []domain.TaskID{t2.ID}},
		} {
			c.filter.Limit = 10
			page, err := f.s.Tasks.List(f.ctx, o.ID, c.filter)
			wantNoErr(t, c.name, err)
			wantEqual(t, c.name+": ids", ids(page.Tasks), c.want)
		}
	}},
}

// cursorAfter is the cursor that follows tk in the default order.
func cursorAfter(tk *domain.Task) *ports.TaskCursor {
	c := ports.CursorOf(ports.SortCreatedDesc, tk)
	return &c
}

var taskSortTests = []test{
	{"list_sorts_with_ties_by_id_descending", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		day := func(n int) *time.Time { d := t0.Add(time.Duration(n) * 24 * time.Hour); return &d }
		t1 := f.storedTask(t, o.ID, admin.ID, nil, domain.PriorityHigh, day(2))
		t2 := f.storedTask(t, o.ID, admin.ID, nil, domain.PriorityUrgent, nil)
		t3 := f.storedTask(t, o.ID, admin.ID, nil, domain.PriorityHigh, day(1))
		t4 := f.storedTask(t, o.ID, admin.ID, nil, domain.PriorityLow, day(2))
		t5 := f.storedTask(t, o.ID, admin.ID, nil, "", nil)
		// updated_at: t1 and t3 later than the rest (t3 the latest); t2,
		// t4, t5 tie at creation.
		for _, u := range []struct {
			tk *domain.Task
			at time.Time
		}{{t1, t0.Add(time.Hour)}, {t3, t0.Add(2 * time.Hour)}} {
			_, err := f.s.Tasks.Update(f.ctx, o.ID, u.tk.ID, func(tk *domain.Task) error {
				return tk.Transition(domain.StatusInProgress, u.at)
			})
			wantNoErr(t, "update", err)
		}
		other, otherAdmin := f.orgWithAdmin()
		f.storedTask(t, other.ID, otherAdmin.ID, nil, domain.PriorityUrgent, day(0))

		for sort, want := range map[ports.TaskSort][]domain.TaskID{
			ports.SortCreatedDesc:  {t5.ID, t4.ID, t3.ID, t2.ID, t1.ID},
			ports.SortCreated:      {t1.ID, t2.ID, t3.ID, t4.ID, t5.ID},
			ports.SortUpdatedDesc:  {t3.ID, t1.ID, t5.ID, t4.ID, t2.ID},
			ports.SortUpdated:      {t5.ID, t4.ID, t2.ID, t1.ID, t3.ID},
			ports.SortDue:          {t3.ID, t4.ID, t1.ID, t5.ID, t2.ID},
			ports.SortPriorityDesc: {t2.ID, t3.ID, t1.ID, t5.ID, t4.ID},
		} {
			page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 10, Sort: sort})
			wantNoErr(t, string(sort), err)
			wantEqual(t, string(sort)+": ids", ids(page.Tasks), want)
			// Offset pages follow the same order.
			page, err = f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 2, Offset: 2, Sort: sort})
			wantNoErr(t, string(sort)+" offset", err)
			wantEqual(t, string(sort)+": offset ids", ids(page.Tasks), want[2:4])
		}
	}},
	{"due_paging_crosses_from_the_dated_tasks_to_the_undated_tail_each_task_once_in_order", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		at := func(d time.Time) *time.Time { return &d }
		// Ties on one date, the first and last representable years (the
		// last must still come before the undated tail), undated tasks
		// created between dated ones, and a task whose date is removed.
		dues := []*time.Time{
			nil, at(t0.Add(time.Hour)), at(t0), nil, at(t0),
			at(time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)), nil, at(t0),
			at(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), nil, at(t0.Add(time.Hour)), nil,
		}
		tasks := make([]domain.Task, 0, len(dues)+1)
		for _, d := range dues {
			tasks = append(tasks, *f.storedTask(t, o.ID, admin.ID, nil, "", d))
		}
		undated, err := f.s.Tasks.Update(f.ctx, o.ID, tasks[2].ID, func(tk *domain.Task) error { return tk.SetDueAt(nil) })
		wantNoErr(t, "clear due", err)
		tasks[2] = *undated
		// Another tenant's tasks on both sides of the boundary are never seen.
		other, otherAdmin := f.orgWithAdmin()
		f.storedTask(t, other.ID, otherAdmin.ID, nil, "", at(t0))
		f.storedTask(t, other.ID, otherAdmin.ID, nil, "", nil)

		// The order by its definition: soonest first, undated last, ties
		// by id descending.
		slices.SortFunc(tasks, func(a, b domain.Task) int {
			switch {
			case a.DueAt == nil && b.DueAt != nil:
				return 1
			case a.DueAt != nil && b.DueAt == nil:
				return -1
			case a.DueAt != nil && !a.DueAt.Equal(*b.DueAt):
				return a.DueAt.Compare(*b.DueAt)
			}
			return cmp.Compare(b.ID, a.ID)
		})
		want := ids(tasks)
		// Every page size puts the boundary somewhere else: inside a page,
		// on a page's last task, on the next page's first.
		for limit := 1; limit <= len(want)+1; limit++ {
			var got []domain.TaskID
			var after *ports.TaskCursor
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("limit %d: the cursor never ends", limit)
				}
				page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: limit, Sort: ports.SortDue, After: after})
				wantNoErr(t, "list", err)
				got = append(got, ids(page.Tasks)...)
				if !page.HasMore {
					break
				}
				c := ports.CursorOf(ports.SortDue, &page.Tasks[len(page.Tasks)-1])
				after = &c
			}
			wantEqual(t, fmt.Sprintf("limit %d: ids", limit), got, want)
		}
	}},
	{"paging_every_sort_through_tie_groups_sees_each_task_once_in_order", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		at := func(d time.Time) *time.Time { return &d }
		// Most tasks tie on priority (MEDIUM), on due (t0) and on
		// updated_at (their creation, t0); the others break each group
		// on both sides, some undated, some updated to one of two times
		// (ties again). Half carry a label.
		var tasks []domain.Task
		for i := range 16 {
			p := domain.PriorityMedium
			switch {
			case i%5 == 0:
				p = domain.PriorityHigh
			case i%7 == 0:
				p = domain.PriorityLow
			}
			due := at(t0)
			switch {
			case i%4 == 3:
				due = nil
			case i%6 == 0:
				due = at(t0.Add(time.Hour))
			}
			var labels []string
			if i%2 == 0 {
				labels = []string{"even"}
			}
			tk := f.storedTask(t, o.ID, admin.ID, nil, p, due, labels...)
			if i%3 == 0 {
				updated, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(tk *domain.Task) error {
					return tk.Transition(domain.StatusInProgress, t0.Add(time.Duration(1+i%2)*time.Hour))
				})
				wantNoErr(t, "update", err)
				tk = updated
			}
			tasks = append(tasks, *tk)
		}
		// Another tenant's tasks in the same groups are never seen.
		other, otherAdmin := f.orgWithAdmin()
		for range 3 {
			f.storedTask(t, other.ID, otherAdmin.ID, nil, domain.PriorityMedium, at(t0), "even")
		}

		// Each sort's order by its definition: the key, then id descending.
		byID := func(a, b domain.Task) int { return cmp.Compare(b.ID, a.ID) }
		due := func(tk domain.Task) time.Time {
			if tk.DueAt == nil {
				return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
			}
			return *tk.DueAt
		}
		orders := map[ports.TaskSort]func(a, b domain.Task) int{
			ports.SortCreatedDesc: byID,
			ports.SortCreated:     func(a, b domain.Task) int { return cmp.Compare(a.ID, b.ID) },
			ports.SortUpdatedDesc: func(a, b domain.Task) int { return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), byID(a, b)) },
			ports.SortUpdated:     func(a, b domain.Task) int { return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), byID(a, b)) },
			ports.SortDue:         func(a, b domain.Task) int { return cmp.Or(due(a).Compare(due(b)), byID(a, b)) },
			ports.SortPriorityDesc: func(a, b domain.Task) int {
				return cmp.Or(cmp.Compare(b.Priority.Rank(), a.Priority.Rank()), byID(a, b))
			},
		}
		even := "even"
		words, err := domain.ParseSearch("q", "description")
		wantNoErr(t, "search", err)
		for _, v := range []struct {
			name   string
			filter ports.TaskFilter
			match  func(domain.Task) bool
		}{
			{"all", ports.TaskFilter{}, func(domain.Task) bool { return true }},
			{"label", ports.TaskFilter{Label: &even}, func(tk domain.Task) bool { return slices.Contains(tk.Labels, even) }},
			{"label_and_q", ports.TaskFilter{Label: &even, Search: words},
				func(tk domain.Task) bool { return slices.Contains(tk.Labels, even) }},
		} {
			for _, sort := range ports.TaskSorts {
				var want []domain.TaskID
				sorted := slices.Clone(tasks)
				slices.SortFunc(sorted, orders[sort])
				for _, tk := range sorted {
					if v.match(tk) {
						want = append(want, tk.ID)
					}
				}
				// Every page size puts the cursor somewhere else in each
				// tie group.
				for limit := 1; limit <= len(want)+1; limit++ {
					name := fmt.Sprintf("%s sort=%s limit %d", v.name, sort, limit)
					var got []domain.TaskID
					filter := v.filter
					filter.Limit, filter.Sort, filter.After = limit, sort, nil
					for pages := 0; ; pages++ {
						if pages > len(want)+1 {
							t.Fatalf("%s: the cursor never ends", name)
						}
						page, err := f.s.Tasks.List(f.ctx, o.ID, filter)
						wantNoErr(t, name, err)
						got = append(got, ids(page.Tasks)...)
						if !page.HasMore {
							break
						}
						c := ports.CursorOf(sort, &page.Tasks[len(page.Tasks)-1])
						filter.After = &c
					}
					wantEqual(t, name+": ids", got, want)
				}
				// A cursor and an offset together skip that many tasks
				// after the cursor, ties included.
				if len(want) > 6 {
					c := ports.CursorOf(sort, &tasks[slices.IndexFunc(tasks, func(tk domain.Task) bool { return tk.ID == want[2] })])
					filter := v.filter
					filter.Limit, filter.Offset, filter.Sort, filter.After = 2, 2, sort, &c
					page, err := f.s.Tasks.List(f.ctx, o.ID, filter)
					wantNoErr(t, v.name+" offset after a cursor", err)
					wantEqual(t, fmt.Sprintf("%s sort=%s: offset after a cursor: ids", v.name, sort), ids(page.Tasks), want[5:7])
				}
				// Offset pages (page=N) follow the same order, to the last.
				for offset := 1; offset < len(want); offset++ {
					filter := v.filter
					filter.Limit, filter.Offset, filter.Sort = 2, offset, sort
					page, err := f.s.Tasks.List(f.ctx, o.ID, filter)
					wantNoErr(t, v.name+" offset", err)
					end := min(offset+2, len(want))
					wantEqual(t, fmt.Sprintf("%s sort=%s offset %d: ids", v.name, sort, offset), ids(page.Tasks), want[offset:end])
					wantEqual(t, fmt.Sprintf("%s sort=%s offset %d: has more", v.name, sort, offset), page.HasMore, offset+2 < len(want))
				}
			}
		}
	}},
	{"paging_by_cursor_through_every_sort_sees_each_task_once_while_tasks_are_created", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		prios := []domain.Priority{domain.PriorityLow, domain.PriorityMedium, domain.PriorityHigh, domain.PriorityUrgent}
		n := 0
		add := func() *domain.Task {
			n++
			var due *time.Time
			if n%3 != 0 {
				d := t0.Add(time.Duration(n%4) * time.Hour) // ties among due dates
				due = &d
			}
			tk := f.storedTask(t, o.ID, admin.ID, nil, prios[n%4], due)
			if n%2 == 0 {
				_, err := f.s.Tasks.Update(f.ctx, o.ID, tk.ID, func(tk *domain.Task) error {
					return tk.Transition(domain.StatusInProgress, t0.Add(time.Duration(n%5)*time.Minute))
				})
				wantNoErr(t, "update", err)
			}
			return tk
		}
		for range 12 {
			add()
		}
		for _, sort := range ports.TaskSorts {
			all, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 100, Sort: sort})
			wantNoErr(t, "all", err)
			existing := ids(all.Tasks)
			seen := map[domain.TaskID]int{}
			var after *ports.TaskCursor
			for pages := 0; ; pages++ {
				if pages > 50 {
					t.Fatalf("%s: the cursor never ends", sort)
				}
				page, err := f.s.Tasks.List(f.ctx, o.ID, ports.TaskFilter{Limit: 3, Sort: sort, After: after})
				wantNoErr(t, string(sort), err)
				for _, tk := range page.Tasks {
					seen[tk.ID]++
				}
				if !page.HasMore {
					break
				}
				c := ports.CursorOf(sort, &page.Tasks[len(page.Tasks)-1])
				after = &c
				add() // created meanwhile: may be seen or not, never twice
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("%s: task %d seen %d times", sort, id, k)
				}
			}
			for _, id := range existing {
				if seen[id] != 1 {
					t.Errorf("%s: task %d, there from the start, was skipped", sort, id)
				}
			}
		}
	}},
}
