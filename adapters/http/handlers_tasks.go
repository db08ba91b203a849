package http

import (
	"bytes"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// pathID parses the :id path parameter: a positive 64-bit integer.
func pathID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, domain.Invalid(domain.FieldError{Field: "id", Message: "must be a positive integer"})
	}
	return id, nil
}

// listQueryNames are the query parameters GET /tasks understands; any
// other is refused so a typo ("limt") does not silently do nothing.
// listQueryParams gives each one's index.
var (
	listQueryNames = []string{"status", "assignee_id", "priority", "label", "due_before", "due_after", "q", "sort",
		"limit", "page", "cursor"}
	listQueryParams = func() map[string]uint {
		m := make(map[string]uint, len(listQueryNames))
		for i, name := range listQueryNames {
			m[name] = uint(i)
		}
		return m
	}()
)

// parseListQuery makes no string of a parameter's name, nor of a value it
// does not keep: a cached list is read with ?limit=10, and its parameters
// were two allocations of each of its requests.
func parseListQuery(c *fiber.Ctx) (application.ListQuery, error) {
	var q application.ListQuery
	var fields []domain.FieldError
	bad := func(field, msg string) { fields = append(fields, domain.FieldError{Field: field, Message: msg}) }
	var seen uint // bit i: listQueryNames[i] was given
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		i, ok := listQueryParams[string(k)]
		if !ok {
			bad(string(k), "is not a query parameter of this endpoint")
			return
		}
		key := listQueryNames[i]
		if seen&(1<<i) != 0 {
			bad(key, "must be given at most once")
			return
		}
		seen |= 1 << i
		switch key {
		case "status":
			val := string(v)
			st, err := domain.ParseStatus("status", val)
			if err != nil {
				bad("status", "must be one of CREATED, IN_PROGRESS, COMPLETED")
				return
			}
			q.Status = &st
		case "assignee_id":
			val := string(v)
			switch val {
			case "me":
				q.AssigneeMe = true
				return
			case "none":
				q.Unassigned = true
				return
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				bad("assignee_id", "must be a positive integer, me or none")
				return
			}
			a := domain.UserID(n)
			q.Assignee = &a
		case "priority":
			val := string(v)
			p, err := domain.ParsePriority("priority", val)
			if err != nil {
				bad("priority", "must be one of LOW, MEDIUM, HIGH, URGENT")
				return
			}
			q.Priority = &p
		case "label":
			val := string(v)
			l, err := application.NormalizeLabel(val)
			if err != nil {
				bad("label", "must be 1 to 50 characters")
				return
			}
			q.Label = &l
		case "due_before", "due_after":
			val := string(v)
			at, err := time.Parse(time.RFC3339, val)
			if err != nil || at.UTC().Year() < 1 || at.UTC().Year() > 9999 {
				bad(key, "must be an RFC 3339 date-time between years 0001 and 9999")
				return
			}
			if key == "due_before" {
				q.DueBefore = &at
			} else {
				q.DueAfter = &at
			}
		case "q":
			val := string(v)
			// Checked whole by the use case (domain.ParseSearch); kept as
			// sent, so the next page's link repeats it.
			if _, err := domain.ParseSearch("q", val); err != nil {
				var de *domain.Error
				if errors.As(err, &de) {
					fields = append(fields, de.Fields...)
				}
				return
			}
			q.Q = &val
		case "sort":
			val := string(v)
			if !slices.Contains(ports.TaskSorts, ports.TaskSort(val)) {
				bad("sort", "must be one of -created, created, -updated, updated, due, -priority")
				return
			}
			q.Sort = ports.TaskSort(val)
		case "limit":
			val := string(v)
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > application.MaxLimit {
				bad("limit", "must be an integer between 1 and 100")
				return
			}
			q.Limit = n
		case "page":
			val := string(v)
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > application.MaxPage {
				bad("page", "must be an integer between 1 and 1000000")
				return
			}
			q.Page = n
		case "cursor":
			val := string(v)
			if val == "" {
				bad("cursor", "must not be empty")
				return
			}
			q.Cursor = val
		}
	})
	if len(fields) > 0 {
		return q, domain.Invalid(fields...)
	}
	return q, nil
}

func (s *Server) listTasks(c *fiber.Ctx) error {
	q, err := parseListQuery(c)
	if err != nil {
		return err
	}
	cond, err := ifNoneMatch(c)
	if err != nil {
		return err
	}
	list, err := s.tasks.List(c.UserContext(), actorOf(c), q, taskJSON{})
	if err != nil {
		return err
	}
	if listHeaders(&c.Response().Header, cond, q, list) {
		return notModified(c)
	}
	return sendJSON(c, list.Body)
}

// listHeaders sets a page's ETag and reports whether cond matches it (the
// answer is then a 304); otherwise it sets the Link to the next page, if
// there is one. Weak: the tag stands for the page's content, not for any
// one encoding of its bytes on the wire. Both are written from a buffer
// on the stack, which fasthttp copies: no string is made for either
// (BenchmarkListHeaders).
func listHeaders(h *fasthttp.ResponseHeader, cond preconditionNone, q application.ListQuery, list *application.EncodedList) bool {
	var buf [256]byte
	tag := append(append(append(buf[:0], `W/"`...), list.Tag...), '"')
	h.SetBytesV(fiber.HeaderETag, tag)
	if cond.matches(tag) {
		return true
	}
	if list.NextCursor != "" {
		h.SetBytesV(fiber.HeaderLink, appendNextLink(buf[:0], q, list.NextCursor))
	}
	return false
}

// notModified answers 304 with no body; the headers a 200 would carry
// that describe the representation (ETag, Cache-Control) stay, as RFC
// 9110 section 15.4.5 wants. Not c.SendStatus, which would add a body.
func notModified(c *fiber.Ctx) error {
	c.Status(fiber.StatusNotModified)
	c.Response().ResetBody()
	return nil
}

// sendJSON sends body, already JSON, as it is. fasthttp keeps a reference
// to it, not a copy: cached bodies are never modified, so this is safe.
func sendJSON(c *fiber.Ctx, body []byte) error {
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBodyRaw(body)
	return nil
}

// nextLink points at the next page in cursor mode, keeping the filters,
// with the parameters in the order url.Values.Encode gives them. It is on
// every cached page of a list that has more: appended, not built through
// url.Values (a map, a sort and four strings), which cost 4.5% of a cached
// list's CPU (BenchmarkNextLink).
func nextLink(q application.ListQuery, cursor string) string {
	return string(appendNextLink(make([]byte, 0, 64+len(cursor)), q, cursor))
}

// appendNextLink appends nextLink's value to b.
func appendNextLink(b []byte, q application.ListQuery, cursor string) []byte {
	limit := q.Limit
	if limit == 0 {
		limit = application.DefaultLimit
	}
	b = append(b, "</tasks?"...)
	switch {
	case q.Assignee != nil:
		b = append(b, "assignee_id="...)
		b = strconv.AppendInt(b, int64(*q.Assignee), 10)
		b = append(b, '&')
	case q.AssigneeMe:
		b = append(b, "assignee_id=me&"...)
	case q.Unassigned:
		b = append(b, "assignee_id=none&"...)
	}
	b = append(b, "cursor="...)
	b = append(b, url.QueryEscape(cursor)...)
	if q.DueAfter != nil {
		b = append(b, "&due_after="...)
		b = append(b, url.QueryEscape(q.DueAfter.Format(time.RFC3339Nano))...)
	}
	if q.DueBefore != nil {
		b = append(b, "&due_before="...)
		b = append(b, url.QueryEscape(q.DueBefore.Format(time.RFC3339Nano))...)
	}
	if q.Label != nil {
		b = append(b, "&label="...)
		b = append(b, url.QueryEscape(*q.Label)...)
	}
	b = append(b, "&limit="...)
	b = strconv.AppendInt(b, int64(limit), 10)
	if q.Priority != nil {
		b = append(b, "&priority="...)
		b = append(b, *q.Priority...)
	}
	if q.Q != nil {
		b = append(b, "&q="...)
		b = append(b, url.QueryEscape(*q.Q)...)
	}
	if q.Sort != "" {
		b = append(b, "&sort="...)
		b = append(b, url.QueryEscape(string(q.Sort))...)
	}
	if q.Status != nil {
		b = append(b, "&status="...)
		b = append(b, url.QueryEscape(string(*q.Status))...)
	}
	return append(b, `>; rel="next"`...)
}

func etag(t *domain.Task) string { return etagOf(t.Version) }

func etagOf(version int64) string { return string(appendETag(nil, version)) }

func appendETag(b []byte, version int64) []byte {
	return append(strconv.AppendInt(append(b, '"'), version, 10), '"')
}

var (
	errMalformedIfMatch = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_if_match",
		Message: `If-Match must be * or one entity-tag, such as "3"`}
	errMalformedIfNoneMatch = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_if_none_match",
		Message: `If-None-Match must be * or a comma-separated list of entity-tags, such as "3" or W/"3"`}
)

// ifMatch reads If-Match: 0 when absent or "*", the version when it names
// one, and -1 (never a version) when it is an entity-tag that names none
// (a weak one never matches: If-Match compares strongly), so the update
// fails with 412 as RFC 9110 wants. Anything else is malformed: 400,
// whatever the task's state. One tag only, as the contract defines it:
// a task is at one version, and the use case compares with one.
func ifMatch(c *fiber.Ctx) (int64, error) {
	h := strings.Trim(c.Get(fiber.HeaderIfMatch), " \t")
	if h == "" || h == "*" {
		return 0, nil
	}
	tags, ok := parseEntityTags(h)
	if !ok || len(tags) != 1 {
		return 0, errMalformedIfMatch
	}
	if tags[0].weak {
		return -1, nil
	}
	v, err := strconv.ParseInt(strings.Trim(tags[0].opaque, `"`), 10, 64)
	if err != nil || v < 1 {
		return -1, nil
	}
	return v, nil
}

// entityTag is one entity-tag of RFC 9110 section 8.8.3; opaque keeps its
// quotes.
type entityTag struct {
	weak   bool
	opaque string
}

// parseEntityTags reads a list of entity-tags: `"a", W/"b"`, with
// optional whitespace around the commas and empty elements tolerated
// (RFC 9110 section 5.6.1). The characters between the quotes are those
// etagc allows, less obs-text: a tag of ours is ASCII, and the documented
// pattern says the same. ok is false on anything else.
func parseEntityTags(h string) (tags []entityTag, ok bool) {
	for i := 0; i < len(h); {
		switch h[i] {
		case ' ', '\t', ',':
			i++
			continue
		}
		var t entityTag
		if strings.HasPrefix(h[i:], `W/`) {
			t.weak = true
			i += 2
		}
		if i >= len(h) || h[i] != '"' {
			return nil, false
		}
		end := i + 1
		for end < len(h) && h[end] != '"' {
			if h[end] < 0x21 || h[end] > 0x7e {
				return nil, false
			}
			end++
		}
		if end >= len(h) {
			return nil, false
		}
		t.opaque = h[i : end+1]
		tags = append(tags, t)
		// After a tag: only whitespace, then a comma or the end.
		for i = end + 1; i < len(h) && (h[i] == ' ' || h[i] == '\t'); i++ {
		}
		if i < len(h) && h[i] != ',' {
			return nil, false
		}
	}
	return tags, len(tags) > 0
}

// preconditionNone is a parsed If-None-Match; the zero value (no header)
// matches nothing.
type preconditionNone struct {
	any  bool
	tags []entityTag
}

// ifNoneMatch reads If-None-Match: "*" or a list of entity-tags; anything
// else is malformed (400). An empty header is no condition. Only the
// header's own whitespace (SP, HTAB) is trimmed, as the documented pattern
// allows, so that the document and the server refuse the same values.
func ifNoneMatch(c *fiber.Ctx) (preconditionNone, error) {
	h := strings.Trim(c.Get(fiber.HeaderIfNoneMatch), " \t")
	if h == "" {
		return preconditionNone{}, nil
	}
	if h == "*" {
		return preconditionNone{any: true}, nil
	}
	tags, ok := parseEntityTags(h)
	if !ok {
		return preconditionNone{}, errMalformedIfNoneMatch
	}
	return preconditionNone{tags: tags}, nil
}

// matches reports whether the current ETag of an existing resource
// matches, by the weak comparison If-None-Match uses (RFC 9110 section
// 13.1.2): the opaque tags are equal, whether either is weak or not.
func (p preconditionNone) matches(current []byte) bool {
	if p.any {
		return true
	}
	current = bytes.TrimPrefix(current, []byte("W/"))
	for _, t := range p.tags {
		if t.opaque == string(current) {
			return true
		}
	}
	return false
}

func (s *Server) getTask(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	cond, err := ifNoneMatch(c)
	if err != nil {
		return err
	}
	t, err := s.tasks.Get(c.UserContext(), actorOf(c), domain.TaskID(id), taskJSON{})
	if err != nil {
		return err
	}
	var buf [24]byte
	tag := appendETag(buf[:0], t.Version)
	c.Response().Header.SetBytesV(fiber.HeaderETag, tag)
	if cond.matches(tag) {
		return notModified(c)
	}
	return sendJSON(c, t.Body)
}

func (s *Server) createTask(c *fiber.Ctx) error {
	var req taskCreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in := application.CreateTaskInput{Title: req.Title, Description: req.Description}
	d, err := taskDetailsRequest{Priority: req.Priority, DueAt: req.DueAt, Labels: req.Labels}.parse()
	if err != nil {
		return err
	}
	in.Priority, in.DueAt = d.priority, d.dueAt
	if d.labels != nil {
		in.Labels = *d.labels
	}
	if req.Status != nil {
		st, err := domain.ParseStatus("status", *req.Status)
		if err != nil {
			return err
		}
		in.Status = &st
	}
	if req.AssigneeID.Set && !req.AssigneeID.Null {
		a, err := assignee(req.AssigneeID.V)
		if err != nil {
			return err
		}
		in.AssigneeID = &a
	}
	in.Receipt = receiptFor(c, taskCreated)
	t, err := s.tasks.Create(c.UserContext(), actorOf(c), in)
	if err != nil {
		return err
	}
	return sendStored(c, taskCreated(t))
}

// taskCreated is the answer to POST /tasks.
func taskCreated(t *domain.Task) ports.StoredResponse {
	return created(toTask(t),
		[2]string{fiber.HeaderLocation, "/tasks/" + strconv.FormatInt(int64(t.ID), 10)},
		[2]string{fiber.HeaderETag, etag(t)})
}

func assignee(v int64) (domain.UserID, error) {
	if v < 1 {
		return 0, domain.Invalid(domain.FieldError{Field: "assignee_id", Message: "must be a positive integer or null"})
	}
	return domain.UserID(v), nil
}

func (s *Server) patchTask(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req taskPatchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	version, err := ifMatch(c)
	if err != nil {
		return err
	}
	in := application.UpdateTaskInput{IfMatch: version}
	var fields []domain.FieldError
	notNull := func(field string) {
		fields = append(fields, domain.FieldError{Field: field, Message: "must not be null"})
	}
	if req.Title.Set {
		if req.Title.Null {
			notNull("title")
		}
		in.Title = &req.Title.V
	}
	if req.Description.Set {
		if req.Description.Null {
			notNull("description")
		}
		in.Description = &req.Description.V
	}
	if req.Status.Set {
		if req.Status.Null {
			notNull("status")
		} else if st, err := domain.ParseStatus("status", req.Status.V); err != nil {
			return err
		} else {
			in.Status = &st
		}
	}
	if req.AssigneeID.Set {
		in.SetAssignee = true
		if !req.AssigneeID.Null {
			a, err := assignee(req.AssigneeID.V)
			if err != nil {
				return err
			}
			in.AssigneeID = &a
		}
	}
	d, err := taskDetailsRequest{Priority: req.Priority, DueAt: req.DueAt, Labels: req.Labels}.parse()
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) {
			return err
		}
		fields = append(fields, de.Fields...)
	}
	in.Priority, in.SetDueAt, in.DueAt, in.Labels = d.priority, d.setDueAt, d.dueAt, d.labels
	if len(fields) > 0 {
		return domain.Invalid(fields...)
	}
	return s.update(c, domain.TaskID(id), in)
}

// taskDetails is a parsed taskDetailsRequest; nil is "not given".
type taskDetails struct {
	priority *domain.Priority
	setDueAt bool
	dueAt    *time.Time
	labels   *[]string
}

// parse checks the forms of the fields; their values (the label limits)
// are the domain's to check. Only due_at may be null: it clears the date.
func (r taskDetailsRequest) parse() (taskDetails, error) {
	var d taskDetails
	var fields []domain.FieldError
	bad := func(field, msg string) { fields = append(fields, domain.FieldError{Field: field, Message: msg}) }
	switch {
	case r.Priority.Null:
		bad("priority", "must not be null")
	case r.Priority.Set:
		p, err := domain.ParsePriority("priority", r.Priority.V)
		if err != nil {
			bad("priority", "must be one of LOW, MEDIUM, HIGH, URGENT")
		}
		d.priority = &p
	}
	if r.DueAt.Set {
		d.setDueAt = true
		if !r.DueAt.Null {
			due, err := time.Parse(time.RFC3339, r.DueAt.V)
			if err != nil {
				bad("due_at", "must be an RFC 3339 date-time (2030-01-31T17:00:00Z) or null")
			}
			d.dueAt = &due
		}
	}
	switch {
	case r.Labels.Null:
		bad("labels", "must not be null; [] removes every label")
	case r.Labels.Set:
		labels := r.Labels.V
		if labels == nil {
			labels = []string{}
		}
		d.labels = &labels
	}
	if len(fields) > 0 {
		return d, domain.Invalid(fields...)
	}
	return d, nil
}

func (s *Server) update(c *fiber.Ctx, id domain.TaskID, in application.UpdateTaskInput) error {
	t, err := s.tasks.Update(c.UserContext(), actorOf(c), id, in)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(t))
	return c.JSON(toTask(t))
}

// putTaskStatus is the original API's status update: ?new_status= or a
// JSON body {"status": ...}; both given must agree.
func (s *Server) putTaskStatus(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	fromQuery := c.Query("new_status")
	var fromBody string
	if len(strings.TrimSpace(string(c.Body()))) > 0 || isJSON(c) {
		var req statusUpdateRequest
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
		fromBody = req.Status
	}
	raw := fromQuery
	switch {
	case fromQuery == "" && fromBody == "":
		return domain.Invalid(domain.FieldError{Field: "new_status", Message: "is required (query parameter new_status or body field status)"})
	case fromQuery == "":
		raw = fromBody
	case fromBody != "" && fromBody != fromQuery:
		return domain.Invalid(domain.FieldError{Field: "status", Message: "must match the new_status query parameter"})
	}
	st, err := domain.ParseStatus("status", raw)
	if err != nil {
		return err
	}
	version, err := ifMatch(c)
	if err != nil {
		return err
	}
	return s.update(c, domain.TaskID(id), application.UpdateTaskInput{Status: &st, IfMatch: version})
}

func (s *Server) deleteTask(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	version, err := ifMatch(c)
	if err != nil {
		return err
	}
	if err := s.tasks.Delete(c.UserContext(), actorOf(c), domain.TaskID(id), version); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
