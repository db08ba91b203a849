package metrics

import (
	"database/sql"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/taskflow/taskflow/ports"
)

// Cache results, the values of taskflow_cache_requests_total's result.
const (
	CacheHit     = "hit"
	CacheMiss    = "miss"
	CacheError   = "error"
	CacheSkipped = "skipped" // the backend is known to be away (the Redis breaker is open)
)

// UnmatchedRoute is the route label of every request no route took, so
// that unknown paths cannot grow the number of series.
const UnmatchedRoute = "unmatched"

// RequestBuckets are the request duration histogram's upper bounds, in
// seconds: most answers take a few milliseconds; REQUEST_TIMEOUT is 10 s
// by default.
var RequestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds the registry and the families that are recorded event by
// event. Its methods are safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	duration    *prometheus.HistogramVec
	active      prometheus.Gauge
	cache       *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	// deliveries holds taskflow_webhook_deliveries_total's children, one
	// per ports.WebhookAttemptResult.
	deliveries map[ports.WebhookAttemptResult]prometheus.Counter
}

var _ ports.WebhookMeter = (*Metrics)(nil)

// New returns Metrics with every family registered on a registry of its
// own, with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Time from a request's arrival at the first middleware to its answer, by method, route template and status code.",
			Buckets: RequestBuckets,
		}, []string{"method", "route", "status_code"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_server_active_requests",
			Help: "Requests being served.",
		}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_cache_requests_total",
			Help: "List cache lookups by backend and result: hit, miss, error, or skipped while the backend is known to be away.",
		}, []string{"backend", "result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskflow_rate_limited_total",
			Help: "Requests refused with 429, by the limit that refused them.",
		}, []string{"limit"}),
	}
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "taskflow_webhook_deliveries_total",
		Help: "Webhook delivery attempts of events by result: success (2xx), failure (another status or a failed connection), timeout, refused (not a public address), exhausted (a failed attempt that was the event's last).",
	}, []string{"result"})
	m.deliveries = make(map[ports.WebhookAttemptResult]prometheus.Counter, len(ports.WebhookAttemptResults))
	for _, r := range ports.WebhookAttemptResults {
		m.deliveries[r] = deliveries.WithLabelValues(string(r))
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.duration, m.active, m.cache, m.rateLimited, deliveries,
	)
	return m
}

// WebhookAttempted counts one delivery attempt by its result (one of
// ports.WebhookAttemptResults; anything else is ignored).
func (m *Metrics) WebhookAttempted(r ports.WebhookAttemptResult) {
	if c, ok := m.deliveries[r]; ok {
		c.Inc()
	}
}

// WatchWebhookLag reports, at scrape time, how far behind this replica's
// webhook dispatcher is (application.Dispatcher.Lag).
func (m *Metrics) WatchWebhookLag(lag func() time.Duration) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "taskflow_webhook_lag_seconds",
		Help: "How far behind this replica's webhook dispatcher is: the age of the oldest event a hook it works on is attempting or about to attempt; 0 when every active hook is up to date or waiting for a retry.",
	}, func() float64 { return lag().Seconds() }))
}

// WatchStreams reports, at scrape time, the event streams open on this
// replica.
func (m *Metrics) WatchStreams(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "taskflow_event_streams",
		Help: "Event streams (GET /events/stream) open on this replica.",
	}, func() float64 { return float64(open()) }))
}

// Registry is where further collectors go.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics (Prometheus text or OpenMetrics) and
// /debug/pprof/, for the admin listener only.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg, EnableOpenMetrics: true,
	})))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// statusText holds the label of every status code, made once: the
// request path formats none.
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusText) {
		return statusText[code]
	}
	return strconv.Itoa(code)
}

// RequestStarted counts a request in flight; RequestFinished must follow.
func (m *Metrics) RequestStarted() { m.active.Inc() }

// RequestFinished records a request's duration under its route template
// (UnmatchedRoute for one no route took) and ends its count in flight.
// method and route must come from bounded sets: the router's methods and
// route table, never the raw path.
func (m *Metrics) RequestFinished(method, route string, status int, elapsed time.Duration) {
	m.active.Dec()
	m.duration.WithLabelValues(method, route, statusLabel(status)).Observe(elapsed.Seconds())
}

// RateLimited counts one refusal by limit (a short fixed name).
func (m *Metrics) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// WatchBcrypt reports the password hasher's queue at scrape time: queued
// is the number of hashes waiting for a CPU slot, waited the total time
// they have waited.
func (m *Metrics) WatchBcrypt(queued func() int, waited func() time.Duration) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "taskflow_bcrypt_queue_length",
			Help: "Password hashes and comparisons waiting for a CPU slot (at most one bcrypt runs per CPU).",
		}, func() float64 { return float64(queued()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "taskflow_bcrypt_wait_seconds_total",
			Help: "Total time password hashes and comparisons have waited for a CPU slot.",
		}, func() float64 { return waited().Seconds() }),
	)
}

// WatchDB reports the database pools at scrape time; stats returns one
// sql.DBStats per pool (SQLite has a read pool and a write pool), which
// are summed.
func (m *Metrics) WatchDB(stats func() []sql.DBStats) {
	m.reg.MustRegister(&dbCollector{stats: stats})
}

var (
	dbConnsDesc = prometheus.NewDesc("taskflow_db_connections",
		"Database connections by state: open (in use plus idle), in_use, idle; summed over the pools.", []string{"state"}, nil)
	dbMaxDesc = prometheus.NewDesc("taskflow_db_max_open_connections",
		"The pools' limit on open connections (DB_MAX_OPEN_CONNS; SQLite adds its one writer).", nil, nil)
	dbWaitCountDesc = prometheus.NewDesc("taskflow_db_wait_count_total",
		"Times a query waited for a free connection.", nil, nil)
	dbWaitDesc = prometheus.NewDesc("taskflow_db_wait_duration_seconds_total",
		"Total time queries have waited for a free connection.", nil, nil)
)

// dbCollector turns sql.DBStats, read when scraped, into metrics.
type dbCollector struct{ stats func() []sql.DBStats }

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dbConnsDesc
	ch <- dbMaxDesc
	ch <- dbWaitCountDesc
	ch <- dbWaitDesc
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	var sum sql.DBStats
	for _, s := range c.stats() {
		sum.MaxOpenConnections += s.MaxOpenConnections
		sum.OpenConnections += s.OpenConnections
		sum.InUse += s.InUse
		sum.Idle += s.Idle
		sum.WaitCount += s.WaitCount
		sum.WaitDuration += s.WaitDuration
	}
	ch <- prometheus.MustNewConstMetric(dbConnsDesc, prometheus.GaugeValue, float64(sum.OpenConnections), "open")
	ch <- prometheus.MustNewConstMetric(dbConnsDesc, prometheus.GaugeValue, float64(sum.InUse), "in_use")
	ch <- prometheus.MustNewConstMetric(dbConnsDesc, prometheus.GaugeValue, float64(sum.Idle), "idle")
	ch <- prometheus.MustNewConstMetric(dbMaxDesc, prometheus.GaugeValue, float64(sum.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(dbWaitCountDesc, prometheus.CounterValue, float64(sum.WaitCount))
	ch <- prometheus.MustNewConstMetric(dbWaitDesc, prometheus.CounterValue, sum.WaitDuration.Seconds())
}
