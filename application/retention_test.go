package application

import (
	"context"
	"errors"
	"testing"
	"time"
)

// purgeLog is an EventStore whose Purge deletes from a count of old
// events, recording each call.
type purgeLog struct {
	memEvents
	left    int64
	befores []time.Time
	fail    error
}

func (p *purgeLog) Purge(_ context.Context, before time.Time, batch int) (int64, error) {
	p.befores = append(p.befores, before)
	if p.fail != nil {
		return 0, p.fail
	}
	n := min(p.left, int64(batch))
	p.left -= n
	return n, nil
}

func TestRetention_PurgeOnce_DeletesBatchByBatchEverythingOlderThanTheRetention(t *testing.T) {
	store := &purgeLog{left: 2*PurgeBatch + 5}
	r, err := NewRetention(store, fixedClock{}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.PurgeOnce(t.Context())
	if err != nil || n != 2*PurgeBatch+5 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if len(store.befores) != 3 {
		t.Fatalf("%d purge calls, want 3", len(store.befores))
	}
	want := fixedClock{}.Now().Add(-48 * time.Hour)
	for _, b := range store.befores {
		if !b.Equal(want) {
			t.Errorf("purged before %v, want %v", b, want)
		}
	}
}

func TestRetention_PurgeOnce_ReturnsTheStoresError(t *testing.T) {
	errDown := errors.New("down")
	r, _ := NewRetention(&purgeLog{fail: errDown}, fixedClock{}, time.Hour)
	if _, err := r.PurgeOnce(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("err %v", err)
	}
}

func TestNewRetention_RefusesANonPositivePeriod(t *testing.T) {
	if _, err := NewRetention(&purgeLog{}, fixedClock{}, 0); err == nil {
		t.Fatal("a zero retention was accepted")
	}
}
