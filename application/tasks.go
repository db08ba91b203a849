package application

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
// organization; writes are for ADMINs, except that a task's assignee may
// move it along the state machine.
type Tasks struct {
	tx    ports.Transactor
	store ports.TaskStore
	cache *OrgCache
	clock ports.Clock
	rec   recorder
}

// NewTasks builds the use case; rep renders the tasks its events carry.
func NewTasks(tx ports.Transactor, store ports.TaskStore, cache *OrgCache, clock ports.Clock, rep Representer) *Tasks {
	return &Tasks{tx: tx, store: store, cache: cache, clock: clock, rec: recorder{rep: rep, clock: clock}}
}

// ListQuery is a validated-at-the-edge list request. Zero Limit means the
// default; zero Page means "not given".
type ListQuery struct {
	Status   *domain.Status
	Assignee *domain.UserID
	// AssigneeMe asks for the caller's tasks (assignee_id=me), resolved
	// in List from the actor; Unassigned for tasks with no assignee.
	AssigneeMe bool
	Unassigned bool
	Priority   *domain.Priority
	// Label is compared case-insensitively: filter normalises it as
	// labels are stored.
	Label     *string
	DueBefore *time.Time
	DueAfter  *time.Time
	// Q is the full-text search, as the client sent it; filter parses it
	// (domain.ParseSearch).
	Q *string
	// Sort is one of ports.TaskSorts; "" is the default, newest first.
	Sort   ports.TaskSort
	Limit  int
	Page   int
	Cursor string
}

// TaskEncoder renders tasks in the form the caller serves them (the HTTP
// adapter: its JSON). Reads are cached in that form, so a cache hit is
// served as stored bytes, with no decoding and no second encoding.
type TaskEncoder interface {
	// Format names the form; it is part of every cache key.
	Format() string
	Tasks([]domain.Task) ([]byte, error)
	Task(*domain.Task) ([]byte, error)
}

// EncodedList is one page, encoded, the cursor of the next page ("" on
// the last) and the page's Tag. Body may be shared with the cache: callers
// must not modify it.
type EncodedList struct {
	Body       []byte
	NextCursor string
	// Tag changes whenever the page does (its tasks or whether it has a
	// next page), for conditional reads: see pageTag.
	Tag string
}

// List returns a page of the organization's tasks, newest first, encoded
// by enc, through the organization's cache.
func (t *Tasks) List(ctx context.Context, actor domain.Actor, q ListQuery, enc TaskEncoder) (*EncodedList, error) {
	if q.AssigneeMe {
		// Resolved before the cache key is made: "me" is a different
		// list for every caller.
		me := actor.UserID
		q.Assignee, q.AssigneeMe = &me, false
	}
	f, err := q.filter()
	if err != nil {
		return nil, err
	}
	fkey := filterKey(f)
	raw, err := t.cache.load(ctx, actor.OrgID, ports.SpaceTasks, "l2:"+enc.Format()+"|"+fkey, func() ([]byte, error) {
		page, err := t.store.List(ctx, actor.OrgID, f)
		if err != nil {
			return nil, err
		}
		body, err := enc.Tasks(page.Tasks)
		if err != nil {
			return nil, err
		}
		next := ""
		if page.HasMore && len(page.Tasks) > 0 {
			next = EncodeCursor(f.Sort, queryDigest(f), ports.CursorOf(f.Sort, &page.Tasks[len(page.Tasks)-1]))
		}
		return pack(pageTag(actor.OrgID, enc.Format(), fkey, next, body)+next, body), nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	head, body, err := unpack(raw)
	if err == nil && len(head) < pageTagLen {
		err = errors.New("malformed cache entry: no tag")
	}
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return &EncodedList{Body: body, NextCursor: head[pageTagLen:], Tag: head[:pageTagLen]}, nil
}

// pageTagLen is the length of a pageTag: 128 bits in hex.
const pageTagLen = 32

// pageTag fingerprints one page as served: the bytes of its body and its
// next cursor (the Link header), so it changes whenever either does. It is
// computed once, when the page is read from the store, and kept in the
// cache entry beside the body: a cached list is served without hashing.
// The organization, the encoding and the query are hashed in too, so a
// tag never matches another tenant's page (even an identical empty one)
// nor another query's; the tag reveals nothing but a hash of what the
// caller may read anyway. SHA-256 (truncated) rather than a faster
// non-cryptographic hash: a member who writes tasks cannot steer two
// different pages to one tag, and on this path (a store read) it costs
// little (BenchmarkPageTag).
func pageTag(org domain.OrgID, format, query, next string, body []byte) string {
	h := sha256.New()
	var b [64]byte
	head := appendInt(b[:0], int64(org))
	head = append(head, 0)
	h.Write(head)
	for _, s := range []string{format, query, next} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	sum := h.Sum(b[:0])
	return hex.EncodeToString(sum[:pageTagLen/2])
}

// pack prefixes body with a short header (here the next cursor or the
// version), so one cache value carries both: a length byte, the header,
// the body.
func pack(head string, body []byte) []byte {
	b := make([]byte, 0, 1+len(head)+len(body))
	b = append(b, byte(len(head)))
	b = append(b, head...)
	return append(b, body...)
}

func unpack(raw []byte) (head string, body []byte, err error) {
	if len(raw) == 0 || len(raw) < 1+int(raw[0]) {
		return "", nil, errors.New("malformed cache entry")
	}
	n := 1 + int(raw[0])
	return string(raw[1:n]), raw[n:], nil
}

func (q ListQuery) filter() (ports.TaskFilter, error) {
	f := ports.TaskFilter{Status: q.Status, Assignee: q.Assignee, Unassigned: q.Unassigned, Priority: q.Priority,
		Limit: q.Limit, Sort: q.Sort}
	var fields []domain.FieldError
	if f.Sort == "" {
		f.Sort = ports.SortCreatedDesc
	}
	if !slices.Contains(ports.TaskSorts, f.Sort) {
		fields = append(fields, domain.FieldError{Field: "sort", Message: "must be one of -created, created, -updated, updated, due, -priority"})
	}
	if q.Assignee != nil && (q.Unassigned || q.AssigneeMe) || q.Unassigned && q.AssigneeMe {
		fields = append(fields, domain.FieldError{Field: "assignee_id", Message: "must be one member id, me or none"})
	}
	if q.Priority != nil {
		if _, err := domain.ParsePriority("priority", string(*q.Priority)); err != nil {
			fields = append(fields, domain.FieldError{Field: "priority", Message: "must be one of LOW, MEDIUM, HIGH, URGENT"})
		}
	}
	if q.Label != nil {
		l, err := NormalizeLabel(*q.Label)
		if err != nil {
			fields = append(fields, domain.FieldError{Field: "label", Message: "must be 1 to 50 characters"})
		}
		f.Label = &l
	}
	if q.Q != nil {
		words, err := domain.ParseSearch("q", *q.Q)
		if err != nil {
			var de *domain.Error
			if errors.As(err, &de) {
				fields = append(fields, de.Fields...)
			} else {
				return f, err
			}
		}
		f.Search = words
	}
	for _, b := range []struct {
		field string
		in    *time.Time
		out   **time.Time
	}{{"due_before", q.DueBefore, &f.DueBefore}, {"due_after", q.DueAfter, &f.DueAfter}} {
		if b.in == nil {
			continue
		}
		u := b.in.UTC()
		if y := u.Year(); y < 1 || y > 9999 {
			fields = append(fields, domain.FieldError{Field: b.field, Message: "must be between years 0001 and 9999"})
		}
		*b.out = &u
	}
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
		sort, digest, after, err := DecodeCursor(q.Cursor)
		switch {
		case err != nil:
			fields = append(fields, domain.FieldError{Field: "cursor", Message: "is not a cursor this service issued"})
		case sort != f.Sort || digest != queryDigest(f):
			// A position in one query's order means nothing in another's:
			// followed, it would skip or repeat tasks.
			fields = append(fields, domain.FieldError{Field: "cursor",
				Message: "belongs to another query: send it with the sort and filters it was issued for"})
		}
		f.After = &after
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
	b = append(b, "&so="...)
	b = append(b, f.Sort...)
	if c := f.After; c != nil {
		b = append(b, "&c="...)
		if c.Time != nil {
			b = c.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		}
		b = append(b, ',')
		b = appendInt(b, int64(c.Rank))
		b = append(b, ',')
		b = appendInt(b, int64(c.ID))
	}
	if f.Unassigned {
		b = append(b, "&u=1"...)
	}
	if f.Priority != nil {
		b = append(b, "&p="...)
		b = append(b, *f.Priority...)
	}
	for _, d := range []struct {
		name string
		t    *time.Time
	}{{"&db=", f.DueBefore}, {"&da=", f.DueAfter}} {
		if d.t != nil {
			b = append(b, d.name...)
			b = d.t.UTC().AppendFormat(b, time.RFC3339Nano)
		}
	}
	if f.Label != nil {
		// Length-prefixed: a label is free text, and must not be able
		// to spell another filter's key.
		b = append(b, "&lb="...)
		b = appendInt(b, int64(len(*f.Label)))
		b = append(b, ':')
		b = append(b, *f.Label...)
	}
	if len(f.Search) > 0 {
		// Length-prefixed as the label is: free text.
		q := strings.Join(f.Search, " ")
		b = append(b, "&q="...)
		b = appendInt(b, int64(len(q)))
		b = append(b, ':')
		b = append(b, q...)
	}
	return string(b)
}

// NormalizeLabel is a label as tasks store it (trimmed, lower-cased), so
// that the label filter compares case-insensitively; it is refused as
// Task.SetLabels refuses it.
func NormalizeLabel(l string) (string, error) {
	var t domain.Task
	if err := t.SetLabels([]string{l}); err != nil {
		return "", err
	}
	return t.Labels[0], nil
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// Cursors are opaque to clients: the sort, a digest of the query they
// belong to, the sort key and id of the last task of a page,
// base64url-encoded with a version prefix so the format can change (v1
// cursors held an id alone, for the one order there was).
const cursorPrefix = "v2:"

// queryDigest names the query a cursor belongs to: its sort and every
// filter, but not its page size or position. 64 bits of SHA-256: it tells
// queries apart, it guards no secret (the cursor is the caller's own).
func queryDigest(f ports.TaskFilter) string {
	f.Limit, f.Offset, f.After = 0, 0, nil
	sum := sha256.Sum256([]byte(filterKey(f)))
	return hex.EncodeToString(sum[:8])
}

// EncodeCursor makes the cursor that continues after c in the query of
// the given sort and digest.
func EncodeCursor(sort ports.TaskSort, digest string, c ports.TaskCursor) string {
	b := append([]byte(cursorPrefix), sort...)
	b = append(b, '|')
	b = append(b, digest...)
	b = append(b, '|')
	if c.Time != nil {
		b = c.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	b = append(b, '|')
	b = appendInt(b, int64(c.Rank))
	b = append(b, '|')
	b = appendInt(b, int64(c.ID))
	return base64.RawURLEncoding.EncodeToString(b)
}

// CursorAfterID is the cursor that continues q, in a creation order,
// after task id: what a client that knows an id can ask for (the
// benchmark, for pages at a chosen depth).
func CursorAfterID(q ListQuery, id domain.TaskID) (string, error) {
	q.Cursor, q.Page = "", 0
	f, err := q.filter()
	if err != nil {
		return "", err
	}
	if f.Sort != ports.SortCreatedDesc && f.Sort != ports.SortCreated {
		return "", fmt.Errorf("cursor after an id: sort %s is not by id", f.Sort)
	}
	return EncodeCursor(f.Sort, queryDigest(f), ports.TaskCursor{ID: id}), nil
}

// CursorAfter is the cursor that continues q, in q's sort, after a task
// whose sort key and id are c (ports.CursorOf): what a client that knows
// where a page should start can ask for (the benchmark, for pages at a
// chosen depth of sort=due).
func CursorAfter(q ListQuery, c ports.TaskCursor) (string, error) {
	q.Cursor, q.Page = "", 0
	f, err := q.filter()
	if err != nil {
		return "", err
	}
	return EncodeCursor(f.Sort, queryDigest(f), c), nil
}

// DecodeCursor parses a cursor made by EncodeCursor.
func DecodeCursor(s string) (ports.TaskSort, string, ports.TaskCursor, error) {
	bad := func() (ports.TaskSort, string, ports.TaskCursor, error) {
		return "", "", ports.TaskCursor{}, errors.New("bad cursor")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) {
		return bad()
	}
	parts := strings.Split(string(raw[len(cursorPrefix):]), "|")
	if len(parts) != 5 {
		return bad()
	}
	sort, digest := ports.TaskSort(parts[0]), parts[1]
	if !slices.Contains(ports.TaskSorts, sort) || len(digest) != 16 {
		return bad()
	}
	var c ports.TaskCursor
	if parts[2] != "" {
		at, err := time.Parse(time.RFC3339Nano, parts[2])
		if err != nil {
			return bad()
		}
		at = at.UTC()
		c.Time = &at
	}
	rank, err := strconv.Atoi(parts[3])
	if err != nil || rank < 0 || rank > 4 {
		return bad()
	}
	id, err := strconv.ParseInt(parts[4], 10, 64)
	if err != nil || id < 1 {
		return bad()
	}
	c.Rank, c.ID = rank, domain.TaskID(id)
	// Each sort has its key: the id alone, a time (none only under due),
	// or a rank.
	switch sort {
	case ports.SortCreatedDesc, ports.SortCreated:
		if c.Time != nil || rank != 0 {
			return bad()
		}
	case ports.SortPriorityDesc:
		if c.Time != nil || rank == 0 {
			return bad()
		}
	case ports.SortDue:
		if rank != 0 {
			return bad()
		}
	default:
		if c.Time == nil || rank != 0 {
			return bad()
		}
	}
	return sort, digest, c, nil
}

// EncodedTask is one task, encoded, with its version (for ETag). Body may
// be shared with the cache: callers must not modify it.
type EncodedTask struct {
	Body    []byte
	Version int64
}

// Get returns one task of the actor's organization, encoded by enc,
// through the organization's cache.
func (t *Tasks) Get(ctx context.Context, actor domain.Actor, id domain.TaskID, enc TaskEncoder) (*EncodedTask, error) {
	key := "t:" + enc.Format() + "|" + strconv.FormatInt(int64(id), 10)
	raw, err := t.cache.load(ctx, actor.OrgID, ports.SpaceTasks, key, func() ([]byte, error) {
		task, err := t.store.Get(ctx, actor.OrgID, id)
		if err != nil {
			return nil, err
		}
		body, err := enc.Task(task)
		if err != nil {
			return nil, err
		}
		return pack(strconv.FormatInt(task.Version, 10), body), nil
	})
	if err != nil {
		return nil, err
	}
	version, body, err := unpack(raw)
	if err != nil {
		return nil, fmt.Errorf("get task: %w", err)
	}
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("get task: malformed cache entry: %w", err)
	}
	return &EncodedTask{Body: body, Version: v}, nil
}

// CreateTaskInput is what a client may set on a new task.
type CreateTaskInput struct {
	Title       string
	Description string
	Status      *domain.Status
	AssigneeID  *domain.UserID
	Priority    *domain.Priority // nil: MEDIUM
	DueAt       *time.Time
	Labels      []string
	// Receipt, when the request has an Idempotency-Key, stores its answer
	// with the task.
	Receipt *Receipt[*domain.Task]
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
	if err := in.details().apply(task); err != nil {
		return nil, err
	}
	// The task, its event and its Idempotency-Key's answer commit
	// together.
	err = t.tx.InTx(ctx, func(s ports.Stores) error {
		if err := s.Tasks.Create(ctx, task); err != nil {
			return err
		}
		if err := in.Receipt.complete(ctx, s, task); err != nil {
			return err
		}
		return t.rec.task(ctx, s, domain.ActorOf(actor), domain.EventTaskCreated, task, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("create task: %w", err)
	}
	t.cache.invalidate(ctx, actor.OrgID, ports.SpaceTasks)
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
	Priority    *domain.Priority
	// SetDueAt distinguishes "clear the due date" (true, nil) from "leave
	// alone", as SetAssignee does.
	SetDueAt bool
	DueAt    *time.Time
	// Labels, when not nil, replaces the task's labels (an empty set
	// removes them all).
	Labels *[]string
	// IfMatch, when not zero, is the version the client last saw; a
	// negative one matches no version (an If-Match naming no version).
	IfMatch int64
}

func (in UpdateTaskInput) empty() bool {
	return in.Title == nil && in.Description == nil && !in.SetAssignee && in.Status == nil &&
		in.Priority == nil && !in.SetDueAt && in.Labels == nil
}

// taskDetails are the optional fields of a task that create and update
// set alike; nil ones are left as they are.
type taskDetails struct {
	priority *domain.Priority
	setDueAt bool
	dueAt    *time.Time
	labels   *[]string
}

func (in CreateTaskInput) details() taskDetails {
	d := taskDetails{priority: in.Priority, setDueAt: in.DueAt != nil, dueAt: in.DueAt}
	if in.Labels != nil {
		d.labels = &in.Labels
	}
	return d
}

func (in UpdateTaskInput) details() taskDetails {
	return taskDetails{priority: in.Priority, setDueAt: in.SetDueAt, dueAt: in.DueAt, labels: in.Labels}
}

// apply validates the details into task.
func (d taskDetails) apply(task *domain.Task) error {
	if d.priority != nil {
		if err := task.SetPriority(*d.priority); err != nil {
			return err
		}
	}
	if d.setDueAt {
		if err := task.SetDueAt(d.dueAt); err != nil {
			return err
		}
	}
	if d.labels != nil {
		return task.SetLabels(*d.labels)
	}
	return nil
}

// statusOnly reports whether the update asks for a status change and
// nothing else. A field that is present counts as a change even when it
// holds the stored value: what a USER may send does not depend on what the
// task holds.
func (in UpdateTaskInput) statusOnly() bool {
	// Said through empty, so that a field added to the input is a change
	// here too without anyone having to remember this method.
	rest := in
	rest.Status, rest.IfMatch = nil, 0
	return in.Status != nil && rest.empty()
}

// mayUpdate decides whether actor may apply in to task, the task as read
// under the update's lock: an ADMIN may change anything; the task's
// assignee may move it along the state machine and change nothing else.
func mayUpdate(actor domain.Actor, task *domain.Task, in UpdateTaskInput) error {
	if actor.IsAdmin() {
		return nil
	}
	if in.statusOnly() && task.AssigneeID != nil && *task.AssigneeID == actor.UserID {
		return nil
	}
	return domain.ErrNotAssignee
}

// Update changes the fields given, atomically: the status change follows
// the state machine against the stored status, not a stale copy, and the
// right to make it is decided on the task as stored then. The actor's
// role is the one the store held when the request was authenticated. A
// reassignment, or a removal (which unassigns the member's tasks), writes
// the task's row and so waits for this lock or is seen under it: a former
// assignee cannot slip a move in between the check and the write.
func (t *Tasks) Update(ctx context.Context, actor domain.Actor, id domain.TaskID, in UpdateTaskInput) (*domain.Task, error) {
	if !actor.IsAdmin() && !in.statusOnly() {
		// Nothing a USER may send: still look the task up, so another
		// organization's task is 404, not 403 (its existence stays hidden).
		if _, err := t.store.Get(ctx, actor.OrgID, id); err != nil {
			return nil, err
		}
		return nil, domain.ErrNotAssignee
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
	var task, before *domain.Task
	err := t.tx.InTx(ctx, func(s ports.Stores) error {
		var err error
		task, err = s.Tasks.Update(ctx, actor.OrgID, id, func(task *domain.Task) error {
			before = cloneTask(task)
			return applyUpdate(actor, task, in, now)
		})
		if err != nil {
			return err
		}
		// A status change alone is a move along the state machine; any
		// other update, status included or not, is one task.updated.
		typ := domain.EventTaskUpdated
		if in.statusOnly() {
			typ = domain.EventTaskStatusChanged
		}
		return t.rec.task(ctx, s, domain.ActorOf(actor), typ, task, taskChanges(before, task))
	})
	if err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	t.cache.invalidate(ctx, actor.OrgID, ports.SpaceTasks)
	return task, nil
}

// applyUpdate checks that actor may apply in to task, as stored now, and
// applies it.
func applyUpdate(actor domain.Actor, task *domain.Task, in UpdateTaskInput, now time.Time) error {
	if err := mayUpdate(actor, task, in); err != nil {
		return err
	}
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
	if err := in.details().apply(task); err != nil {
		return err
	}
	if in.Status != nil {
		if err := task.Transition(*in.Status, now); err != nil {
			return err
		}
	}
	task.UpdatedAt = now.UTC()
	return nil
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
	err := t.tx.InTx(ctx, func(s ports.Stores) error {
		task, err := s.Tasks.Delete(ctx, actor.OrgID, id, ifMatch)
		if err != nil {
			return err
		}
		return t.rec.task(ctx, s, domain.ActorOf(actor), domain.EventTaskDeleted, task, nil)
	})
	if err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	t.cache.invalidate(ctx, actor.OrgID, ports.SpaceTasks)
	return nil
}
