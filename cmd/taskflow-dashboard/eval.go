package main

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// rateWindow is the number of scrapes a rate spans (Grafana's
// $__rate_interval with a 1 s scrape interval would be 4 s; 5 smooths a
// little more).
const rateWindow = 5

// selector picks samples: a metric name and label equalities, a value
// starting with "~" being a prefix match ("~5" for 5xx).
type selector struct {
	name   string
	labels map[string]string
}

func (s selector) matches(x sample) bool {
	if x.name != s.name {
		return false
	}
	for k, v := range s.labels {
		if p, ok := strings.CutPrefix(v, "~"); ok {
			if !strings.HasPrefix(x.labels[k], p) {
				return false
			}
		} else if x.labels[k] != v {
			return false
		}
	}
	return true
}

func sel(name string, kv ...string) selector {
	s := selector{name: name, labels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.labels[kv[i]] = kv[i+1]
	}
	return s
}

// series holds one legend's values, one per scrape; NaN is no data.
type values = map[string]float64

// sumBy sums the samples of s in one snapshot grouped by the label by (""
// sums them all under the key "").
func sumBy(snap snapshot, s selector, by string) values {
	out := values{}
	for _, x := range snap.samples {
		if s.matches(x) {
			out[x.labels[by]] += x.value
		}
	}
	return out
}

// timeline is the scrapes of one run, in order.
type timeline []snapshot

// window returns the index rateWindow scrapes back from i (at least 0).
func (tl timeline) window(i int) int { return max(0, i-rateWindow) }

// rateBy is sum by (by) (rate(s[window])) at scrape i: per second, from
// the increase between the window's first and last scrapes.
func (tl timeline) rateBy(i int, s selector, by string) values {
	j := tl.window(i)
	if j == i {
		return values{}
	}
	dt := tl[i].at.Sub(tl[j].at).Seconds()
	now, then := sumBy(tl[i], s, by), sumBy(tl[j], s, by)
	out := values{}
	for k, v := range now {
		inc := v - then[k]
		if inc < 0 { // a counter reset: Prometheus counts from zero
			inc = v
		}
		out[k] = inc / dt
	}
	return out
}

// ratio is num / den key by key, where den is above zero.
func ratio(num, den values) values {
	out := values{}
	for k, d := range den {
		if d > 0 {
			out[k] = num[k] / d
		}
	}
	return out
}

// quantileBy is histogram_quantile(q, sum by (le, by) (rate(name_bucket[window]))).
func (tl timeline) quantileBy(i int, q float64, name, by string) values {
	j := tl.window(i)
	if j == i {
		return values{}
	}
	type bucket struct{ le, count float64 }
	inc := map[string]map[float64]float64{}
	add := func(snap snapshot, sign float64) {
		for _, x := range snap.samples {
			if x.name != name+"_bucket" {
				continue
			}
			le, err := strconv.ParseFloat(x.labels["le"], 64)
			if err != nil {
				continue
			}
			g := x.labels[by]
			if inc[g] == nil {
				inc[g] = map[float64]float64{}
			}
			inc[g][le] += sign * x.value
		}
	}
	add(tl[i], 1)
	add(tl[j], -1)
	out := values{}
	for g, m := range inc {
		bs := make([]bucket, 0, len(m))
		for le, c := range m {
			bs = append(bs, bucket{le, c})
		}
		sort.Slice(bs, func(a, b int) bool { return bs[a].le < bs[b].le })
		les, counts := make([]float64, len(bs)), make([]float64, len(bs))
		for k, b := range bs {
			les[k], counts[k] = b.le, b.count
		}
		if v := histogramQuantile(q, les, counts); !math.IsNaN(v) {
			out[g] = v
		}
	}
	return out
}

// histogramQuantile is Prometheus's estimate of the q-quantile from
// cumulative bucket counts (upper bounds les, ascending, the last +Inf):
// linear interpolation inside the bucket the rank falls in; the upper
// bound of the highest finite bucket when it falls in +Inf. NaN when the
// histogram is empty.
func histogramQuantile(q float64, les, counts []float64) float64 {
	n := len(les)
	if n < 2 || !math.IsInf(les[n-1], 1) || counts[n-1] <= 0 {
		return math.NaN()
	}
	rank := q * counts[n-1]
	b := sort.Search(n-1, func(k int) bool { return counts[k] >= rank })
	if b == n-1 {
		return les[n-2]
	}
	lower, below := 0.0, 0.0
	if b > 0 {
		lower, below = les[b-1], counts[b-1]
	}
	inBucket := counts[b] - below
	if inBucket <= 0 {
		return les[b]
	}
	return lower + (les[b]-lower)*(rank-below)/inBucket
}

// gaugeBy is sum by (by) (s) at scrape i.
func (tl timeline) gaugeBy(i int, s selector, by string) values { return sumBy(tl[i], s, by) }

// maxOf is max(s) at scrape i (under the key "", none without samples).
func (tl timeline) maxOf(i int, s selector) values {
	out := values{}
	for _, x := range tl[i].samples {
		if v, ok := out[""]; s.matches(x) && (!ok || x.value > v) {
			out[""] = x.value
		}
	}
	return out
}

// named puts one unlabelled value under a legend.
func named(legend string, v values) values {
	out := values{}
	if x, ok := v[""]; ok {
		out[legend] = x
	}
	return out
}

func merge(vs ...values) values {
	out := values{}
	for _, v := range vs {
		for k, x := range v {
			out[k] = x
		}
	}
	return out
}

const reqHist = "http_server_request_duration_seconds"

// evaluators computes, for each panel of deploy/grafana/taskflow.json (by
// title), the same quantities as its PromQL from the scrapes: values by
// legend at scrape i. TestDashboard_EveryPanelHasAnEvaluator keeps the two
// in step.
var evaluators = map[string]func(tl timeline, i int) values{
	"Request rate by route": func(tl timeline, i int) values {
		return tl.rateBy(i, sel(reqHist+"_count"), "route")
	},
	"Error ratio (5xx, 4xx)": func(tl timeline, i int) values {
		all := tl.rateBy(i, sel(reqHist+"_count"), "")
		return merge(
			named("5xx", ratio(tl.rateBy(i, sel(reqHist+"_count", "status_code", "~5"), ""), all)),
			named("4xx", ratio(tl.rateBy(i, sel(reqHist+"_count", "status_code", "~4"), ""), all)),
		)
	},
	"In-flight requests": func(tl timeline, i int) values {
		return named("in flight", tl.gaugeBy(i, sel("http_server_active_requests"), ""))
	},
	"p50 latency by route": func(tl timeline, i int) values { return tl.quantileBy(i, 0.5, reqHist, "route") },
	"p99 latency by route": func(tl timeline, i int) values { return tl.quantileBy(i, 0.99, reqHist, "route") },
	"Cache hit ratio by backend": func(tl timeline, i int) values {
		return ratio(tl.rateBy(i, sel("taskflow_cache_requests_total", "result", "hit"), "backend"),
			tl.rateBy(i, sel("taskflow_cache_requests_total"), "backend"))
	},
	"DB connections by state": func(tl timeline, i int) values {
		return merge(tl.gaugeBy(i, sel("taskflow_db_connections"), "state"),
			named("max", tl.gaugeBy(i, sel("taskflow_db_max_open_connections"), "")))
	},
	"DB pool wait": func(tl timeline, i int) values {
		return named("wait", tl.rateBy(i, sel("taskflow_db_wait_duration_seconds_total"), ""))
	},
	"bcrypt queue": func(tl timeline, i int) values {
		return named("queued", tl.gaugeBy(i, sel("taskflow_bcrypt_queue_length"), ""))
	},
	"Rate-limited by limit": func(tl timeline, i int) values {
		return tl.rateBy(i, sel("taskflow_rate_limited_total"), "limit")
	},
	"Goroutines": func(tl timeline, i int) values {
		return named("goroutines", tl.gaugeBy(i, sel("go_goroutines"), ""))
	},
	"Heap and RSS": func(tl timeline, i int) values {
		return merge(named("heap", tl.gaugeBy(i, sel("go_memstats_heap_alloc_bytes"), "")),
			named("RSS", tl.gaugeBy(i, sel("process_resident_memory_bytes"), "")))
	},
	"Webhook deliveries by result": func(tl timeline, i int) values {
		return tl.rateBy(i, sel("taskflow_webhook_deliveries_total"), "result")
	},
	"Webhook lag": func(tl timeline, i int) values {
		return named("lag", tl.maxOf(i, sel("taskflow_webhook_lag_seconds")))
	},
	"Open event streams": func(tl timeline, i int) values {
		return named("streams", tl.gaugeBy(i, sel("taskflow_event_streams"), ""))
	},
}
