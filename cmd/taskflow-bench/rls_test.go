package main

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/postgres"
	"github.com/taskflow/taskflow/domain"
)

// rated is a row that did n requests in one second.
func rated(name, backend string, n uint64, ceiling *row) *row {
	r := &row{scenario: name, backend: backend, res: &loadResult{elapsed: time.Second}, ceiling: ceiling}
	r.res.hist.n = n
	return r
}

func TestExtraRatios_each_on_the_worse_backend(t *testing.T) {
	t.Parallel()
	ceilings := []*row{
		rated("http_list", "memory", 1000, nil),
		rated("db_uncached_list", "memory", 800, nil), rated("db_uncached_list_bare", "memory", 1000, nil), rated("db_uncached_list_norls", "memory", 900, nil),
		rated("http_list", "redis", 1000, nil),
		rated("db_uncached_list", "redis", 600, nil), rated("db_uncached_list_bare", "redis", 1000, nil), rated("db_uncached_list_norls", "redis", 640, nil),
	}
	rows := []*row{
		rated(scCachedList, "memory", 850, ceilings[0]), rated(scUncachedList, "memory", 500, ceilings[1]),
		rated(scCachedList, "redis", 650, ceilings[4]), rated(scUncachedList, "redis", 400, ceilings[5]),
	}
	got := map[string]extraRatio{}
	for _, x := range extraRatios(rows, ceilings, []string{"memory", "redis"}) {
		got[x.name] = x
	}
	for name, want := range map[string]float64{
		"rls_wrapper": 0.6, "rls_policies": 800.0 / 900, "uncached_list_raw": 0.4, "cached_list_memory": 0.85, "cached_list_redis": 0.65,
	} {
		if x, ok := got[name]; !ok || math.Abs(x.value-want) > 1e-9 {
			t.Errorf("RATIO %s = %+v, want %.4f", name, x, want)
		}
	}
	if !math.IsNaN(got["rls_policies"].target) || got["rls_wrapper"].target != 0.70 || got["uncached_list_raw"].target != 0.45 ||
		got["cached_list_memory"].target != 0.80 || got["cached_list_redis"].target != 0.70 {
		t.Errorf("targets: %+v", got)
	}
}

func TestExtraRatios_leave_out_what_did_not_run(t *testing.T) {
	t.Parallel()
	rows := []*row{rated(scCachedList, "memory", 850, rated("http_list", "memory", 1000, nil))}
	got := extraRatios(rows, nil, []string{"memory"})
	if len(got) != 1 || got[0].name != "cached_list_memory" {
		t.Errorf("got %+v, want cached_list_memory alone", got)
	}
}

func TestPlannedRuns_counts_the_list_ceilings_on_each_backend(t *testing.T) {
	t.Parallel()
	o := &options{scenarios: map[string]bool{scUncachedList: true}, backends: []string{"memory", "redis"}}
	// db_uncached_list once (as before), _bare and _norls per backend, the scenario per backend.
	if got, want := plannedRuns(o), 1+2*2+2; got != want {
		t.Errorf("plannedRuns = %d, want %d", got, want)
	}
}

// The store falls back to a transaction when an argument cannot be written
// in; the ceilings would follow it there, silently measuring another
// wrapper. Every statement they confine must take the one-round-trip form.
func TestCeilingStatements_are_confined_in_one_round_trip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q, args := listSQL(7, "CREATED", 99, 10, 0)
	for _, c := range []struct {
		name     string
		readOnly bool
		query    string
		args     []any
	}{
		{"list", true, q, args},
		{"get", true, sqlGetTask, []any{int64(7), int64(8)}},
		{"insert", false, sqlInsertTask, []any{int64(7), "bench task", "", "CREATED", sql.NullInt64{}, 2, sql.NullTime{}, sql.NullTime{},
			int64(3), now, now, 1, domain.SearchDocument("bench task", "")}},
		{"lock", false, sqlLockTask, []any{int64(7), int64(8)}},
	} {
		s, ok := postgres.Dialect{}.ScopedStatement(7, c.readOnly, c.query, c.args)
		if !ok {
			t.Errorf("%s: ScopedStatement cannot write its arguments in", c.name)
			continue
		}
		if strings.Contains(s, "$1") || !strings.Contains(s, "app.organization_id = '7'") {
			t.Errorf("%s: %s", c.name, s)
		}
		if !c.readOnly {
			// A write's first statement: BEGIN, the tenant and the
			// statement in one query string, nothing bound.
			got, a, err := (&lazyTx{org: 7}).stmt(context.Background(), c.query, c.args)
			if err != nil || len(a) != 0 || got != "BEGIN; "+s {
				t.Errorf("%s: first statement %q %v %v, want BEGIN; %s", c.name, got, a, err, s)
			}
		}
	}
}
