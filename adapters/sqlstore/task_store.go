package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// TaskStore persists tasks. Every statement is scoped by organization: a
// task of another organization is domain.ErrTaskNotFound, never revealed.
type TaskStore struct {
	c conn
}

// Constraint names from the migrations, matched on errors.
const (
	tasksAssigneeFKey = "tasks_assignee_fkey"
	tasksOrgFKey      = "tasks_organization_id_fkey"
)

// taskColumns are the task's own columns, in taskRow.scanColumns' order.
// Its labels are rows of task_labels, read with them by taskSelect.
const taskColumns = `organization_id, id, title, description, status, assignee_id, priority, due_at,
	completed_at, created_by, created_at, updated_at, version`

// taskSelect is what a SELECT FROM tasks reads for taskRow.scan: the
// columns and, by a correlated subquery on task_labels' primary key, the
// task's labels as a JSON array (one statement per page, not one per
// task; the domain's sort is applied as the row is rebuilt).
func (c conn) taskSelect() string {
	return taskColumns + `, COALESCE((SELECT ` + c.db.d.JSONArrayAgg("l.label") + ` FROM task_labels l
	     WHERE l.organization_id = tasks.organization_id AND l.task_id = tasks.id), '[]')`
}

// errForeignAssignee is what a violated (organization_id, assignee_id)
// foreign key means to the client: the user is absent or belongs to
// another organization, which must not be told apart.
var errForeignAssignee = domain.Invalid(domain.FieldError{
	Field: "assignee_id", Message: "must be a member of your organization",
})

type taskRow struct {
	OrgID       int64         `db:"organization_id"`
	ID          int64         `db:"id"`
	Title       string        `db:"title"`
	Description string        `db:"description"`
	Status      string        `db:"status"`
	AssigneeID  sql.NullInt64 `db:"assignee_id"`
	Priority    int64         `db:"priority"` // domain.Priority.Rank
	DueAt       sql.NullTime  `db:"due_at"`
	CompletedAt sql.NullTime  `db:"completed_at"`
	Labels      string        `db:"labels"` // a JSON array of strings
	CreatedBy   int64         `db:"created_by"`
	CreatedAt   time.Time     `db:"created_at"`
	UpdatedAt   time.Time     `db:"updated_at"`
	Version     int64         `db:"version"`
}

// scan reads one row of taskSelect, in its order, into r. Every read
// of a task row scans by hand, as the bench's database ceiling does:
// sqlx's reflection (sqlx.scanAll) showed at 15% of the service's CPU in
// the uncached list profile, most of it lib/pq's decoding that stays. On
// SQLite, BenchmarkTaskStore_List: 174-195 µs and 283 allocs before,
// 165-173 µs and 275 allocs after.
func (r *taskRow) scan(s interface{ Scan(dest ...any) error }) error {
	return s.Scan(&r.OrgID, &r.ID, &r.Title, &r.Description, &r.Status, &r.AssigneeID, &r.Priority, &r.DueAt,
		&r.CompletedAt, &r.CreatedBy, &r.CreatedAt, &r.UpdatedAt, &r.Version, &r.Labels)
}

// scanColumns reads one row of taskColumns alone (a RETURNING clause,
// which cannot read task_labels on SQLite); r.Labels stays as it was.
func (r *taskRow) scanColumns(s interface{ Scan(dest ...any) error }) error {
	return s.Scan(&r.OrgID, &r.ID, &r.Title, &r.Description, &r.Status, &r.AssigneeID, &r.Priority, &r.DueAt,
		&r.CompletedAt, &r.CreatedBy, &r.CreatedAt, &r.UpdatedAt, &r.Version)
}

// queryTask runs query, which selects taskSelect, and scans its one row;
// no row is sql.ErrNoRows.
func (c conn) queryTask(ctx context.Context, q sqlx.ExtContext, query string, args ...any) (taskRow, error) {
	var r taskRow
	err := r.scan(q.QueryRowxContext(ctx, c.db.rebind(query), args...))
	return r, err
}

// taskFromRow rebuilds a task from its stored row, without re-running
// validation: stored rows are trusted.
func taskFromRow(r taskRow) (*domain.Task, error) {
	labels := []string{}
	if r.Labels != "[]" {
		if err := json.Unmarshal([]byte(r.Labels), &labels); err != nil {
			return nil, fmt.Errorf("task %d: labels: %w", r.ID, err)
		}
		slices.Sort(labels)
	}
	t := taskFromColumns(r)
	t.Labels = labels
	return t, nil
}

// taskFromColumns rebuilds a task but its labels from its row.
func taskFromColumns(r taskRow) *domain.Task {
	t := &domain.Task{
		ID:          domain.TaskID(r.ID),
		OrgID:       domain.OrgID(r.OrgID),
		Title:       r.Title,
		Description: r.Description,
		Status:      domain.Status(r.Status),
		Priority:    domain.PriorityOfRank(int(r.Priority)),
		CreatedBy:   domain.UserID(r.CreatedBy),
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),
		Version:     r.Version,
	}
	if r.AssigneeID.Valid {
		a := domain.UserID(r.AssigneeID.Int64)
		t.AssigneeID = &a
	}
	if r.DueAt.Valid {
		d := r.DueAt.Time.UTC()
		t.DueAt = &d
	}
	if r.CompletedAt.Valid {
		d := r.CompletedAt.Time.UTC()
		t.CompletedAt = &d
	}
	return t
}

// nullTime is t as the store writes times, or NULL.
func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: dbTime(*t), Valid: true}
}

// dbTimePtr is dbTime of *t, or nil.
func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	d := dbTime(*t)
	return &d
}

// insertLabels adds labels to the task (org, id), in one statement.
func (c conn) insertLabels(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.TaskID, labels []string) error {
	if len(labels) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO task_labels (organization_id, task_id, label) VALUES `)
	args := make([]any, 0, 3*len(labels))
	for i, l := range labels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, org, id, l)
	}
	if _, err := c.exec(ctx, q, b.String(), args...); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	return nil
}

func nullUserID(id *domain.UserID) sql.NullInt64 {
	if id == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*id), Valid: true}
}

// Create inserts t and sets its ID. The store owns versions: a new task is
// at version 1 whatever t said.
func (s *TaskStore) Create(ctx context.Context, t *domain.Task) error {
	t.CreatedAt = dbTime(t.CreatedAt)
	t.UpdatedAt = dbTime(t.UpdatedAt)
	t.DueAt = dbTimePtr(t.DueAt)
	t.CompletedAt = dbTimePtr(t.CompletedAt)
	if t.Labels == nil {
		t.Labels = []string{}
	}
	t.Version = 1
	// A task without labels is one statement; labels are more, which must
	// commit together with the task.
	a := writesOnce
	if len(t.Labels) > 0 {
		a = atomically
	}
	err := s.c.scoped(ctx, t.OrgID, a, func(q sqlx.ExtContext) error {
		err := s.c.get(ctx, q, &t.ID,
			`INSERT INTO tasks (organization_id, title, description, status, assignee_id, priority, due_at,
			                    completed_at, created_by, created_at, updated_at, version, search_words)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			t.OrgID, t.Title, t.Description, t.Status, nullUserID(t.AssigneeID), t.Priority.Rank(), nullTime(t.DueAt),
			nullTime(t.CompletedAt), t.CreatedBy, t.CreatedAt, t.UpdatedAt, t.Version,
			domain.SearchDocument(t.Title, t.Description))
		if err == nil {
			return s.c.insertLabels(ctx, q, t.OrgID, t.ID, t.Labels)
		}
		switch {
		case s.c.violates(err, ViolationForeignKey, tasksAssigneeFKey, false):
			return errForeignAssignee
		case s.c.violates(err, ViolationForeignKey, tasksOrgFKey, false):
			return domain.ErrOrgNotFound
		case s.c.violates(err, ViolationForeignKey, "", true):
			return s.c.unnamedForeignKey(ctx, q, t)
		}
		return err
	})
	return wrapInfra("task store: create", err)
}

// unnamedForeignKey tells which foreign key the insert of t broke when
// the database did not name it (SQLite), by looking for the organization.
// It runs on the error path only, after the failed statement, which
// SQLite has undone alone, leaving the caller's transaction usable.
func (c conn) unnamedForeignKey(ctx context.Context, q sqlx.ExtContext, t *domain.Task) error {
	if t.AssigneeID == nil {
		return domain.ErrOrgNotFound
	}
	var exists bool
	if err := c.get(ctx, q, &exists, `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = ?)`, t.OrgID); err != nil {
		return fmt.Errorf("find organization: %w", err)
	}
	if !exists {
		return domain.ErrOrgNotFound
	}
	return errForeignAssignee
}

// Get returns a task of org, or domain.ErrTaskNotFound.
func (s *TaskStore) Get(ctx context.Context, org domain.OrgID, id domain.TaskID) (*domain.Task, error) {
	var t *domain.Task
	err := s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) (err error) {
		t, err = s.c.getTask(ctx, q, org, id, false)
		return err
	})
	if err != nil {
		return nil, wrapInfra("task store: get", err)
	}
	return t, nil
}

func (c conn) getTask(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, id domain.TaskID, forUpdate bool) (*domain.Task, error) {
	query := `SELECT ` + c.taskSelect() + ` FROM tasks WHERE organization_id = ? AND id = ?`
	if forUpdate {
		query = c.db.lock(query, "UPDATE")
	}
	r, err := c.queryTask(ctx, q, query, org, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, domain.ErrTaskNotFound
	case err != nil:
		return nil, err
	}
	return taskFromRow(r)
}

// List returns one page of the organization's tasks, newest first. It
// reads one row past the page to learn whether more follow. Offset and
// the keyset cursor (After) may be combined; the cursor is what keeps
// deep pages cheap, since it seeks in the (organization_id, ..., id DESC)
// indexes instead of skipping rows (listQuery says how).
func (s *TaskStore) List(ctx context.Context, org domain.OrgID, f ports.TaskFilter) (ports.TaskPage, error) {
	query, args, err := s.c.listQuery(org, f)
	if err != nil {
		return ports.TaskPage{}, err
	}
	rows := make([]taskRow, 0, f.Limit+1)
	err = s.c.scoped(ctx, org, reads, func(q sqlx.ExtContext) error {
		rs, err := q.QueryContext(ctx, s.c.db.rebind(query), args...)
		if err != nil {
			return err
		}
		defer func() { _ = rs.Close() }()
		for rs.Next() {
			var r taskRow
			if err := r.scan(rs); err != nil {
				return err
			}
			rows = append(rows, r)
		}
		return rs.Err()
	})
	if err != nil {
		return ports.TaskPage{}, fmt.Errorf("task store: list: %w", err)
	}
	page := ports.TaskPage{Tasks: make([]domain.Task, 0, min(len(rows), f.Limit))}
	if len(rows) > f.Limit {
		page.HasMore = true
		rows = rows[:f.Limit]
	}
	for _, r := range rows {
		t, err := taskFromRow(r)
		if err != nil {
			return ports.TaskPage{}, fmt.Errorf("task store: list: %w", err)
		}
		page.Tasks = append(page.Tasks, *t)
	}
	return page, nil
}

// listQuery is the statement List runs for org and f, with ?
// placeholders, and its arguments.
//
// The first page reads the sort's index from the organization's first
// entry. A page after a cursor reads it from the cursor on: under the
// creation sorts (id order) one range, id < or > the cursor's. Under the
// others the tasks after the cursor are two ranges of the index: first
// those sharing the cursor's key with a lower id (key = ? AND id < ?,
// read in id order), then those whose key follows the cursor's (key > ?
// or <, read in the sort's order). One condition for both, key <= ? AND
// (key < ? OR id < ?), starts the index range at the cursor's key but
// reads and filters every task that shares the key and precedes the
// cursor: a quarter of the organization deep inside a priority, every
// task due at the same instant. Each range is read by a subquery of its
// own with its own LIMIT, the filters applying in both, and the page is
// the first of the at most 2*(offset+limit+1) tasks they name, sorted
// again: a page costs the same at any depth. (SQLite allows no ORDER BY
// or LIMIT on a member of a UNION, hence the derived tables.) A row
// comparison (key, id) < (?, ?) could serve the descending sorts only,
// the indexes of updated and due being key ASC, id DESC, and SQLite
// bounds its search by the key alone.
func (c conn) listQuery(org domain.OrgID, f ports.TaskFilter) (string, []any, error) {
	if f.Limit <= 0 || f.Offset < 0 {
		return "", nil, fmt.Errorf("task store: list: limit %d and offset %d out of range", f.Limit, f.Offset)
	}
	where, args := []string{"organization_id = ?"}, []any{org}
	if f.Status != nil {
		where, args = append(where, "status = ?"), append(args, *f.Status)
	}
	if f.Assignee != nil {
		where, args = append(where, "assignee_id = ?"), append(args, *f.Assignee)
	}
	if f.Unassigned {
		where = append(where, "assignee_id IS NULL")
	}
	if f.Priority != nil {
		where, args = append(where, "priority = ?"), append(args, f.Priority.Rank())
	}
	if f.Label != nil {
		// Joined on the organization as well as the task: the label index
		// is led by it, and a label row of another tenant never counts.
		where = append(where, `EXISTS (SELECT 1 FROM task_labels l WHERE l.organization_id = tasks.organization_id
			AND l.label = ? AND l.task_id = tasks.id)`)
		args = append(args, *f.Label)
	}
	// Tasks without a due date match neither bound. The bounds are put on
	// the due sort's key (dueKey, 'infinity' when there is no date), which
	// says the same of every row, so that under sort=due they are the ends
	// of the index range rather than filters over the organization.
	if f.DueBefore != nil {
		where, args = append(where, dueKey+" < ?"), append(args, dbTime(*f.DueBefore))
	}
	if f.DueAfter != nil {
		where, args = append(where, dueKey+" > ? AND "+dueKey+" < 'infinity'"), append(args, dbTime(*f.DueAfter))
	}
	order, err := sortOrder(f.Sort)
	if err != nil {
		return "", nil, err
	}
	if len(f.Search) > 0 {
		idOp, id := order.searchBound(f.After)
		cond, sargs := c.db.d.TextSearch(f.Search, idOp, id)
		where, args = append(where, cond), append(args, sargs...)
	}
	n := f.Limit + 1
	ranges := []keyRange{{by: order.by}}
	if f.After != nil {
		ranges = order.after(*f.After)
	}
	if len(ranges) == 1 && f.Offset == 0 {
		r := ranges[0]
		if r.cond != "" {
			where, args = append(where, r.cond), append(args, r.args...)
		}
		return `SELECT ` + c.taskSelect() + ` FROM tasks WHERE ` + strings.Join(where, " AND ") +
			` ORDER BY ` + r.by + ` LIMIT ?`, append(args, n), nil
	}
	filters := strings.Join(where, " AND ")
	var b strings.Builder
	b.WriteString(`SELECT ` + c.taskSelect() + ` FROM (`)
	var qargs []any
	outerOffset := f.Offset
	if len(ranges) == 1 {
		// A page past the first (page=N): the range skips the offset
		// itself and reads ids only, from the index alone where it covers
		// the sort. Read whole, each skipped task was fetched and its
		// labels subquery run: page 50,001 of a 1,000,000-task
		// organization took 1.6 s, and 53 ms this way.
		r := ranges[0]
		cond := ""
		if r.cond != "" {
			cond = ` AND ` + r.cond
		}
		fmt.Fprintf(&b, `SELECT id AS page_id, %s AS page_key FROM tasks WHERE %s%s ORDER BY %s LIMIT ? OFFSET ?`,
			order.col, filters, cond, r.by)
		qargs = append(append(append(qargs, args...), r.args...), n, f.Offset)
		outerOffset = 0
	} else {
		for i, r := range ranges {
			if i > 0 {
				b.WriteString(` UNION ALL `)
			}
			fmt.Fprintf(&b, `SELECT id AS page_id, page_key FROM (SELECT id, %s AS page_key FROM tasks WHERE %s AND %s
			ORDER BY %s LIMIT ?) r%d`, order.col, filters, r.cond, r.by, i)
			qargs = append(append(append(qargs, args...), r.args...), f.Offset+n)
		}
	}
	// The page's tasks are then read by primary key, and sorted by the
	// key and id the ranges carried out, not by the tasks' columns: so
	// neither database can read the organization in the sort's index
	// instead, testing each task against the page's ids to spare the
	// sort. (CROSS JOIN tells SQLite to read the ids first.)
	pageBy := "page_key ASC, page_id DESC"
	if order.desc {
		pageBy = "page_key DESC, page_id DESC"
	}
	b.WriteString(`) page CROSS JOIN tasks WHERE tasks.organization_id = ? AND tasks.id = page.page_id ORDER BY ` +
		pageBy + ` LIMIT ? OFFSET ?`)
	return b.String(), append(qargs, org, n, outerOffset), nil
}

// dueKey is the key of the due sort: the due date, or 'infinity' for a
// task without one, which sorts after every date on both databases (a
// timestamptz infinity on Postgres; on SQLite, text after every stored
// time, '0001-...' to '9999-...'). One key, rather than due_at NULLS
// LAST, makes a cursor anywhere in the list, in the undated tail too, one
// bound on one index: tasks_org_due_key_idx (migrations 00014 on
// Postgres, 00013 on SQLite) is on this very expression. It is a CASE
// rather than a COALESCE, which Postgres under row-level security would
// not use as an index condition (the migration says why).
const dueKey = "CASE WHEN due_at IS NULL THEN 'infinity' ELSE due_at END"

// listOrder is how one ports.TaskSort reads: its ORDER BY, always ending
// in id DESC so the order is total, and its key column (or expression).
// Each is served by an index led by organization_id (migrations 00011
// and 00014 on Postgres, 00010 and 00013 on SQLite), so a page never
// sorts.
type listOrder struct {
	sort ports.TaskSort
	col  string
	desc bool
	by   string
}

func sortOrder(s ports.TaskSort) (listOrder, error) {
	o := listOrder{sort: s}
	switch s {
	// Creation order is id order: ids are numbered by the database as
	// tasks are inserted, where created_at comes from the clock of
	// whichever instance served the request, and ties.
	case ports.SortCreatedDesc, "":
		o.col, o.desc = "id", true
	case ports.SortCreated:
		o.col = "id"
	case ports.SortUpdatedDesc:
		o.col, o.desc = "updated_at", true
	case ports.SortUpdated:
		o.col = "updated_at"
	case ports.SortDue:
		o.col = dueKey
	case ports.SortPriorityDesc:
		o.col, o.desc = "priority", true
	default:
		return o, fmt.Errorf("task store: list: unknown sort %q", s)
	}
	switch {
	case o.col == "id":
		o.by = "id DESC"
		if !o.desc {
			o.by = "id ASC"
		}
	case o.desc:
		o.by = o.col + " DESC, id DESC"
	default:
		o.by = o.col + " ASC, id DESC"
	}
	return o, nil
}

// keyRange is one range of a sort's index: a condition on the key and
// id (none: the whole organization) and the order it is read in.
type keyRange struct {
	cond string
	args []any
	by   string
}

// after is the range or ranges of o's index that hold the tasks following
// c, in o's order (listQuery says why two). A due cursor in the undated
// tail is one range, an equality on the key and a bound on id, read in
// id order: in that tail the key is one value, and with the key in the
// ORDER BY SQLite sorted every row of the rest of the tail.
func (o listOrder) after(c ports.TaskCursor) []keyRange {
	switch {
	case o.col == "id" && o.desc:
		return []keyRange{{"id < ?", []any{c.ID}, o.by}}
	case o.col == "id":
		return []keyRange{{"id > ?", []any{c.ID}, o.by}}
	}
	var key any
	switch {
	case o.sort == ports.SortPriorityDesc:
		key = c.Rank
	case c.Time == nil:
		// Only SortDue has tasks without a date; they come last, by id.
		return []keyRange{{dueKey + " = 'infinity' AND id < ?", []any{c.ID}, "id DESC"}}
	default:
		key = dbTime(*c.Time)
	}
	beyond := " > ?"
	if o.desc {
		beyond = " < ?"
	}
	return []keyRange{
		{o.col + " = ? AND id < ?", []any{key, c.ID}, "id DESC"},
		{o.col + beyond, []any{key}, o.by},
	}
}

// searchBound is the bound on task ids that the cursor c sets in o, for
// the search index to start from: under the creation sorts (id order)
// the cursor is an id bound; under the others, none.
func (o listOrder) searchBound(c *ports.TaskCursor) (string, int64) {
	if c == nil || o.col != "id" {
		return "", 0
	}
	if o.desc {
		return "<", int64(c.ID)
	}
	return ">", int64(c.ID)
}

// Update loads the task with a row lock, lets fn change it and writes it
// back with its version moved on, in one transaction (the caller's, inside
// InTx). The lock makes racing writers take turns, and each sees the
// previous one's result: of two identical status transitions the second
// finds the task already moved and fn refuses it. Identity, ownership and
// creation fields are never written, whatever fn does to them.
func (s *TaskStore) Update(ctx context.Context, org domain.OrgID, id domain.TaskID, fn func(*domain.Task) error) (*domain.Task, error) {
	var out *domain.Task
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		t, err := s.c.getTask(ctx, q, org, id, true)
		if err != nil {
			return wrapInfra("load", err)
		}
		before := t.Labels
		if err := fn(t); err != nil {
			return fnError{err}
		}
		if t.Labels == nil {
			t.Labels = []string{}
		}
		if !slices.Equal(before, t.Labels) {
			if _, err := s.c.exec(ctx, q, `DELETE FROM task_labels WHERE organization_id = ? AND task_id = ?`, org, id); err != nil {
				return fmt.Errorf("clear labels: %w", err)
			}
			if err := s.c.insertLabels(ctx, q, org, id, t.Labels); err != nil {
				return err
			}
		}
		var r taskRow
		err = r.scanColumns(q.QueryRowxContext(ctx, s.c.db.rebind(
			`UPDATE tasks
			 SET title = ?, description = ?, status = ?, assignee_id = ?, priority = ?, due_at = ?,
			     completed_at = ?, updated_at = ?, version = version + 1, search_words = ?
			 WHERE organization_id = ? AND id = ?
			 RETURNING `+taskColumns),
			t.Title, t.Description, t.Status, nullUserID(t.AssigneeID), t.Priority.Rank(), nullTime(t.DueAt),
			nullTime(t.CompletedAt), dbTime(t.UpdatedAt), domain.SearchDocument(t.Title, t.Description), org, id))
		switch {
		// Only the assignee's key can break: the organization is not written.
		case s.c.violates(err, ViolationForeignKey, tasksAssigneeFKey, true):
			return errForeignAssignee
		case err != nil:
			return fmt.Errorf("write: %w", err)
		}
		out = taskFromColumns(r)
		out.Labels = t.Labels
		return nil
	})
	var fe fnError
	if errors.As(err, &fe) {
		return nil, fe.err
	}
	if err != nil {
		return nil, wrapInfra("task store: update", err)
	}
	return out, nil
}

// fnError carries an error from Update's fn through the transaction
// helper, so that it reaches the caller exactly as fn returned it.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }
func (e fnError) Unwrap() error { return e.err }

// Delete removes a task of org. With expectVersion > 0 only that version
// is removed; a task at another version is domain.ErrVersionMismatch and
// stays.
func (s *TaskStore) Delete(ctx context.Context, org domain.OrgID, id domain.TaskID, expectVersion int64) (*domain.Task, error) {
	var out *domain.Task
	err := s.c.scoped(ctx, org, atomically, func(q sqlx.ExtContext) error {
		// Read under the row lock: what is returned is what is deleted.
		t, err := s.c.getTask(ctx, q, org, id, true)
		if err != nil {
			return err
		}
		if expectVersion > 0 && t.Version != expectVersion {
			return domain.ErrVersionMismatch
		}
		if _, err := s.c.exec(ctx, q, `DELETE FROM tasks WHERE organization_id = ? AND id = ?`, org, id); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, wrapInfra("task store: delete", err)
	}
	return out, nil
}

// tasksByID reads the tasks ids of org, in id order.
func (c conn) tasksByID(ctx context.Context, q sqlx.ExtContext, org domain.OrgID, ids []int64) ([]domain.Task, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 1+len(ids))
	args = append(args, org)
	for _, id := range ids {
		args = append(args, id)
	}
	query := `SELECT ` + c.taskSelect() + ` FROM tasks WHERE organization_id = ? AND id IN (?` +
		strings.Repeat(", ?", len(ids)-1) + `) ORDER BY id`
	rows, err := q.QueryxContext(ctx, c.db.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domain.Task
	for rows.Next() {
		var r taskRow
		if err := r.scan(rows); err != nil {
			return nil, err
		}
		t, err := taskFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// ListQuery is the statement List runs for org and f on a database of
// dialect d, with ? placeholders, and its arguments: what an EXPLAIN
// test puts to the database to prove each sort is served by an index at
// any depth.
func ListQuery(d Dialect, org domain.OrgID, f ports.TaskFilter) (query string, args []any, err error) {
	return conn{db: &DB{d: d}}.listQuery(org, f)
}
