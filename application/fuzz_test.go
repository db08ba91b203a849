package application

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

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

// FuzzListQuery_search: any q either validates or is a 422 naming q,
// never a panic; a valid one becomes 1 to 16 distinct, sorted words of
// letters, digits and marks (so nothing in them is query syntax for
// either store), each at most MaxSearchWordLen characters; and a cursor
// issued for it is refused with another set of words.
func FuzzListQuery_search(f *testing.F) {
	for _, seed := range []string{"release", "Release notes", "", " ", "!!!", "a\x00b", "\xff", `"a" OR b*`,
		"'a' & !b | c:*", "NEAR(a b)", "été ΣΟΦΟΣ हिन्दी 東京", "a-b_c.d@e", "a b c d e f g h i j k l m n o p q"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		flt, err := ListQuery{Q: &q}.filter()
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) == 0 || de.Fields[0].Field != "q" {
				t.Fatalf("q=%q: error %v is not a validation error naming q", q, err)
			}
			return
		}
		if len(flt.Search) < 1 || len(flt.Search) > domain.MaxSearchWords || !slices.IsSorted(flt.Search) ||
			len(slices.Compact(slices.Clone(flt.Search))) != len(flt.Search) {
			t.Fatalf("q=%q: words %q", q, flt.Search)
		}
		for _, w := range flt.Search {
			if w == "" || utf8.RuneCountInString(w) > domain.MaxSearchWordLen || strings.ContainsFunc(w, func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)
			}) {
				t.Fatalf("q=%q: word %q", q, w)
			}
		}
		c := EncodeCursor(flt.Sort, queryDigest(flt), ports.TaskCursor{ID: 3})
		if _, err := (ListQuery{Q: &q, Cursor: c}).filter(); err != nil {
			t.Fatalf("q=%q: its own cursor refused: %v", q, err)
		}
		other := q + " zz9"
		if _, err := (ListQuery{Q: &other, Cursor: c}).filter(); err == nil && !slices.Contains(flt.Search, "zz9") {
			t.Fatalf("q=%q: its cursor accepted with q=%q", q, other)
		}
	})
}
