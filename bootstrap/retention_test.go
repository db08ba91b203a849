package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink that the loop's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPurgeLoop_PurgesAtStartThenEveryIntervalAndGoesOnAfterAFailure(t *testing.T) {
	var logs syncBuffer
	errDown := errors.New("database away")
	results := []error{nil, errDown, nil}
	calls := 0
	l := newLoop(func(context.Context) (int64, error) {
		err := results[min(calls, len(results)-1)]
		calls++
		return 2, err
	}, time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	rounds := make(chan error)
	l.rounds = rounds
	l.Start()
	for i, want := range results {
		if got := <-rounds; !errors.Is(got, want) {
			t.Fatalf("round %d: %v, want %v", i, got, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-l.done:
	default:
		t.Fatal("the loop still runs after Stop returned")
	}
	if out := logs.String(); !strings.Contains(out, "purge failed") || !strings.Contains(out, "purged old events") {
		t.Errorf("log:\n%s", out)
	}
}

func TestPurgeLoop_StopCancelsTheRunningPurge(t *testing.T) {
	started := make(chan struct{})
	l := newLoop(func(ctx context.Context) (int64, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	}, time.Hour, slog.New(slog.DiscardHandler))
	l.Start()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestPurgeLoop_StopBeforeStartIsANoOp(t *testing.T) {
	l := newLoop(func(context.Context) (int64, error) { return 0, nil }, time.Hour, slog.New(slog.DiscardHandler))
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
