// Package notifytest is the contract suite of ports.Notifier and
// ports.StreamSlots, run against every implementation (in process,
// Postgres, Redis) by their tests. It imports the domain, the ports and
// the standard library only.
package notifytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// note is one notification as a listener heard it.
type note struct {
	org  domain.OrgID
	last int64
}

// listener records what a Listen hears.
type listener struct {
	mu    sync.Mutex
	notes []note
	done  chan error
}

func listen(t *testing.T, n ports.Notifier) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{done: make(chan error, 1)}
	go func() {
		l.done <- n.Listen(ctx, func(org domain.OrgID, last int64) {
			l.mu.Lock()
			l.notes = append(l.notes, note{org, last})
			l.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-l.done:
			if err != nil {
				t.Errorf("Listen returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Listen did not return within 10 s of its context ending")
		}
	})
	return l
}

func (l *listener) heard(want note) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.notes {
		if n == want {
			return true
		}
	}
	return false
}

func (l *listener) orgs() map[domain.OrgID]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[domain.OrgID]bool{}
	for _, n := range l.notes {
		m[n.org] = true
	}
	return m
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ready publishes on pub until every listener has heard it: a Listen that
// has just started may not be subscribed yet, and the port promises
// nothing for what is published before.
func ready(t *testing.T, pub ports.Notifier, ls ...*listener) {
	t.Helper()
	const org = domain.OrgID(1 << 40)
	var seq int64
	waitFor(t, "listeners subscribed", 15*time.Second, func() bool {
		seq++
		if err := pub.Publish(context.Background(), org, seq); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		for _, l := range ls {
			if !l.orgs()[org] {
				return false
			}
		}
		return true
	})
}

// Notifier runs the suite. newPair returns two notifiers that stand for
// two replicas of one installation (the same value where one process is
// every replica); newOther, when not nil, one of another installation.
func Notifier(t *testing.T, newPair func(t *testing.T) (a, b ports.Notifier), newOther func(t *testing.T) ports.Notifier) {
	t.Run("a publish reaches every replica's listener, this one's too", func(t *testing.T) {
		a, b := newPair(t)
		la, lb := listen(t, a), listen(t, b)
		ready(t, a, la, lb)
		want := note{org: 7, last: 42}
		if err := a.Publish(context.Background(), want.org, want.last); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		waitFor(t, "both listeners hear org 7 up to 42", 5*time.Second, func() bool { return la.heard(want) && lb.heard(want) })
	})
	t.Run("each notification keeps its organization and id", func(t *testing.T) {
		a, b := newPair(t)
		lb := listen(t, b)
		ready(t, a, lb)
		for org := domain.OrgID(1); org <= 5; org++ {
			if err := a.Publish(context.Background(), org, int64(org)*100); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		waitFor(t, "every organization's notification", 5*time.Second, func() bool {
			for org := domain.OrgID(1); org <= 5; org++ {
				if !lb.heard(note{org, int64(org) * 100}) {
					return false
				}
			}
			return true
		})
		lb.mu.Lock()
		defer lb.mu.Unlock()
		for _, n := range lb.notes {
			if n.org >= 1 && n.org <= 5 && n.last != int64(n.org)*100 {
				t.Errorf("heard org %d up to %d, which nobody published", n.org, n.last)
			}
		}
	})
	if newOther != nil {
		t.Run("another installation hears nothing", func(t *testing.T) {
			a, _ := newPair(t)
			other := newOther(t)
			la, lo := listen(t, a), listen(t, other)
			ready(t, a, la)
			ready(t, other, lo) // the other's listener is up too
			if err := a.Publish(context.Background(), 9, 99); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			waitFor(t, "this installation hears it", 5*time.Second, func() bool { return la.heard(note{9, 99}) })
			// Published on one connection and delivered in order on each,
			// a later notification of the other's own shows that the
			// first had its chance to arrive.
			if err := other.Publish(context.Background(), 10, 1); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			waitFor(t, "the other hears its own", 5*time.Second, func() bool { return lo.heard(note{10, 1}) })
			if lo.heard(note{9, 99}) {
				t.Fatal("another installation heard this one's notification")
			}
		})
	}
	t.Run("listen returns when its context ends", func(t *testing.T) {
		a, _ := newPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Listen(ctx, func(domain.OrgID, int64) {}) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Listen = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Listen did not return within 10 s")
		}
	})
}

// Slots runs the suite. newPair returns two slot counts that stand for two
// replicas sharing one count.
func Slots(t *testing.T, newPair func(t *testing.T) (a, b ports.StreamSlots)) {
	ctx := context.Background()
	acquire := func(t *testing.T, s ports.StreamSlots, org domain.OrgID, holder string, limit int, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.Acquire(ctx, org, holder, limit, ttl)
		if err != nil {
			t.Fatalf("Acquire(%s): %v", holder, err)
		}
		return ok
	}
	t.Run("the limit holds across replicas and per organization", func(t *testing.T) {
		a, b := newPair(t)
		if !acquire(t, a, 1, "h1", 2, time.Minute) || !acquire(t, b, 1, "h2", 2, time.Minute) {
			t.Fatal("the first two slots were refused")
		}
		if acquire(t, a, 1, "h3", 2, time.Minute) || acquire(t, b, 1, "h3", 2, time.Minute) {
			t.Fatal("a third slot was granted with a limit of 2")
		}
		if !acquire(t, b, 2, "h3", 2, time.Minute) {
			t.Fatal("another organization's slot was refused")
		}
		if !acquire(t, a, 1, "h1", 2, time.Minute) {
			t.Fatal("a holder acquiring again was refused")
		}
	})
	t.Run("a release frees the slot for any replica", func(t *testing.T) {
		a, b := newPair(t)
		acquire(t, a, 1, "h1", 1, time.Minute)
		if acquire(t, b, 1, "h2", 1, time.Minute) {
			t.Fatal("granted past the limit")
		}
		if err := a.Release(ctx, 1, "h1"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if !acquire(t, b, 1, "h2", 1, time.Minute) {
			t.Fatal("the released slot was refused")
		}
	})
	t.Run("a lease that runs out frees its slot; a renewed one does not", func(t *testing.T) {
		a, b := newPair(t)
		acquire(t, a, 1, "dead", 2, 300*time.Millisecond)
		acquire(t, a, 1, "alive", 2, 300*time.Millisecond)
		if acquire(t, b, 1, "new", 2, time.Minute) {
			t.Fatal("granted past the limit")
		}
		start := time.Now()
		waitFor(t, "the dead holder's lease runs out", 10*time.Second, func() bool {
			if err := a.Renew(ctx, 1, "alive", time.Minute); err != nil {
				t.Fatalf("Renew: %v", err)
			}
			return acquire(t, b, 1, "new", 2, time.Minute)
		})
		if time.Since(start) < 200*time.Millisecond {
			t.Fatalf("a slot freed after %s, before the 300 ms lease ran out", time.Since(start))
		}
		if acquire(t, b, 1, "another", 2, time.Minute) {
			t.Fatal("the renewed holder's slot was given away")
		}
	})
}
