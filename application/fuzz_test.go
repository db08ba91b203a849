package application

import (
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// FuzzDecodeCursor: no string panics the cursor decoder; whatever it
// accepts encodes back to the same cursor.
func FuzzDecodeCursor(f *testing.F) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, seed := range []string{"", "djE6MTA", "djE6LTE", "djE6MA", "djE6", "%%%", "djE6OTIyMzM3MjAzNjg1NDc3NTgwOA",
		EncodeCursor(ports.SortCreatedDesc, "0123456789abcdef", ports.TaskCursor{ID: 1}),
		EncodeCursor(ports.SortCreated, "0123456789abcdef", ports.TaskCursor{ID: 1 << 62}),
		EncodeCursor(ports.SortUpdatedDesc, "0123456789abcdef", ports.TaskCursor{Time: &at, ID: 3}),
		EncodeCursor(ports.SortUpdated, "0123456789abcdef", ports.TaskCursor{Time: &at, ID: 3}),
		EncodeCursor(ports.SortDue, "0123456789abcdef", ports.TaskCursor{Time: &at, ID: 3}),
		EncodeCursor(ports.SortDue, "0123456789abcdef", ports.TaskCursor{ID: 3}),
		EncodeCursor(ports.SortPriorityDesc, "0123456789abcdef", ports.TaskCursor{Rank: 4, ID: 3}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		sort, digest, cur, err := DecodeCursor(c)
		if err != nil {
			return
		}
		if cur.ID < 1 {
			t.Fatalf("DecodeCursor(%q) = %+v, want a positive id", c, cur)
		}
		s2, d2, back, err := DecodeCursor(EncodeCursor(sort, digest, cur))
		if err != nil || s2 != sort || d2 != digest || back.ID != cur.ID || back.Rank != cur.Rank ||
			(back.Time == nil) != (cur.Time == nil) || back.Time != nil && !back.Time.Equal(*cur.Time) {
			t.Fatalf("re-encoding %s %s %+v gives %s %s %+v, %v", sort, digest, cur, s2, d2, back, err)
		}
	})
}

// FuzzListQuery_filter: any query the edge lets through either validates
// or is a 422, never a panic; a valid one never asks the store for more
// than MaxLimit+1 rows or a negative offset.
func FuzzListQuery_filter(f *testing.F) {
	f.Add(0, 0, "", int64(0))
	f.Add(10, 2, "", int64(5))
	f.Add(100, 1_000_000, "", int64(0))
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	f.Add(1, 0, EncodeCursor(ports.SortCreatedDesc, queryDigest(ports.TaskFilter{Sort: ports.SortCreatedDesc}),
		ports.TaskCursor{ID: 3}), int64(0))
	f.Add(1, 0, EncodeCursor(ports.SortUpdated, "0123456789abcdef", ports.TaskCursor{Time: &at, ID: 3}), int64(0))
	f.Add(1, 0, EncodeCursor(ports.SortDue, "0123456789abcdef", ports.TaskCursor{ID: 3}), int64(0))
	f.Add(-5, -1, "garbage", int64(-3))
	f.Fuzz(func(t *testing.T, limit, page int, cursor string, assignee int64) {
		q := ListQuery{Limit: limit, Page: page, Cursor: cursor}
		if assignee != 0 {
			a := domain.UserID(assignee)
			q.Assignee = &a
		}
		flt, err := q.filter()
		if err != nil {
			if domain.KindOf(err) != domain.KindInvalid {
				t.Fatalf("filter(%+v) error %v is not a validation error", q, err)
			}
			return
		}
		if flt.Limit < 1 || flt.Limit > MaxLimit || flt.Offset < 0 {
			t.Fatalf("filter(%+v) = %+v", q, flt)
		}
	})
}
