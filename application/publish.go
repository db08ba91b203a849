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
type Publisher struct {
	n   ports.Notifier
	log *slog.Logger

	mu      sync.Mutex
	pending map[domain.OrgID]int64
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	failing bool
}

// NewPublisher returns a publisher; Start runs it.
func NewPublisher(n ports.Notifier, log *slog.Logger) *Publisher {
	return &Publisher{n: n, log: log, pending: map[domain.OrgID]int64{}, wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{})}
}

// Committed records that org's events up to last are committed.
func (p *Publisher) Committed(org domain.OrgID, last int64) {
	p.mu.Lock()
	if last > p.pending[org] {
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

// Stop sends what is pending and stops.
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
	for {
		select {
		case <-p.wake:
			p.flush()
		case <-p.quit:
			p.flush()
			return
		}
	}
}

func (p *Publisher) flush() {
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
