package application

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// lockedStore is a hand-written TaskStore for Update: tasks by
// organization and id, and Update hands fn the task as stored, as the real
// stores do under their row lock. stale, when set, is what Get answers
// instead: a copy read outside any lock that has since moved on.
type lockedStore struct {
	ports.TaskStore
	tasks map[domain.OrgID]map[domain.TaskID]domain.Task
	stale *domain.Task
}

func (s *lockedStore) Get(_ context.Context, org domain.OrgID, id domain.TaskID) (*domain.Task, error) {
	t, ok := s.tasks[org][id]
	if !ok {
		return nil, domain.ErrTaskNotFound
	}
	if s.stale != nil {
		t = *s.stale
	}
	return &t, nil
}

func (s *lockedStore) Update(_ context.Context, org domain.OrgID, id domain.TaskID, fn func(*domain.Task) error) (*domain.Task, error) {
	t, ok := s.tasks[org][id]
	if !ok {
		return nil, domain.ErrTaskNotFound
	}
	if err := fn(&t); err != nil {
		return nil, err
	}
	t.Version++
	s.tasks[org][id] = t
	return &t, nil
}

const (
	orgA, orgB          domain.OrgID  = 1, 2
	admin, bob, carol   domain.UserID = 10, 11, 12
	bobsTask, carolTask domain.TaskID = 100, 101
	unassignedTask      domain.TaskID = 102
	orgBTask            domain.TaskID = 200
)

// assignTasks holds, in organization A, one task for bob, one for carol
// and one for nobody, and in organization B one task for a member whose id
// is bob's: the same number must not open another tenant's task.
func assignTasks() *lockedStore {
	mk := func(org domain.OrgID, id domain.TaskID, assignee *domain.UserID) domain.Task {
		at := fixedClock{}.Now()
		return domain.Task{ID: id, OrgID: org, Title: "work", Status: domain.StatusCreated,
			AssigneeID: assignee, CreatedBy: admin, CreatedAt: at, UpdatedAt: at, Version: 1}
	}
	b, c, sameIDInB := bob, carol, bob
	return &lockedStore{tasks: map[domain.OrgID]map[domain.TaskID]domain.Task{
		orgA: {bobsTask: mk(orgA, bobsTask, &b), carolTask: mk(orgA, carolTask, &c), unassignedTask: mk(orgA, unassignedTask, nil)},
		orgB: {orgBTask: mk(orgB, orgBTask, &sameIDInB)},
	}}
}

func statusTo(s domain.Status) *domain.Status { return &s }

func text(s string) *string { return &s }

func TestTasks_Update_AssigneesWorkTheirTasks(t *testing.T) {
	asBob := domain.Actor{OrgID: orgA, UserID: bob, Role: domain.RoleUser}
	asAdmin := domain.Actor{OrgID: orgA, UserID: admin, Role: domain.RoleAdmin}
	ctx := context.Background()
	setup := func() (*Tasks, *lockedStore) {
		store := assignTasks()
		return NewTasks(storesTx{ports.Stores{Tasks: store, Events: &memEvents{}}}, store,
			NewOrgCache(newFakeCache(), quietLog()), fixedClock{}, jsonRep{}), store
	}
	unchanged := func(t *testing.T, store *lockedStore, org domain.OrgID, id domain.TaskID) {
		t.Helper()
		if got := store.tasks[org][id]; got.Version != 1 || got.Status != domain.StatusCreated || got.Title != "work" {
			t.Errorf("after a refused update the task is %+v, want it untouched", got)
		}
	}

	t.Run("the_assignee_moves_their_task_along_the_state_machine", func(t *testing.T) {
		tasks, _ := setup()
		// PUT and a PATCH of status alone reach the use case alike.
		for i, to := range []domain.Status{domain.StatusInProgress, domain.StatusCompleted} {
			got, err := tasks.Update(ctx, asBob, bobsTask, UpdateTaskInput{Status: statusTo(to), IfMatch: int64(i + 1)})
			if err != nil {
				t.Fatalf("move to %s: %v", to, err)
			}
			if got.Status != to || got.Version != int64(i+2) {
				t.Errorf("after the move to %s the task is %s v%d", to, got.Status, got.Version)
			}
		}
	})
	t.Run("the_assignee_still_follows_the_state_machine_and_if_match", func(t *testing.T) {
		tasks, store := setup()
		_, err := tasks.Update(ctx, asBob, bobsTask, UpdateTaskInput{Status: statusTo(domain.StatusCompleted)})
		if !errors.Is(err, domain.ErrInvalidTransition) {
			t.Errorf("skipping a step: %v, want %v", err, domain.ErrInvalidTransition)
		}
		_, err = tasks.Update(ctx, asBob, bobsTask, UpdateTaskInput{Status: statusTo(domain.StatusInProgress), IfMatch: 7})
		if !errors.Is(err, domain.ErrVersionMismatch) {
			t.Errorf("stale If-Match: %v, want %v", err, domain.ErrVersionMismatch)
		}
		unchanged(t, store, orgA, bobsTask)
	})
	t.Run("any_other_field_is_forbidden_even_with_the_stored_value", func(t *testing.T) {
		desc, none := "", (*domain.UserID)(nil)
		me, urgent := bob, domain.PriorityUrgent
		for name, in := range map[string]UpdateTaskInput{
			"title_alone":                    {Title: text("mine now")},
			"title_with_the_stored_value":    {Title: text("work")},
			"title_with_a_status":            {Title: text("work"), Status: statusTo(domain.StatusInProgress)},
			"description_with_a_status":      {Description: &desc, Status: statusTo(domain.StatusInProgress)},
			"unassigning_with_a_status":      {SetAssignee: true, AssigneeID: none, Status: statusTo(domain.StatusInProgress)},
			"assignee_with_the_stored_value": {SetAssignee: true, AssigneeID: &me},
			"nothing_at_all":                 {},
			"priority_with_a_status":         {Priority: &urgent, Status: statusTo(domain.StatusInProgress)},
			"due_date_cleared_with_a_status": {SetDueAt: true, Status: statusTo(domain.StatusInProgress)},
			"labels_with_a_status":           {Labels: &[]string{}, Status: statusTo(domain.StatusInProgress)},
		} {
			t.Run(name, func(t *testing.T) {
				tasks, store := setup()
				if _, err := tasks.Update(ctx, asBob, bobsTask, in); !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("err = %v, want %v", err, domain.ErrForbidden)
				}
				unchanged(t, store, orgA, bobsTask)
			})
		}
	})
	t.Run("a_task_not_assigned_to_the_user_is_forbidden", func(t *testing.T) {
		for name, id := range map[string]domain.TaskID{"someone_elses": carolTask, "unassigned": unassignedTask} {
			t.Run(name, func(t *testing.T) {
				tasks, store := setup()
				_, err := tasks.Update(ctx, asBob, id, UpdateTaskInput{Status: statusTo(domain.StatusInProgress)})
				if !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("err = %v, want %v", err, domain.ErrForbidden)
				}
				unchanged(t, store, orgA, id)
			})
		}
	})
	t.Run("another_organizations_task_is_not_found_never_forbidden", func(t *testing.T) {
		for name, in := range map[string]UpdateTaskInput{
			"status_alone": {Status: statusTo(domain.StatusInProgress)},
			"a_title":      {Title: text("x")},
			"nothing":      {},
		} {
			t.Run(name, func(t *testing.T) {
				tasks, store := setup()
				if _, err := tasks.Update(ctx, asBob, orgBTask, in); !errors.Is(err, domain.ErrTaskNotFound) {
					t.Errorf("err = %v, want %v", err, domain.ErrTaskNotFound)
				}
				unchanged(t, store, orgB, orgBTask)
			})
		}
	})
	t.Run("the_decision_is_made_on_the_task_read_under_the_lock", func(t *testing.T) {
		// A copy read before the lock still names bob; the row as locked
		// was reassigned to carol meanwhile. Bob must be refused.
		tasks, store := setup()
		stale := store.tasks[orgA][bobsTask]
		store.stale = &stale
		now := carol
		reassigned := store.tasks[orgA][bobsTask]
		reassigned.AssigneeID = &now
		store.tasks[orgA][bobsTask] = reassigned
		_, err := tasks.Update(ctx, asBob, bobsTask, UpdateTaskInput{Status: statusTo(domain.StatusInProgress)})
		if !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("err = %v, want %v", err, domain.ErrForbidden)
		}
		unchanged(t, store, orgA, bobsTask)
	})
	t.Run("an_admin_keeps_every_right", func(t *testing.T) {
		tasks, _ := setup()
		c := carol
		for _, id := range []domain.TaskID{bobsTask, carolTask, unassignedTask} {
			got, err := tasks.Update(ctx, asAdmin, id, UpdateTaskInput{Title: text("renamed"), SetAssignee: true,
				AssigneeID: &c, Status: statusTo(domain.StatusInProgress)})
			if err != nil {
				t.Fatalf("task %d: %v", id, err)
			}
			if got.Title != "renamed" || got.AssigneeID == nil || *got.AssigneeID != carol || got.Status != domain.StatusInProgress {
				t.Errorf("task %d after the admin's update: %+v", id, got)
			}
		}
		if _, err := tasks.Update(ctx, asAdmin, orgBTask, UpdateTaskInput{Title: text("x")}); !errors.Is(err, domain.ErrTaskNotFound) {
			t.Errorf("an admin on another organization's task: %v, want %v", err, domain.ErrTaskNotFound)
		}
	})
}

// TestCursorAfter: a cursor made for a query and a position continues
// that query at that position, and is refused with another sort.
func TestCursorAfter(t *testing.T) {
	t.Parallel()
	due := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, c := range []ports.TaskCursor{{Time: &due, ID: 42}, {ID: 42}} {
		q := ListQuery{Sort: ports.SortDue, Limit: 10}
		cur, err := CursorAfter(q, c)
		if err != nil {
			t.Fatal(err)
		}
		q.Cursor = cur
		f, err := q.filter()
		if err != nil {
			t.Fatalf("cursor %+v: %v", c, err)
		}
		if f.After == nil || f.After.ID != c.ID || (c.Time == nil) != (f.After.Time == nil) ||
			c.Time != nil && !f.After.Time.Equal(*c.Time) {
			t.Errorf("cursor %+v read back as %+v", c, f.After)
		}
		q.Sort = ports.SortCreatedDesc
		if _, err := q.filter(); err == nil {
			t.Errorf("cursor %+v of sort=due accepted by another sort", c)
		}
	}
}
