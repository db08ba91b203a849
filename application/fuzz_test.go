package application

import (
	"testing"

	"github.com/taskflow/taskflow/domain"
)

// FuzzDecodeCursor: no string panics the cursor decoder; whatever it
// accepts is a positive id that encodes back to a cursor naming it.
func FuzzDecodeCursor(f *testing.F) {
	for _, seed := range []string{"", "djE6MTA", EncodeCursor(1), EncodeCursor(1 << 62), "djE6LTE", "djE6MA", "djE6", "%%%", "djE6OTIyMzM3MjAzNjg1NDc3NTgwOA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		id, err := DecodeCursor(c)
		if err != nil {
			return
		}
		if id < 1 {
			t.Fatalf("DecodeCursor(%q) = %d, want a positive id", c, id)
		}
		if back, err := DecodeCursor(EncodeCursor(id)); err != nil || back != id {
			t.Fatalf("re-encoding %d gives %d, %v", id, back, err)
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
	f.Add(1, 0, EncodeCursor(3), int64(0))
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
