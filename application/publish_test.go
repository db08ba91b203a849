package application_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// queueEvents queues what is appended, as the Postgres store does, and
// numbers it in Number.
type queueEvents struct {
	ports.EventStore
	mu      sync.Mutex
	queue   map[domain.OrgID][]domain.Event
	last    map[domain.OrgID]int64
	fail    int // Number calls left to fail
	numbers int
}

func newQueueEvents() *queueEvents {
	return &queueEvents{queue: map[domain.OrgID][]domain.Event{}, last: map[domain.OrgID]int64{}}
}

func (q *queueEvents) Append(_ context.Context, e *domain.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue[e.OrgID] = append(q.queue[e.OrgID], *e)
	return nil
}

func (q *queueEvents) Number(_ context.Context, org domain.OrgID) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.numbers++
	if q.fail > 0 {
		q.fail--
		return 0, errors.New("database away")
	}
	q.last[org] += int64(len(q.queue[org]))
	delete(q.queue, org)
	return q.last[org], nil
}

func (q *queueEvents) Queued(context.Context, int) ([]domain.OrgID, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var orgs []domain.OrgID
	for org := range q.queue {
		orgs = append(orgs, org)
	}
	return orgs, nil
}

// plainTx runs fn on its stores: a transaction that always commits.
type plainTx struct{ s ports.Stores }

func (x plainTx) InTx(_ context.Context, fn func(ports.Stores) error) error { return fn(x.s) }

// heard listens on n and returns the last id heard per organization.
func heard(t *testing.T, n *localNotifier) func(domain.OrgID) int64 {
	t.Helper()
	var (
		mu   sync.Mutex
		seen = map[domain.OrgID]int64{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = n.Listen(ctx, func(org domain.OrgID, last int64) {
			mu.Lock()
			seen[org] = max(seen[org], last)
			mu.Unlock()
		})
	}()
	waitUntil(t, "listening", func() bool { n.mu.Lock(); defer n.mu.Unlock(); return len(n.fns) == 1 })
	return func(org domain.OrgID) int64 {
		mu.Lock()
		defer mu.Unlock()
		return seen[org]
	}
}

// An event committed unnumbered is numbered by the publisher of the
// replica that wrote it, at once, and then announced with its id.
func TestPublisher_NumbersWhatWasCommittedUnnumberedThenAnnouncesIt(t *testing.T) {
	events, n := newQueueEvents(), &localNotifier{}
	last := heard(t, n)
	pub := application.NewPublisher(n, events, quietLog)
	_ = pub.Start(context.Background())
	defer func() { _ = pub.Stop(context.Background()) }()
	wtx, _ := application.PublishCommitted(plainTx{s: ports.Stores{Events: events}}, ports.Stores{Events: events}, pub)
	for range 3 {
		if err := wtx.InTx(context.Background(), func(s ports.Stores) error {
			return s.Events.Append(context.Background(), &domain.Event{OrgID: 4, Type: domain.EventTaskCreated})
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "org 4's three events numbered and announced", func() bool { return last(4) == 3 })
}

// What a replica left queued (it died between its commit and its
// numbering), or failed to number, the sweep numbers.
func TestPublisher_TheSweepNumbersWhatIsLeftQueued(t *testing.T) {
	events, n := newQueueEvents(), &localNotifier{}
	last := heard(t, n)
	// Queued by "another replica": nobody told this publisher.
	_ = events.Append(context.Background(), &domain.Event{OrgID: 7, Type: domain.EventTaskCreated})
	_ = events.Append(context.Background(), &domain.Event{OrgID: 7, Type: domain.EventTaskUpdated})
	// And one whose numbering fails the first time.
	_ = events.Append(context.Background(), &domain.Event{OrgID: 8, Type: domain.EventTaskCreated})
	events.fail = 1
	pub := application.NewPublisher(n, events, quietLog)
	pub.Committed(8, 0)
	_ = pub.Start(context.Background())
	defer func() { _ = pub.Stop(context.Background()) }()
	waitUntil(t, "the sweep numbers and announces both", func() bool { return last(7) == 2 && last(8) == 1 })
}
