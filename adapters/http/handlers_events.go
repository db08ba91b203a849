package http

import (
	"encoding/json"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

// eventQueryParams are the query parameters of GET /events; the history
// of one task takes the same but subject_id, which its path names.
var eventQueryParams = map[string]bool{"after": true, "type": true, "subject_id": true, "limit": true}

func parseEventQuery(c *fiber.Ctx, withSubject bool) (application.EventQuery, error) {
	var q application.EventQuery
	var fields []domain.FieldError
	bad := func(field, msg string) { fields = append(fields, domain.FieldError{Field: field, Message: msg}) }
	seen := map[string]bool{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		key := string(k)
		if !eventQueryParams[key] || key == "subject_id" && !withSubject {
			bad(key, "is not a query parameter of this endpoint")
			return
		}
		if seen[key] {
			bad(key, "must be given at most once")
			return
		}
		seen[key] = true
		val := string(v)
		switch key {
		case "after":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				bad("after", "must be an event id (an integer, 0 or more)")
				return
			}
			q.After = n
		case "type":
			if !domain.IsEventPattern(val) {
				bad("type", "must be an event type (task.created), a prefix (task.*) or *")
				return
			}
			q.Types = []string{val}
		case "subject_id":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				bad("subject_id", "must be a positive integer")
				return
			}
			q.SubjectID = &n
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > application.MaxEventLimit {
				bad("limit", "must be an integer between 1 and 100")
				return
			}
			q.Limit = n
		}
	})
	if len(fields) > 0 {
		return q, domain.Invalid(fields...)
	}
	return q, nil
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	q, err := parseEventQuery(c, true)
	if err != nil {
		return err
	}
	events, err := s.events.List(c.UserContext(), actorOf(c), q)
	if err != nil {
		return err
	}
	return sendEvents(c, events)
}

func (s *Server) taskEvents(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	q, err := parseEventQuery(c, false)
	if err != nil {
		return err
	}
	events, err := s.events.TaskHistory(c.UserContext(), actorOf(c), domain.TaskID(id), q)
	if err != nil {
		return err
	}
	return sendEvents(c, events)
}

func sendEvents(c *fiber.Ctx, events []domain.Event) error {
	out := make([]eventResponse, len(events))
	for i := range events {
		out[i] = toEvent(&events[i])
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return sendJSON(c, body)
}
