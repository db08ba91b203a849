package domain

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is a task's place in its life cycle.
type Status string

const (
	StatusCreated    Status = "CREATED"
	StatusInProgress Status = "IN_PROGRESS"
	StatusCompleted  Status = "COMPLETED"
)

// next is the whole state machine: CREATED -> IN_PROGRESS -> COMPLETED.
var next = map[Status][]Status{
	StatusCreated:    {StatusInProgress},
	StatusInProgress: {StatusCompleted},
	StatusCompleted:  {},
}

// ParseStatus accepts exactly one of the three statuses.
func ParseStatus(field, s string) (Status, error) {
	if _, ok := next[Status(s)]; ok {
		return Status(s), nil
	}
	return "", Invalid(FieldError{Field: field, Message: "must be one of CREATED, IN_PROGRESS, COMPLETED"})
}

// MaxDescriptionLen bounds task descriptions, in characters.
const MaxDescriptionLen = 10000

// Task is a unit of work owned by one organization.
type Task struct {
	ID          TaskID
	OrgID       OrgID
	Title       string
	Description string
	Status      Status
	AssigneeID  *UserID
	CreatedBy   UserID
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// NewTask validates a new task. Its id is set by the store.
func NewTask(org OrgID, by UserID, title, description string, assignee *UserID, now time.Time) (*Task, error) {
	t := &Task{OrgID: org, CreatedBy: by, Status: StatusCreated, AssigneeID: assignee,
		CreatedAt: now.UTC(), UpdatedAt: now.UTC(), Version: 1}
	if err := t.SetTitle(title); err != nil {
		return nil, err
	}
	if err := t.SetDescription(description); err != nil {
		return nil, err
	}
	return t, nil
}

// SetTitle trims and validates a title (1 to 200 characters).
func (t *Task) SetTitle(title string) error {
	v, err := trimmedLength("title", title, 1, MaxNameLen)
	if err != nil {
		return err
	}
	t.Title = v
	return nil
}

// SetDescription validates a description (up to 10,000 characters).
func (t *Task) SetDescription(d string) error {
	// Descriptions keep their white space: it may be formatting.
	// NUL is valid UTF-8 but no text column (Postgres) can store it.
	if !utf8.ValidString(d) || strings.IndexByte(d, 0) >= 0 {
		return Invalid(FieldError{Field: "description", Message: "must be valid UTF-8 without NUL characters"})
	}
	if utf8.RuneCountInString(d) > MaxDescriptionLen {
		return Invalid(FieldError{Field: "description", Message: "must be at most 10000 characters"})
	}
	t.Description = d
	return nil
}

// Transition moves the task along the state machine. Moving to the current
// status, skipping a step, going back or leaving COMPLETED is refused.
func (t *Task) Transition(to Status, now time.Time) error {
	if !slices.Contains(next[t.Status], to) {
		return &Error{Kind: KindConflict, Code: ErrInvalidTransition.Code,
			Message: "cannot move a task from " + string(t.Status) + " to " + string(to)}
	}
	t.Status = to
	t.UpdatedAt = now.UTC()
	return nil
}
