package application

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Representer renders the resources that events carry exactly as the API
// serves them (the HTTP adapter's JSON), so that an event's data.task is
// the task a client would GET. It never renders a secret: a member
// without a password hash, an invite without a code.
type Representer interface {
	Task(*domain.Task) ([]byte, error)
	Member(*domain.User) ([]byte, error)
	Invite(*domain.Invite) ([]byte, error)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served,
// which the events its writes record name.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries ("" for none).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// recorder makes the events of the write use cases and appends them in
// their transactions. Appending takes the organization's event counter
// until commit (ports.EventStore.Append): every use case records its
// events after its other statements.
type recorder struct {
	rep   Representer
	clock ports.Clock
}

// change is one changed field: its name and its old and new values, as
// the API shows them.
type change struct {
	field    string
	old, new any
}

// record appends one event about subject (kind, id) to org, whose data is
// {"<kind>": resource, "changes": {...}} (changes only when given).
func (r recorder) record(ctx context.Context, s ports.Stores, org domain.OrgID, actor domain.EventActor,
	typ domain.EventType, kind string, id int64, resource []byte, changes []change) error {
	data, err := eventData(kind, resource, changes)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	e := &domain.Event{OrgID: org, Type: typ, OccurredAt: r.clock.Now(), Actor: actor, RequestID: RequestID(ctx),
		Subject: domain.EventSubject{Type: kind, ID: id}, Data: data}
	if err := s.Events.Append(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", typ, err)
	}
	return nil
}

// eventData writes the data object by hand so that its keys keep their
// order: the resource first, then the changes in the order given.
func eventData(kind string, resource []byte, changes []change) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteString(`{"`)
	b.WriteString(kind)
	b.WriteString(`":`)
	b.Write(resource)
	if changes != nil {
		b.WriteString(`,"changes":{`)
		for i, c := range changes {
			if i > 0 {
				b.WriteByte(',')
			}
			pair, err := json.Marshal([2]any{c.old, c.new})
			if err != nil {
				return nil, fmt.Errorf("changes.%s: %w", c.field, err)
			}
			b.WriteString(`"` + c.field + `":`)
			b.Write(pair)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (r recorder) task(ctx context.Context, s ports.Stores, actor domain.EventActor, typ domain.EventType,
	t *domain.Task, changes []change) error {
	body, err := r.rep.Task(t)
	if err != nil {
		return err
	}
	return r.record(ctx, s, t.OrgID, actor, typ, domain.SubjectTask, int64(t.ID), body, changes)
}

func (r recorder) member(ctx context.Context, s ports.Stores, actor domain.EventActor, typ domain.EventType,
	u *domain.User, changes []change) error {
	body, err := r.rep.Member(u)
	if err != nil {
		return err
	}
	return r.record(ctx, s, u.OrgID, actor, typ, domain.SubjectMember, int64(u.ID), body, changes)
}

func (r recorder) invite(ctx context.Context, s ports.Stores, actor domain.EventActor, typ domain.EventType,
	inv *domain.Invite) error {
	body, err := r.rep.Invite(inv)
	if err != nil {
		return err
	}
	return r.record(ctx, s, inv.OrgID, actor, typ, domain.SubjectInvite, inv.ID, body, nil)
}

// taskChanges names each field of a task that differs between before and
// after, with the values the API shows (times in UTC, ids as numbers,
// labels as a sorted array). The bookkeeping that every write moves on
// (updated_at, version) is not a change of its own.
func taskChanges(before, after *domain.Task) []change {
	out := []change{}
	add := func(field string, old, new any, same bool) {
		if !same {
			out = append(out, change{field, old, new})
		}
	}
	add("title", before.Title, after.Title, before.Title == after.Title)
	add("description", before.Description, after.Description, before.Description == after.Description)
	add("status", before.Status, after.Status, before.Status == after.Status)
	add("assignee_id", userIDValue(before.AssigneeID), userIDValue(after.AssigneeID),
		ptrEqual(before.AssigneeID, after.AssigneeID, func(a, b domain.UserID) bool { return a == b }))
	add("priority", before.Priority, after.Priority, before.Priority == after.Priority)
	add("due_at", timeValue(before.DueAt), timeValue(after.DueAt), ptrEqual(before.DueAt, after.DueAt, time.Time.Equal))
	add("labels", labelsValue(before.Labels), labelsValue(after.Labels), slices.Equal(before.Labels, after.Labels))
	add("completed_at", timeValue(before.CompletedAt), timeValue(after.CompletedAt),
		ptrEqual(before.CompletedAt, after.CompletedAt, time.Time.Equal))
	return out
}

func ptrEqual[T any](a, b *T, eq func(T, T) bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return eq(*a, *b)
}

func userIDValue(id *domain.UserID) any {
	if id == nil {
		return nil
	}
	return int64(*id)
}

func timeValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func labelsValue(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// cloneTask copies t deeply enough that changing the copy's fields,
// pointed-to values included, leaves t as it was.
func cloneTask(t *domain.Task) *domain.Task {
	c := *t
	c.Labels = slices.Clone(t.Labels)
	if t.AssigneeID != nil {
		a := *t.AssigneeID
		c.AssigneeID = &a
	}
	if t.DueAt != nil {
		d := *t.DueAt
		c.DueAt = &d
	}
	if t.CompletedAt != nil {
		d := *t.CompletedAt
		c.CompletedAt = &d
	}
	return &c
}

// Event page bounds.
const (
	DefaultEventLimit = 50
	MaxEventLimit     = 100
)

// EventQuery is a request for a page of events, validated in List.
type EventQuery struct {
	After int64
	// Types are patterns (domain.IsEventPattern); empty: every type.
	Types     []string
	SubjectID *int64
	// Limit 0 is DefaultEventLimit.
	Limit int
}

func (q EventQuery) filter() (ports.EventFilter, error) {
	f := ports.EventFilter{After: q.After, Types: q.Types, SubjectID: q.SubjectID, Limit: q.Limit}
	var fields []domain.FieldError
	if f.Limit == 0 {
		f.Limit = DefaultEventLimit
	}
	if f.Limit < 1 || f.Limit > MaxEventLimit {
		fields = append(fields, domain.FieldError{Field: "limit", Message: "must be between 1 and 100"})
	}
	if f.After < 0 {
		fields = append(fields, domain.FieldError{Field: "after", Message: "must be an event id (0 or more)"})
	}
	if f.SubjectID != nil && *f.SubjectID < 1 {
		fields = append(fields, domain.FieldError{Field: "subject_id", Message: "must be a positive integer"})
	}
	for _, p := range f.Types {
		if !domain.IsEventPattern(p) {
			fields = append(fields, domain.FieldError{Field: "type",
				Message: "must be an event type (task.created), a prefix (task.*) or *"})
			break
		}
	}
	if len(fields) > 0 {
		return f, domain.Invalid(fields...)
	}
	return f, nil
}

// Events reads the event log: the whole organization's for an ADMIN, one
// task's history for any member.
type Events struct {
	events ports.EventStore
	tasks  ports.TaskStore
}

// NewEvents builds the use case.
func NewEvents(stores ports.Stores) *Events {
	return &Events{events: stores.Events, tasks: stores.Tasks}
}

// List returns a page of the organization's events, oldest first; only
// an ADMIN may read the whole log.
func (e *Events) List(ctx context.Context, actor domain.Actor, q EventQuery) ([]domain.Event, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	f, err := q.filter()
	if err != nil {
		return nil, err
	}
	out, err := e.read(ctx, actor.OrgID, f)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// read numbers what is committed and still queued first
// (ports.EventStore.Number), so that a client reads its own writes: the
// replica that wrote them numbers them a moment after the commit, and the
// answer to the write may come first.
func (e *Events) read(ctx context.Context, org domain.OrgID, f ports.EventFilter) ([]domain.Event, error) {
	if _, err := e.events.Number(ctx, org); err != nil {
		return nil, err
	}
	return e.events.List(ctx, org, f)
}

// TaskHistory returns a page of one task's events, oldest first, for any
// member. A deleted task's history stays readable while any of its events
// is kept; a task of which the organization holds neither the task nor
// any event (never created here, another organization's, or deleted and
// purged) is domain.ErrTaskNotFound.
func (e *Events) TaskHistory(ctx context.Context, actor domain.Actor, id domain.TaskID, q EventQuery) ([]domain.Event, error) {
	q.SubjectID = nil
	f, err := q.filter()
	if err != nil {
		return nil, err
	}
	subject := int64(id)
	f.SubjectType, f.SubjectID = domain.SubjectTask, &subject
	out, err := e.read(ctx, actor.OrgID, f)
	if err != nil {
		return nil, fmt.Errorf("task history: %w", err)
	}
	if len(out) > 0 {
		return out, nil
	}
	// An empty page: past the end of a known task's history, or no such
	// task. The task itself, or any event of it, tells which.
	if _, err := e.tasks.Get(ctx, actor.OrgID, id); err == nil {
		return out, nil
	} else if !errors.Is(err, domain.ErrTaskNotFound) {
		return nil, fmt.Errorf("task history: %w", err)
	}
	first, err := e.events.List(ctx, actor.OrgID, ports.EventFilter{SubjectType: domain.SubjectTask, SubjectID: &subject, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("task history: %w", err)
	}
	if len(first) == 0 {
		return nil, domain.ErrTaskNotFound
	}
	return out, nil
}
