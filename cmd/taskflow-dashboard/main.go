// Command taskflow-dashboard renders deploy/grafana/taskflow.json's panels
// into a PNG from a short real load, so that the repository shows what an
// operator sees in Grafana without a Grafana: it builds and starts the
// real service (SQLite in a temporary directory unless -database-url),
// sends a fixed mixed load (lists, reads, creates, 404s, a login flood, a
// noisy tenant), scrapes the admin listener's /metrics every second, and
// computes each panel's quantities from the scrapes in Go (rates over
// 5 s, ratios, histogram quantiles as Prometheus estimates them).
//
//	go run ./cmd/taskflow-dashboard -out docs/dashboard.png
package main

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "taskflow-dashboard:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		out         = flag.String("out", "docs/dashboard.png", "the PNG to write (a relative path is from the repository root)")
		dashPath    = flag.String("dashboard", "deploy/grafana/taskflow.json", "the Grafana dashboard, relative to the repository root")
		duration    = flag.Duration("duration", 40*time.Second, "how long the load runs")
		databaseURL = flag.String("database-url", "", "a PostgreSQL URL (default: SQLite in a temporary directory)")
		backend     = flag.String("cache", "memory", "the list cache backend: memory or redis")
		redisURL    = flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis, for -cache redis")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	d, err := loadDashboard(filepath.Join(root, *dashPath))
	if err != nil {
		return err
	}
	for _, p := range d.Panels {
		if evaluators[p.Title] == nil {
			return fmt.Errorf("panel %q has no evaluator in eval.go", p.Title)
		}
	}
	work, err := os.MkdirTemp("", "taskflow-dashboard-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintln(os.Stderr, "building and starting the service...")
	svc, err := startService(ctx, serviceConfig{
		root: root, workDir: work, databaseURL: *databaseURL, backend: *backend, redisURL: *redisURL,
		extraEnv: loadEnv,
	})
	if err != nil {
		return err
	}
	defer svc.stop()

	tl, sent, err := measure(ctx, svc, *duration)
	if err != nil {
		return err
	}
	store := "SQLite"
	if *databaseURL != "" {
		store = "PostgreSQL"
	}
	header := []string{
		fmt.Sprintf("%s - %s, %s list cache: %s of mixed load (%d requests), scraped every second, rates over %ds",
			d.Title, store, *backend, duration.Round(time.Second), sent, rateWindow),
		"Shaded: " + phaseNames() + ". Panels from deploy/grafana/taskflow.json (go run ./cmd/taskflow-dashboard).",
	}
	charts := make([]chart, 0, len(d.Panels))
	for _, p := range d.Panels {
		charts = append(charts, buildChart(p, tl))
	}
	img := render(charts, 3, header, len(tl))
	path := *out
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%d panels, %d scrapes, %d requests)\n", path, len(charts), len(tl), sent)
	return nil
}

// loadEnv sets the limits the load is meant to hit: 30 authentication
// requests per minute per address (the flood passes them) and 900 requests
// per minute per organization (the noisy tenant passes it), and the
// production bcrypt cost; webhooks may go to the load's receiver on
// loopback, with retries after 0.5 s and 1 s (an event the receiver refuses
// while it is down is exhausted within the run).
var loadEnv = []string{
	"RATE_LIMIT_AUTH_PER_MINUTE=30",
	"RATE_LIMIT_ORG_PER_MINUTE=900",
	"BCRYPT_COST=12",
	"WEBHOOK_ALLOW_PRIVATE=true",
	"WEBHOOK_RETRY_SCHEDULE=500ms,1s",
	"WEBHOOK_DISABLE_AFTER=1000",
}

func phaseNames() string {
	var s []string
	for _, p := range phases {
		s = append(s, p.name)
	}
	return strings.Join(s, ", then ")
}

// measure sets up two tenants, each with a webhook to the load's
// receiver and an open event stream, then runs the load for d while
// scraping the admin listener every second; it returns the scrapes and
// the number of requests sent.
func measure(ctx context.Context, svc *service, d time.Duration) (timeline, int64, error) {
	c := newClient(svc.base)
	a, err := newTenant(ctx, c, "tenant-a")
	if err != nil {
		return nil, 0, err
	}
	b, err := newTenant(ctx, c, "tenant-b")
	if err != nil {
		return nil, 0, err
	}
	recv, err := startReceiver()
	if err != nil {
		return nil, 0, err
	}
	defer recv.close()
	streams, closeStreams := context.WithCancel(ctx)
	defer closeStreams()
	for _, t := range []*tenant{a, b} {
		if err := addHook(ctx, c, t, recv.url+"/hook"); err != nil {
			return nil, 0, err
		}
		if err := openStream(streams, svc.base, t); err != nil {
			return nil, 0, err
		}
	}
	c.sent.Store(0)
	scraper := &http.Client{Timeout: 5 * time.Second}
	var tl timeline
	take := func() error {
		s, err := scrape(ctx, scraper, svc.adminBase+"/metrics")
		if err != nil {
			return err
		}
		tl = append(tl, snapshot{at: time.Now(), samples: s})
		return nil
	}
	if err := take(); err != nil {
		return nil, 0, err
	}
	loadDone := make(chan struct{})
	recv.run(time.Now(), d)
	go func() {
		runLoad(ctx, c, a, b, d)
		close(loadDone)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	fmt.Fprintf(os.Stderr, "load for %s...\n", d)
	for {
		select {
		case <-ctx.Done():
			<-loadDone
			return nil, 0, ctx.Err()
		case <-tick.C:
			if err := take(); err != nil {
				return nil, 0, err
			}
			select {
			case <-loadDone:
				report(c)
				return tl, c.sent.Load(), nil
			default:
			}
		}
	}
}

func report(c *client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	codes := make([]int, 0, len(c.status))
	for k := range c.status {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	var parts []string
	for _, k := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", k, c.status[k]))
	}
	fmt.Fprintln(os.Stderr, "answers by status:", strings.Join(parts, ", "))
}
