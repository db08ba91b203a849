package http

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
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
	return "</tasks?" + v.Encode() + `>; rel="next"`
}

func TestNextLink_EncodesLikeURLValues(t *testing.T) {
	status := domain.StatusInProgress
	odd := domain.Status("A B&C=/?")
	assignee := domain.UserID(42)
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
