package application

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// jsonRep renders resources with encoding/json's defaults: enough for the
// use cases' tests, which look at events' types and changes.
type jsonRep struct{}

func (jsonRep) Task(t *domain.Task) ([]byte, error) { return json.Marshal(map[string]any{"id": t.ID}) }
func (jsonRep) Member(u *domain.User) ([]byte, error) {
	return json.Marshal(map[string]any{"id": u.ID})
}
func (jsonRep) Invite(i *domain.Invite) ([]byte, error) {
	return json.Marshal(map[string]any{"id": i.ID})
}

// storesTx runs fn on fixed stores, as if in a transaction that always
// commits (or, on an error, leaves the fakes as fn left them).
type storesTx struct{ s ports.Stores }

func (x storesTx) InTx(_ context.Context, fn func(ports.Stores) error) error { return fn(x.s) }

// memEvents keeps appended events.
type memEvents struct {
	ports.EventStore
	mu     sync.Mutex
	events []domain.Event
}

func (m *memEvents) Append(_ context.Context, e *domain.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.events) + 1)
	m.events = append(m.events, *e)
	return nil
}
