package application

import (
	"context"
	"fmt"
	"time"

	"github.com/taskflow/taskflow/ports"
)

// PurgeBatch is how many events one purge statement deletes: small
// enough that no statement holds its locks for long.
const PurgeBatch = 1000

// Retention purges the events older than the retention period, of every
// organization. Where several replicas share a database, the store lets
// one purge at a time (ports.EventStore.Purge).
type Retention struct {
	events ports.EventStore
	clock  ports.Clock
	keep   time.Duration
}

// NewRetention builds the job's step; keep is EVENT_RETENTION.
func NewRetention(events ports.EventStore, clock ports.Clock, keep time.Duration) (*Retention, error) {
	if keep <= 0 {
		return nil, fmt.Errorf("retention: the retention period must be positive, got %v", keep)
	}
	return &Retention{events: events, clock: clock, keep: keep}, nil
}

// PurgeOnce deletes every event that occurred more than the retention
// period ago, batch by batch, and returns how many it deleted. It stops
// at the first batch that is not full: the end, or another replica
// purging meanwhile.
func (r *Retention) PurgeOnce(ctx context.Context) (int64, error) {
	before := r.clock.Now().Add(-r.keep)
	var total int64
	for {
		n, err := r.events.Purge(ctx, before, PurgeBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("purge events: %w", err)
		}
		if n < PurgeBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
