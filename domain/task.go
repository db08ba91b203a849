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

// Priority says how urgent a task is.
type Priority string

const (
	PriorityLow    Priority = "LOW"
	PriorityMedium Priority = "MEDIUM"
	PriorityHigh   Priority = "HIGH"
	PriorityUrgent Priority = "URGENT"
)

// priorities lists the priorities from least to most urgent: a priority's
// rank is its index plus one, so that ordering by rank descending puts
// URGENT first.
var priorities = []Priority{PriorityLow, PriorityMedium, PriorityHigh, PriorityUrgent}

// ParsePriority accepts exactly one of the four priorities.
func ParsePriority(field, s string) (Priority, error) {
	if slices.Contains(priorities, Priority(s)) {
		return Priority(s), nil
	}
	return "", Invalid(FieldError{Field: field, Message: "must be one of LOW, MEDIUM, HIGH, URGENT"})
}

// Rank orders priorities: LOW is 1, URGENT 4; 0 for an unknown one.
func (p Priority) Rank() int { return slices.Index(priorities, p) + 1 }

// PriorityOfRank is the inverse of Rank; it returns "" for a rank out of
// range.
func PriorityOfRank(r int) Priority {
	if r < 1 || r > len(priorities) {
		return ""
	}
	return priorities[r-1]
}

// Label limits: a task carries at most MaxLabels distinct labels, each
// 1 to MaxLabelLen characters.
const (
	MaxLabels   = 20
	MaxLabelLen = 50
)

// Task is a unit of work owned by one organization.
type Task struct {
	ID          TaskID
	OrgID       OrgID
	Title       string
	Description string
	Status      Status
	AssigneeID  *UserID
	Priority    Priority
	DueAt       *time.Time
	// Labels is a set: lower-cased, sorted, without duplicates, never nil.
	Labels []string
	// CompletedAt is set by Transition when the task becomes COMPLETED.
	CompletedAt *time.Time
	CreatedBy   UserID
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// NewTask validates a new task. Its id is set by the store.
func NewTask(org OrgID, by UserID, title, description string, assignee *UserID, now time.Time) (*Task, error) {
	t := &Task{OrgID: org, CreatedBy: by, Status: StatusCreated, AssigneeID: assignee,
		Priority: PriorityMedium, Labels: []string{},
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

// SetPriority sets a priority, which must be one of the four.
func (t *Task) SetPriority(p Priority) error {
	if p.Rank() == 0 {
		return Invalid(FieldError{Field: "priority", Message: "must be one of LOW, MEDIUM, HIGH, URGENT"})
	}
	t.Priority = p
	return nil
}

// SetDueAt sets the due date, or clears it with nil. Years outside 1 to
// 9999 are refused: RFC 3339 cannot write them, and Postgres has no year 0.
func (t *Task) SetDueAt(due *time.Time) error {
	if due == nil {
		t.DueAt = nil
		return nil
	}
	u := due.UTC()
	if y := u.Year(); y < 1 || y > 9999 {
		return Invalid(FieldError{Field: "due_at", Message: "must be between years 0001 and 9999"})
	}
	t.DueAt = &u
	return nil
}

// SetLabels replaces the task's labels with the set the given strings
// name. Labels are compared case-insensitively, so each is trimmed and
// lower-cased first; the limits apply to what is stored: 1 to 50
// characters each, at most 20 once duplicates are gone.
func (t *Task) SetLabels(labels []string) error {
	set := make([]string, 0, len(labels))
	for _, l := range labels {
		v, err := trimmedLength("labels", strings.ToLower(l), 1, MaxLabelLen)
		if err != nil {
			return err
		}
		set = append(set, v)
	}
	slices.Sort(set)
	set = slices.Compact(set)
	if len(set) > MaxLabels {
		return Invalid(FieldError{Field: "labels", Message: "must hold at most 20 distinct labels"})
	}
	t.Labels = set
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
	if to == StatusCompleted {
		done := now.UTC()
		t.CompletedAt = &done
	}
	return nil
}
