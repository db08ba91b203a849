package application

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Page size bounds for task lists.
const (
	DefaultLimit = 10
	MaxLimit     = 100
	// MaxPage keeps offsets far from overflow and from absurd scans; deeper
	// pages are what the cursor is for.
	MaxPage = 1_000_000
)

// Tasks is the task use case: every method acts inside the actor's
// organization, and writes are for ADMINs only.
type Tasks struct {
	store ports.TaskStore
	lists *OrgCache
	clock ports.Clock
}

// NewTasks builds the use case.
func NewTasks(store ports.TaskStore, lists *OrgCache, clock ports.Clock) *Tasks {
	return &Tasks{store: store, lists: lists, clock: clock}
}

// ListQuery is a validated-at-the-edge list request. Zero Limit means the
// default; zero Page means "not given".
type ListQuery struct {
	Status   *domain.Status
	Assignee *domain.UserID
	Limit    int
	Page     int
	Cursor   string
}

// TaskList is one page and the cursor of the next one ("" when last).
type TaskList struct {
	Tasks      []domain.Task
	NextCursor string
}

// List returns a page of the organization's tasks, newest first, through
// the list cache.
func (t *Tasks) List(ctx context.Context, actor domain.Actor, q ListQuery) (*TaskList, error) {
	f, err := q.filter()
	if err != nil {
		return nil, err
	}
	raw, err := t.lists.load(ctx, actor.OrgID, filterKey(f), func() ([]byte, error) {
		page, err := t.store.List(ctx, actor.OrgID, f)
		if err != nil {
			return nil, err
		}
		return encodeList(page)
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return decodeList(raw)
}

func (q ListQuery) filter() (ports.TaskFilter, error) {
	f := ports.TaskFilter{Status: q.Status, Assignee: q.Assignee, Limit: q.Limit}
	var fields []domain.FieldError
	if f.Limit == 0 {
		f.Limit = DefaultLimit
	}
	if f.Limit < 1 || f.Limit > MaxLimit {
		fields = append(fields, domain.FieldError{Field: "limit", Message: "must be between 1 and 100"})
	}
	if q.Page < 0 || q.Page > MaxPage {
		fields = append(fields, domain.FieldError{Field: "page", Message: "must be between 1 and 1000000"})
	}
	if q.Assignee != nil && *q.Assignee < 1 {
		fields = append(fields, domain.FieldError{Field: "assignee_id", Message: "must be a positive integer"})
	}
	if q.Cursor != "" {
		if q.Page != 0 {
			fields = append(fields, domain.FieldError{Field: "page", Message: "must not be given together with cursor"})
		}
		before, err := DecodeCursor(q.Cursor)
		if err != nil {
			fields = append(fields, domain.FieldError{Field: "cursor", Message: "is not a cursor this service issued"})
		}
		f.Before = &before
	} else if q.Page > 1 {
		f.Offset = (q.Page - 1) * f.Limit
	}
	if len(fields) > 0 {
		return f, domain.Invalid(fields...)
	}
	return f, nil
}

// filterKey identifies a filter inside one organization's cache space
// (the organization itself is added by the cache).
func filterKey(f ports.TaskFilter) string {
	b := make([]byte, 0, 48)
	b = append(b, "s="...)
	if f.Status != nil {
		b = append(b, *f.Status...)
	}
	b = append(b, "&a="...)
	if f.Assignee != nil {
		b = appendInt(b, int64(*f.Assignee))
	}
	b = append(b, "&l="...)
	b = appendInt(b, int64(f.Limit))
	b = append(b, "&o="...)
	b = appendInt(b, int64(f.Offset))
	b = append(b, "&b="...)
	if f.Before != nil {
		b = appendInt(b, int64(*f.Before))
	}
	return string(b)
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// Cursors are opaque to clients: the id of the last task of a page,
// base64url-encoded with a version prefix so the format can change.
const cursorPrefix = "v1:"

// EncodeCursor makes the cursor that continues after task id.
func EncodeCursor(id domain.TaskID) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt([]byte(cursorPrefix), int64(id), 10))
}

// DecodeCursor parses a cursor made by EncodeCursor.
func DecodeCursor(c string) (domain.TaskID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) <= len(cursorPrefix) || string(raw[:len(cursorPrefix)]) != cursorPrefix {
		return 0, fmt.Errorf("bad cursor")
	}
	id, err := strconv.ParseInt(string(raw[len(cursorPrefix):]), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("bad cursor")
	}
	return domain.TaskID(id), nil
}

// cachedList is the cache's serialized form of a page. It is private to
// the application: what the cache holds is opaque bytes to it.
type cachedList struct {
	Tasks   []cachedTask `json:"t"`
	HasMore bool         `json:"m"`
}

type cachedTask struct {
	ID          int64     `json:"i"`
	OrgID       int64     `json:"o"`
	Title       string    `json:"t"`
	Description string    `json:"d"`
	Status      string    `json:"s"`
	AssigneeID  *int64    `json:"a"`
	CreatedBy   int64     `json:"b"`
	CreatedAt   time.Time `json:"c"`
	UpdatedAt   time.Time `json:"u"`
	Version     int64     `json:"v"`
}

func encodeList(p ports.TaskPage) ([]byte, error) {
	c := cachedList{Tasks: make([]cachedTask, len(p.Tasks)), HasMore: p.HasMore}
	for i, t := range p.Tasks {
		c.Tasks[i] = cachedTask{ID: int64(t.ID), OrgID: int64(t.OrgID), Title: t.Title, Description: t.Description,
			Status: string(t.Status), CreatedBy: int64(t.CreatedBy), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
		if t.AssigneeID != nil {
			a := int64(*t.AssigneeID)
			c.Tasks[i].AssigneeID = &a
		}
	}
	return json.Marshal(c)
}

func decodeList(raw []byte) (*TaskList, error) {
	var c cachedList
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode cached list: %w", err)
	}
	out := &TaskList{Tasks: make([]domain.Task, len(c.Tasks))}
	for i, t := range c.Tasks {
		out.Tasks[i] = domain.Task{ID: domain.TaskID(t.ID), OrgID: domain.OrgID(t.OrgID), Title: t.Title, Description: t.Description,
			Status: domain.Status(t.Status), CreatedBy: domain.UserID(t.CreatedBy), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
		if t.AssigneeID != nil {
			a := domain.UserID(*t.AssigneeID)
			out.Tasks[i].AssigneeID = &a
		}
	}
	if c.HasMore && len(out.Tasks) > 0 {
		out.NextCursor = EncodeCursor(out.Tasks[len(out.Tasks)-1].ID)
	}
	return out, nil
}

// Get returns one task of the actor's organization.
func (t *Tasks) Get(ctx context.Context, actor domain.Actor, id domain.TaskID) (*domain.Task, error) {
	return t.store.Get(ctx, actor.OrgID, id)
}

// CreateTaskInput is what a client may set on a new task.
type CreateTaskInput struct {
	Title       string
	Description string
	Status      *domain.Status
	AssigneeID  *domain.UserID
}

// Create adds a task; only ADMINs may, and a new task is always CREATED.
func (t *Tasks) Create(ctx context.Context, actor domain.Actor, in CreateTaskInput) (*domain.Task, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	if in.Status != nil && *in.Status != domain.StatusCreated {
		return nil, domain.Invalid(domain.FieldError{Field: "status", Message: "a new task must be CREATED"})
	}
	task, err := domain.NewTask(actor.OrgID, actor.UserID, in.Title, in.Description, in.AssigneeID, t.clock.Now())
	if err != nil {
		return nil, err
	}
	if err := t.store.Create(ctx, task); err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	t.lists.invalidate(ctx, actor.OrgID)
	return task, nil
}

// UpdateTaskInput is a partial update: nil fields stay as they are.
// SetAssignee distinguishes "unassign" (true, nil) from "leave alone".
type UpdateTaskInput struct {
	Title       *string
	Description *string
	SetAssignee bool
	AssigneeID  *domain.UserID
	Status      *domain.Status
	// IfMatch, when not zero, is the version the client last saw; a
	// negative one matches no version (an If-Match naming no version).
	IfMatch int64
}

func (in UpdateTaskInput) empty() bool {
	return in.Title == nil && in.Description == nil && !in.SetAssignee && in.Status == nil
}

// Update changes the fields given, atomically: the status change follows
// the state machine against the stored status, not a stale copy.
func (t *Tasks) Update(ctx context.Context, actor domain.Actor, id domain.TaskID, in UpdateTaskInput) (*domain.Task, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	if in.empty() {
		// Nothing to write: answer with the task as it is, still honouring
		// If-Match so a client learns that its copy is stale.
		task, err := t.store.Get(ctx, actor.OrgID, id)
		if err == nil && in.IfMatch != 0 && task.Version != in.IfMatch {
			return nil, domain.ErrVersionMismatch
		}
		return task, err
	}
	now := t.clock.Now()
	task, err := t.store.Update(ctx, actor.OrgID, id, func(task *domain.Task) error {
		if in.IfMatch != 0 && task.Version != in.IfMatch {
			return domain.ErrVersionMismatch
		}
		if in.Title != nil {
			if err := task.SetTitle(*in.Title); err != nil {
				return err
			}
		}
		if in.Description != nil {
			if err := task.SetDescription(*in.Description); err != nil {
				return err
			}
		}
		if in.SetAssignee {
			task.AssigneeID = in.AssigneeID
		}
		if in.Status != nil {
			if err := task.Transition(*in.Status, now); err != nil {
				return err
			}
		}
		task.UpdatedAt = now.UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	t.lists.invalidate(ctx, actor.OrgID)
	return task, nil
}

// Delete removes a task; ifMatch != 0 makes it conditional on the
// version, as in UpdateTaskInput.
func (t *Tasks) Delete(ctx context.Context, actor domain.Actor, id domain.TaskID, ifMatch int64) error {
	if !actor.IsAdmin() {
		return domain.ErrForbidden
	}
	if ifMatch < 0 {
		// No version can match; the task must still exist to say so.
		if _, err := t.store.Get(ctx, actor.OrgID, id); err != nil {
			return err
		}
		return domain.ErrVersionMismatch
	}
	if err := t.store.Delete(ctx, actor.OrgID, id, ifMatch); err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	t.lists.invalidate(ctx, actor.OrgID)
	return nil
}
