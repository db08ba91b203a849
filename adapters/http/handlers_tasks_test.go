package http

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// nextLinkByValues is how nextLink was built before it was appended: the
// oracle for its output.
func nextLinkByValues(q application.ListQuery, cursor string) string {
	v := url.Values{}
	v.Set("cursor", cursor)
	limit := q.Limit
	if limit == 0 {
		limit = application.DefaultLimit
	}
	v.Set("limit", strconv.Itoa(limit))
	if q.Status != nil {
		v.Set("status", string(*q.Status))
	}
	if q.Assignee != nil {
		v.Set("assignee_id", strconv.FormatInt(int64(*q.Assignee), 10))
	}
	if q.AssigneeMe {
		v.Set("assignee_id", "me")
	}
	if q.Unassigned {
		v.Set("assignee_id", "none")
	}
	if q.Sort != "" {
		v.Set("sort", string(q.Sort))
	}
	if q.Priority != nil {
		v.Set("priority", string(*q.Priority))
	}
	if q.Label != nil {
		v.Set("label", *q.Label)
	}
	if q.DueBefore != nil {
		v.Set("due_before", q.DueBefore.Format(time.RFC3339Nano))
	}
	if q.DueAfter != nil {
		v.Set("due_after", q.DueAfter.Format(time.RFC3339Nano))
	}
	if q.Q != nil {
		v.Set("q", *q.Q)
	}
	return "</tasks?" + v.Encode() + `>; rel="next"`
}

func TestNextLink_EncodesLikeURLValues(t *testing.T) {
	status := domain.StatusInProgress
	odd := domain.Status("A B&C=/?")
	assignee := domain.UserID(42)
	urgent := domain.PriorityUrgent
	label := "a b&c=d/é"
	due := time.Date(2026, 3, 1, 9, 30, 0, 500, time.UTC)
	dueZone := time.Date(2026, 2, 1, 9, 30, 0, 0, time.FixedZone("", 2*3600))
	search := "Été & release+notes/ \"v2\""
	for _, tc := range []struct {
		name   string
		q      application.ListQuery
		cursor string
	}{
		{"defaults", application.ListQuery{}, "MTIz"},
		{"limit", application.ListQuery{Limit: 7}, "MTIz"},
		{"every_filter", application.ListQuery{Limit: 100, Status: &status, Assignee: &assignee}, "MTIz"},
		{"assignee_only", application.ListQuery{Assignee: &assignee}, "eyJpZCI6MX0"},
		{"characters_to_escape", application.ListQuery{Status: &odd}, "a+b/c=d&e f%"},
		{"assignee_me", application.ListQuery{AssigneeMe: true}, "MTIz"},
		{"sort", application.ListQuery{Sort: ports.SortPriorityDesc, Limit: 3}, "MTIz"},
		{"assignee_none_and_details", application.ListQuery{Unassigned: true, Priority: &urgent, Label: &label,
			DueBefore: &due, DueAfter: &dueZone}, "MTIz"},
		{"search", application.ListQuery{Q: &search, Sort: ports.SortDue, Label: &label}, "MTIz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := nextLink(tc.q, tc.cursor), nextLinkByValues(tc.q, tc.cursor); got != want {
				t.Fatalf("nextLink = %s\nwant       %s", got, want)
			}
		})
	}
}

func BenchmarkNextLink(b *testing.B) {
	status := domain.StatusCreated
	q := application.ListQuery{Limit: 10, Status: &status}
	b.Run("appended", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = nextLink(q, "MTIzNDU2Nzg")
		}
	})
	b.Run("url_values", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = nextLinkByValues(q, "MTIzNDU2Nzg")
		}
	})
}

// BenchmarkListHeaders measures the headers a cached list page sets
// beside its body, its ETag and the Link to the next page: as they were
// set before (strings, concatenated, then copied by fasthttp) and as
// listHeaders sets them.
func BenchmarkListHeaders(b *testing.B) {
	status := domain.StatusCreated
	q := application.ListQuery{Limit: 10, Status: &status}
	list := &application.EncodedList{Tag: "0123456789abcdef0123456789abcdef", NextCursor: "MTIzNDU2Nzg"}
	var resp fasthttp.Response
	b.Run("strings", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tag := `W/"` + list.Tag + `"`
			resp.Header.Set(fiber.HeaderETag, tag)
			resp.Header.Set(fiber.HeaderLink, nextLink(q, list.NextCursor))
		}
	})
	b.Run("appended", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if listHeaders(&resp.Header, preconditionNone{}, q, list) {
				b.Fatal("no condition matched")
			}
		}
	})
}

// BenchmarkParseListQuery reads the cached list's query, ?limit=10.
func BenchmarkParseListQuery(b *testing.B) {
	app := fiber.New()
	var fctx fasthttp.RequestCtx
	fctx.Request.SetRequestURI("/tasks?limit=10")
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	b.ReportAllocs()
	for b.Loop() {
		if q, err := parseListQuery(c); err != nil || q.Limit != 10 {
			b.Fatal(q, err)
		}
	}
}
