package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// streamFanout is how many event streams the stream_fanout scenario holds
// open in the writes organization (STREAM_MAX_PER_ORG's default).
const streamFanout = 100

// streamFan is streamFanout open GET /events/stream clients of one
// organization. For every task.created frame of an event that occurred
// since the last reset it records the time from the event's occurred_at
// (taken by the use case just before its commit, on this machine's
// clock) to the frame's arrival: commit to frame, within the little the
// commit itself takes.
type streamFan struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	hist   histogram
	since  time.Time
	frames uint64
	failed []string
}

// openStreamFan opens n streams from the event after after and reads them
// in the background until close.
func openStreamFan(ctx context.Context, base, token string, after int64, n int) (*streamFan, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &streamFan{cancel: cancel, since: time.Now()}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	for i := range n {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/events/stream?after="+strconv.FormatInt(after, 10), nil)
		if err != nil {
			f.close()
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("open stream %d: %w", i+1, err)
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			f.close()
			return nil, fmt.Errorf("open stream %d: %d %s", i+1, resp.StatusCode, body)
		}
		f.wg.Add(1)
		go f.read(resp)
	}
	return f, nil
}

func (f *streamFan) read(resp *http.Response) {
	defer f.wg.Done()
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var event, data string
	var at struct {
		OccurredAt time.Time `json:"occurred_at"`
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			f.mu.Lock()
			if !f.closed() {
				f.failed = append(f.failed, err.Error())
			}
			f.mu.Unlock()
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && event != "":
			now := time.Now()
			if event == "task.created" && json.Unmarshal([]byte(data), &at) == nil {
				f.mu.Lock()
				if !at.OccurredAt.Before(f.since) {
					f.hist.record(max(0, now.Sub(at.OccurredAt)))
					f.frames++
				}
				f.mu.Unlock()
			}
			event, data = "", ""
		}
	}
}

// closed reports whether close has begun (the caller holds f.mu).
func (f *streamFan) closed() bool { return f.cancel == nil }

// reset forgets what was recorded: only events from now on count.
func (f *streamFan) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hist, f.frames, f.since = histogram{}, 0, time.Now()
}

func (f *streamFan) close() {
	f.mu.Lock()
	cancel := f.cancel
	f.cancel = nil
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

// summary describes the fan-out to the streams of the tasks created
// (warm-up included) since the last reset.
func (f *streamFan) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frames == 0 {
		return fmt.Sprintf("%d streams: no task.created frame arrived (does this build record events?)", streamFanout)
	}
	s := fmt.Sprintf("%d streams, %d task.created frames (warm-up included): commit to frame p50 %s, p99 %s, max %s",
		streamFanout, f.frames, f.hist.quantile(0.5).Round(10*time.Microsecond),
		f.hist.quantile(0.99).Round(10*time.Microsecond), time.Duration(f.hist.max).Round(10*time.Microsecond))
	if len(f.failed) > 0 {
		s += fmt.Sprintf("; %d streams broke (%s)", len(f.failed), f.failed[0])
	}
	return s
}
