package main

import (
	"math"
	"testing"
	"time"

	"github.com/taskflow/taskflow/application"
)

func TestHistogram_buckets_are_contiguous_and_tight(t *testing.T) {
	t.Parallel()
	prevHi := int64(-1)
	for i := 0; i < bucketOf(math.MaxInt64)+1; i++ {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d,%d] but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo > 0 && float64(hi-lo)/float64(lo) > 1.0/64 {
			t.Fatalf("bucket %d = [%d,%d] is wider than 1/64 of its value", i, lo, hi)
		}
		prevHi = hi
		if hi < 0 || hi == math.MaxInt64 {
			break
		}
	}
}

func TestHistogram_quantiles_of_a_uniform_spread_are_within_one_percent(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if rel := math.Abs(float64(got-c.want)) / float64(c.want); rel > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	if got, want := h.mean(), 5000500*time.Nanosecond; got != want {
		t.Errorf("mean = %v, want %v", got, want)
	}
}

func TestHistogram_quantiles_never_leave_the_observed_range(t *testing.T) {
	t.Parallel()
	var h histogram
	for range 100 {
		h.record(1234567 * time.Nanosecond)
	}
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := h.quantile(q); got != 1234567*time.Nanosecond {
			t.Errorf("quantile(%v) of a constant = %v, want 1.234567ms", q, got)
		}
	}
}

func TestHistogram_empty_reports_zero(t *testing.T) {
	t.Parallel()
	var h histogram
	if h.quantile(0.5) != 0 || h.mean() != 0 {
		t.Fatalf("empty histogram: p50 %v, mean %v; want 0", h.quantile(0.5), h.mean())
	}
}

func TestHistogram_merge_equals_recording_everything_in_one(t *testing.T) {
	t.Parallel()
	var a, b, all histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i*i) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&b)
	m.merge(&histogram{}) // merging nothing changes nothing
	if m.counts != all.counts || m.n != all.n || m.min != all.min || m.max != all.max {
		t.Fatal("merged histogram differs from the one that recorded everything")
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		if m.quantile(q) != all.quantile(q) {
			t.Errorf("quantile(%v): merged %v, direct %v", q, m.quantile(q), all.quantile(q))
		}
	}
}

func TestEncodeCursor_is_a_cursor_the_service_takes(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"", "CREATED"} {
		for _, id := range []int64{1, 9, 10, 500001, 1<<53 + 7, math.MaxInt64} {
			sort, _, c, err := application.DecodeCursor(encodeCursor(status, id))
			if err != nil || sort != "-created" || int64(c.ID) != id {
				t.Errorf("service decodes encodeCursor(%q, %d) as %s %+v, %v", status, id, sort, c, err)
			}
		}
	}
	if encodeCursor("", 42) == encodeCursor("CREATED", 42) {
		t.Error("the cursor does not depend on the status filter")
	}
}

func TestUncachedKey_never_repeats_within_the_key_space(t *testing.T) {
	t.Parallel()
	read := make([]org, 3)
	for i := range read {
		read[i] = org{id: int64(i + 1), lo: int64(i*1000 + 1), hi: int64(i*1000 + 1000)}
	}
	seen := map[listKey]bool{}
	space := uncachedKeySpace(len(read))
	for k := range space {
		key := uncachedKey(read, k+12345)
		if seen[key] {
			t.Fatalf("key %d repeats %+v", k, key)
		}
		seen[key] = true
		o := read[key.org-1]
		if key.before-o.lo < 100 || key.before > o.hi+1 || key.limit < 5 || key.limit > 15 {
			t.Fatalf("key %+v leaves the seeded range of organization %+v", key, o)
		}
	}
}

func TestListSQL_mirrors_the_store_shape(t *testing.T) {
	t.Parallel()
	q, args := listSQL(7, "CREATED", 99, 10, 0)
	want := `SELECT ` + sqlTaskSelect + ` FROM tasks WHERE organization_id = $1 AND status = $2 AND id < $3 ORDER BY id DESC LIMIT $4 OFFSET $5`
	if q != want {
		t.Errorf("query:\n%s\nwant\n%s", q, want)
	}
	if len(args) != 5 || args[3] != 11 {
		t.Errorf("args %v: want 5 with limit+1 = 11 fourth", args)
	}
}
