package application

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// Publisher tells the other replicas (and this one) of committed events,
// through a ports.Notifier, off the request path: a notifier that is slow
// or away (Redis frozen) never delays a write. Notifications of one
// organization that pile up are sent as one, naming the last id. One that
// is lost costs the streams a poll interval, never an event.
//
// Where the event store queues events for numbering after commit
// (ports.EventStore.Append), the publisher is also this replica's
// sequencer: an event committed unnumbered names its organization, which
// the publisher numbers (ports.EventStore.Number, a few organizations at
// a time) before it announces the last id. It waits NumberAfter after the
// first such commit, so that the commits of that window are numbered in
// one transaction per organization rather than one each: numbering costs
// the database a transaction, and under load most of it is per
// transaction, not per event. Every SweepEvery it also
// numbers whatever any replica left queued (one that died between its
// commit and its numbering): a committed event is numbered, and so
// listed and delivered, even then.
type Publisher struct {
	n      ports.Notifier
	events ports.EventStore
	log    *slog.Logger

	mu         sync.Mutex
	pending    map[domain.OrgID]int64
	unnumbered map[domain.OrgID]struct{}
	wake       chan struct{}
	quit       chan struct{}
	done       chan struct{}
	failing    bool
	numFailing bool
}

const (
	// SweepEvery is how often a publisher numbers what any replica left
	// queued.
	SweepEvery = time.Second
	// sweepBatch bounds the organizations one sweep numbers.
	sweepBatch = 1000
	// numberers bounds the organizations numbered at once: each takes a
	// database connection for a short transaction.
	numberers = 4
	// NumberAfter is how long the publisher gathers commits before it
	// numbers them. It delays the live feed and webhooks by as much; a
	// client reading its own writes (GET /events, task history) numbers
	// on its own and does not wait.
	NumberAfter = 10 * time.Millisecond
)

// NewPublisher returns a publisher; Start runs it. events numbers what is
// committed unnumbered; nil for a store that numbers in Append.
func NewPublisher(n ports.Notifier, events ports.EventStore, log *slog.Logger) *Publisher {
	return &Publisher{n: n, events: events, log: log, pending: map[domain.OrgID]int64{},
		unnumbered: map[domain.OrgID]struct{}{}, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
}

// Committed records that org's events up to last are committed; last 0
// says that org has events committed unnumbered.
func (p *Publisher) Committed(org domain.OrgID, last int64) {
	p.mu.Lock()
	switch {
	case last == 0:
		p.unnumbered[org] = struct{}{}
	case last > p.pending[org]:
		p.pending[org] = last
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Start sends notifications until Stop.
func (p *Publisher) Start(context.Context) error {
	go p.run()
	return nil
}

// Stop numbers and sends what is pending and stops.
func (p *Publisher) Stop(ctx context.Context) error {
	close(p.quit)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Publisher) run() {
	defer close(p.done)
	var sweep <-chan time.Time
	if p.events != nil {
		t := time.NewTicker(SweepEvery)
		defer t.Stop()
		sweep = t.C
	}
	for {
		select {
		case <-p.wake:
			p.gather()
		case <-sweep:
			p.sweep()
		case <-p.quit:
			p.flush()
			return
		}
		p.flush()
	}
}

// gather waits NumberAfter when there are events to number, so that
// the commits of that window are numbered together; Stop cuts it short.
func (p *Publisher) gather() {
	p.mu.Lock()
	waiting := len(p.unnumbered) > 0
	p.mu.Unlock()
	if !waiting || p.events == nil {
		return
	}
	t := time.NewTimer(NumberAfter)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.quit:
	}
}

// sweep marks every organization with queued events for numbering.
func (p *Publisher) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), SweepEvery)
	orgs, err := p.events.Queued(ctx, sweepBatch)
	cancel()
	p.numbered(err)
	p.mu.Lock()
	for _, org := range orgs {
		p.unnumbered[org] = struct{}{}
	}
	p.mu.Unlock()
}

func (p *Publisher) flush() {
	p.mu.Lock()
	todo := p.unnumbered
	p.unnumbered = map[domain.OrgID]struct{}{}
	p.mu.Unlock()
	p.number(todo)

	p.mu.Lock()
	batch := p.pending
	p.pending = map[domain.OrgID]int64{}
	p.mu.Unlock()
	for org, last := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := p.n.Publish(ctx, org, last)
		cancel()
		switch {
		case err != nil && !p.failing:
			p.log.Warn("event notifications: publish failed; streams fall back to polling", "err", err.Error())
			p.failing = true
		case err == nil && p.failing:
			p.log.Info("event notifications: publishing again")
			p.failing = false
		}
	}
}

// number numbers the organizations' queued events, numberers at a time,
// and marks each last id for publishing. An organization that fails stays
// queued in the database, for the next sweep.
func (p *Publisher) number(orgs map[domain.OrgID]struct{}) {
	if len(orgs) == 0 || p.events == nil {
		return
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, numberers)
		errs = make(chan error, len(orgs))
	)
	for org := range orgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			last, err := p.events.Number(ctx, org)
			cancel()
			errs <- err
			if err == nil && last > 0 {
				p.mu.Lock()
				p.pending[org] = max(p.pending[org], last)
				p.mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	var first error
	for err := range errs {
		if first == nil {
			first = err
		}
	}
	p.numbered(first)
}

// numbered logs the first numbering failure and the recovery.
func (p *Publisher) numbered(err error) {
	switch {
	case err != nil && !p.numFailing:
		p.log.Warn("events: numbering committed events failed; the sweep retries", "err", err.Error())
		p.numFailing = true
	case err == nil && p.numFailing:
		p.log.Info("events: numbering again")
		p.numFailing = false
	}
}

// PublishCommitted wraps the transactor and the stores so that every
// event appended is announced to pub once it is committed: after InTx
// commits for the events of a transaction, at once for an Append made
// outside one (it commits on its own). A rolled-back event is never
// announced.
func PublishCommitted(tx ports.Transactor, stores ports.Stores, pub *Publisher) (ports.Transactor, ports.Stores) {
	stores.Events = announcing{EventStore: stores.Events, done: pub.Committed}
	return publishingTx{tx: tx, pub: pub}, stores
}

type publishingTx struct {
	tx  ports.Transactor
	pub *Publisher
}

func (t publishingTx) InTx(ctx context.Context, fn func(ports.Stores) error) error {
	var appended []domain.Event
	err := t.tx.InTx(ctx, func(s ports.Stores) error {
		appended = appended[:0] // a retried transaction starts over
		s.Events = announcing{EventStore: s.Events, done: func(org domain.OrgID, id int64) {
			appended = append(appended, domain.Event{OrgID: org, ID: id})
		}}
		return fn(s)
	})
	if err == nil {
		for _, e := range appended {
			t.pub.Committed(e.OrgID, e.ID)
		}
	}
	return err
}

// announcing calls done with each appended event's organization and id.
type announcing struct {
	ports.EventStore
	done func(org domain.OrgID, id int64)
}

func (a announcing) Append(ctx context.Context, e *domain.Event) error {
	if err := a.EventStore.Append(ctx, e); err != nil {
		return err
	}
	a.done(e.OrgID, e.ID)
	return nil
}
