package notify

import (
	"context"
	"sync"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.Notifier    = (*Memory)(nil)
	_ ports.StreamSlots = (*MemorySlots)(nil)
)

// Memory is the in-process Notifier: one process is every replica there
// is (the embedded SQLite store).
type Memory struct {
	mu        sync.Mutex
	listeners map[int]func(domain.OrgID, int64)
	next      int
}

// NewMemory returns an in-process notifier.
func NewMemory() *Memory { return &Memory{listeners: map[int]func(domain.OrgID, int64){}} }

// Publish calls every listener at once, in the caller's goroutine
// (listeners do not block).
func (m *Memory) Publish(_ context.Context, org domain.OrgID, last int64) error {
	m.mu.Lock()
	fns := make([]func(domain.OrgID, int64), 0, len(m.listeners))
	for _, fn := range m.listeners {
		fns = append(fns, fn)
	}
	m.mu.Unlock()
	for _, fn := range fns {
		fn(org, last)
	}
	return nil
}

// Listen registers fn until ctx ends.
func (m *Memory) Listen(ctx context.Context, fn func(domain.OrgID, int64)) error {
	m.mu.Lock()
	id := m.next
	m.next++
	m.listeners[id] = fn
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	delete(m.listeners, id)
	m.mu.Unlock()
	return nil
}

// MemorySlots counts streams in this process only: exact for a single
// process, per replica when there are several.
type MemorySlots struct {
	mu    sync.Mutex
	now   func() time.Time
	slots map[domain.OrgID]map[string]time.Time // holder -> lease end
}

// NewMemorySlots returns an empty count.
func NewMemorySlots() *MemorySlots {
	return &MemorySlots{now: time.Now, slots: map[domain.OrgID]map[string]time.Time{}}
}

func (m *MemorySlots) live(org domain.OrgID) map[string]time.Time {
	held := m.slots[org]
	if held == nil {
		held = map[string]time.Time{}
		m.slots[org] = held
	}
	now := m.now()
	for h, until := range held {
		if !until.After(now) {
			delete(held, h)
		}
	}
	return held
}

// Acquire takes a slot unless limit live leases are held.
func (m *MemorySlots) Acquire(_ context.Context, org domain.OrgID, holder string, limit int, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	held := m.live(org)
	if _, ok := held[holder]; !ok && len(held) >= limit {
		return false, nil
	}
	held[holder] = m.now().Add(ttl)
	return true, nil
}

// Renew extends holder's lease.
func (m *MemorySlots) Renew(_ context.Context, org domain.OrgID, holder string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live(org)[holder] = m.now().Add(ttl)
	return nil
}

// Release frees holder's slot.
func (m *MemorySlots) Release(_ context.Context, org domain.OrgID, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	held := m.slots[org]
	delete(held, holder)
	if len(held) == 0 {
		delete(m.slots, org)
	}
	return nil
}
