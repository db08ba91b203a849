package ports

import (
	"context"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// Notifier carries wake-ups between the replicas: "organization org has
// committed events up to id last". A notification is a hint, never the
// data: readers take the events from the EventStore, so a notification
// that is lost, repeated or late costs latency, never an event.
type Notifier interface {
	// Publish announces, after the commit, that org's events up to last
	// are committed. It reaches every replica's Listen, this one's too.
	Publish(ctx context.Context, org domain.OrgID, last int64) error
	// Listen calls fn for every notification, from any replica, until ctx
	// ends; it returns only then, or when it cannot listen at all. fn with
	// org 0 means that notifications may have been missed (a reconnection):
	// every organization should look again. fn must not block.
	Listen(ctx context.Context, fn func(org domain.OrgID, last int64)) error
}

// StreamSlots counts the open event streams of each organization, across
// the replicas that share it, with leases: a holder that dies without
// releasing its slot loses it when its lease runs out.
type StreamSlots interface {
	// Acquire takes one of org's limit slots for holder (a unique name)
	// for ttl; false when limit holders have live leases already.
	Acquire(ctx context.Context, org domain.OrgID, holder string, limit int, ttl time.Duration) (bool, error)
	// Renew extends holder's lease by ttl from now (taking the slot back if
	// its lease ran out meanwhile).
	Renew(ctx context.Context, org domain.OrgID, holder string, ttl time.Duration) error
	// Release gives the slot up.
	Release(ctx context.Context, org domain.OrgID, holder string) error
}
