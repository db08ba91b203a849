package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator is closed-loop: a fixed number of workers, each
// sending its next request as soon as the previous answer is read, for a
// fixed time. Every measurement of the benchmark, the ceilings included,
// goes through run, so that service and ceiling pay the same client costs.

// op performs request number seq (unique within a run) on worker w. It
// returns done=true when it has nothing more to do (a pool of one-shot
// items ran out), in which case nothing is recorded.
type op func(ctx context.Context, w int, seq uint64) (done bool, err error)

type runOpts struct {
	conc   int
	warmup time.Duration
	dur    time.Duration
	// drain is how long in-flight requests may take after dur before they
	// are cancelled and counted as errors.
	drain time.Duration
	// serverPID is sampled for RSS and CPU while the run lasts (0: none).
	serverPID int
	// pgDB is the database whose Postgres backends count as ours.
	pgDB string
	// quietWait is how long to wait for an idle machine before starting.
	quietWait time.Duration
	// onMeasure, if set, is called when the measured part starts (after
	// the warm-up).
	onMeasure func()
}

// loadResult is what one run measured.
type loadResult struct {
	hist      histogram
	errors    uint64
	elapsed   time.Duration // start to the last answer (in-flight requests drain)
	exhausted bool
	errSample []string
	usage     usage
	attempts  int // runs made to get this one (more than 1: earlier ones were noisy)
}

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.hist.n) / r.elapsed.Seconds()
}

// errAbandoned marks a request cut short because the whole run was
// stopped (an interrupt, or a background load being switched off): it is
// neither a success nor an error.
var errAbandoned = errors.New("abandoned")

// run warms up for o.warmup (results discarded), then measures for o.dur.
// Workers stop sending at the end of o.dur; answers still in flight are
// awaited (up to o.drain) and counted, and the rate is taken over the
// time to the last answer, so that slow requests (bcrypt) are not
// penalised for being cut off.
func run(ctx context.Context, o runOpts, fn op) *loadResult {
	if o.quietWait > 0 {
		waitQuiet(o.quietWait, 0.15)
	}
	if o.warmup > 0 {
		_ = loop(ctx, o.conc, o.warmup, o.drain, fn)
	}
	if o.onMeasure != nil {
		o.onMeasure()
	}
	mon := startMonitor(o.serverPID, o.pgDB)
	r := loop(ctx, o.conc, o.dur, o.drain, fn)
	r.usage = mon.stop()
	return r
}

func loop(ctx context.Context, conc int, dur, drain time.Duration, fn op) *loadResult {
	start := time.Now()
	end := start.Add(dur)
	hardCtx, cancel := context.WithDeadline(ctx, end.Add(drain))
	defer cancel()

	var (
		seq       atomic.Uint64
		errs      atomic.Uint64
		exhausted atomic.Bool
		mu        sync.Mutex
		samples   []string
		wg        sync.WaitGroup
		hists     = make([]histogram, conc)
		lasts     = make([]time.Time, conc)
	)
	sample := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(samples) < 5 {
			samples = append(samples, err.Error())
		}
	}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := &hists[w]
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				done, err := fn(hardCtx, w, seq.Add(1)-1)
				t1 := time.Now()
				if done {
					exhausted.Store(true)
					return
				}
				if err != nil && ctx.Err() != nil {
					return // the run was stopped: not an error
				}
				if err != nil && errors.Is(err, errAbandoned) {
					return
				}
				lasts[w] = t1
				if err != nil {
					errs.Add(1)
					sample(err)
					continue
				}
				h.record(t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	r := &loadResult{errors: errs.Load(), exhausted: exhausted.Load(), errSample: samples}
	last := start
	for w := range hists {
		r.hist.merge(&hists[w])
		if lasts[w].After(last) {
			last = lasts[w]
		}
	}
	r.elapsed = last.Sub(start)
	return r
}

// background runs fn with conc workers until the returned stop is called;
// stop reports how many calls succeeded and failed, with the first few
// errors. Requests cut off by stop count as neither.
func background(ctx context.Context, conc int, fn op) (stop func() (ok, failed uint64, errs []string)) {
	bctx, cancel := context.WithCancel(ctx)
	var (
		okN, failN atomic.Uint64
		seq        atomic.Uint64
		wg         sync.WaitGroup
		mu         sync.Mutex
		samples    []string
	)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bctx.Err() == nil {
				done, err := fn(bctx, w, seq.Add(1)-1)
				switch {
				case done:
					return
				case bctx.Err() != nil:
					return
				case err != nil:
					failN.Add(1)
					mu.Lock()
					if len(samples) < 3 {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
				default:
					okN.Add(1)
				}
			}
		}()
	}
	return func() (uint64, uint64, []string) {
		cancel()
		wg.Wait()
		return okN.Load(), failN.Load(), samples
	}
}

// newClient returns an HTTP/1.1 client that keeps exactly conc
// connections alive to one loopback host, without compression (neither
// the service nor the ceiling compresses) and with a generous timeout
// (logins under a flood queue for seconds).
func newClient(conc int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      16 << 10,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// request is one HTTP call of a scenario and the status it must get.
type request struct {
	method string
	url    string
	token  string
	body   []byte
	expect int
}

// httpOp turns a request generator into an op over client. A status other
// than the expected one is an error, with the start of the body kept for
// the report.
func httpOp(client *http.Client, gen func(w int, seq uint64) (request, bool)) op {
	return func(ctx context.Context, w int, seq uint64) (bool, error) {
		rq, ok := gen(w, seq)
		if !ok {
			return true, nil
		}
		var body io.Reader
		if rq.body != nil {
			body = bytes.NewReader(rq.body)
		}
		req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, body)
		if err != nil {
			return false, err
		}
		if rq.token != "" {
			req.Header.Set("Authorization", "Bearer "+rq.token)
		}
		if rq.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, fmt.Errorf("%s %s: %w", rq.method, trimURL(rq.url), err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != rq.expect {
			snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 240))
			_, _ = io.Copy(io.Discard, resp.Body)
			return false, fmt.Errorf("%s %s: status %d (want %d): %s", rq.method, trimURL(rq.url), resp.StatusCode, rq.expect, snippet)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return false, fmt.Errorf("%s %s: reading body: %w", rq.method, trimURL(rq.url), err)
		}
		return false, nil
	}
}

func trimURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[i+3+j:]
		}
	}
	return u
}
