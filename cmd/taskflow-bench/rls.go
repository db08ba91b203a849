package main

import (
	"math"
	"slices"
)

// The cost of row-level security and of the store's tenant wrapper (issue
// 14), from the three list ceilings measured on each backend right before
// uncached_list: db_uncached_list (the store's wrapped statement as the
// service's role), db_uncached_list_norls (the same as the superuser, whom
// the policies do not bind) and db_uncached_list_bare (the statement
// alone, as the superuser).

// extraRatio is a RATIO line beyond the issue-5 ones; target is NaN for an
// informative line.
type extraRatio struct {
	name   string
	value  float64
	target float64
	what   string
}

// extraRatios computes, each on the worse backend like the others:
//
//   - rls_wrapper: db_uncached_list / db_uncached_list_bare, what the
//     wrapper and the policies leave of the statement's rate;
//   - rls_policies: db_uncached_list / db_uncached_list_norls, the
//     policies alone (informative);
//   - uncached_list_raw: the service's uncached_list / db_uncached_list_bare;
//   - cached_list_<backend>: each backend's own cached_list ratio.
func extraRatios(rows, ceilingLog []*row, backends []string) []extraRatio {
	ceilingOn := func(name, backend string) *row {
		var last *row
		for _, c := range ceilingLog {
			if c.scenario == name && c.backend == backend {
				last = c
			}
		}
		return last
	}
	rowOn := func(name, backend string) *row {
		for _, r := range rows {
			if r.scenario == name && r.backend == backend {
				return r
			}
		}
		return nil
	}
	div := func(a, b *row) float64 {
		if a == nil || b == nil || b.res.rate() == 0 {
			return math.NaN()
		}
		return a.res.rate() / b.res.rate()
	}
	worst := func(f func(backend string) float64) float64 {
		v := math.NaN()
		for _, be := range backends {
			if x := f(be); !math.IsNaN(x) && (math.IsNaN(v) || x < v) {
				v = x
			}
		}
		return v
	}
	var out []extraRatio
	add := func(name string, v, target float64, what string) {
		if !math.IsNaN(v) {
			out = append(out, extraRatio{name, v, target, what})
		}
	}
	add("rls_wrapper", worst(func(be string) float64 {
		return div(ceilingOn("db_uncached_list", be), ceilingOn("db_uncached_list_bare", be))
	}), 0.70, "db_uncached_list / db_uncached_list_bare")
	add("rls_policies", worst(func(be string) float64 {
		return div(ceilingOn("db_uncached_list", be), ceilingOn("db_uncached_list_norls", be))
	}), math.NaN(), "wrapped as the app role / as the superuser")
	add("uncached_list_raw", worst(func(be string) float64 {
		return div(rowOn(scUncachedList, be), ceilingOn("db_uncached_list_bare", be))
	}), 0.45, "service uncached_list / db_uncached_list_bare")
	targets := map[string]float64{"memory": 0.80, "redis": 0.70}
	for _, be := range slices.Sorted(slices.Values(backends)) {
		if r := rowOn(scCachedList, be); r != nil {
			add("cached_list_"+be, r.ratio(), targets[be], "cached_list on "+be+" / http_list")
		}
	}
	return out
}
