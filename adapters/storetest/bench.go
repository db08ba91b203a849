package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// BenchmarkList measures the uncached list's store call: one page of ten
// (eleven rows read) from an organization of fifty tasks.
func BenchmarkList(b *testing.B, s ports.Stores) {
	ctx := b.Context()
	o, err := domain.NewOrganization(unique("bench"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Orgs.Create(ctx, o); err != nil {
		b.Fatal(err)
	}
	for i := range 50 {
		tk, err := domain.NewTask(o.ID, 1, fmt.Sprint("task ", i), "a description of some length", nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Tasks.Create(ctx, tk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		page, err := s.Tasks.List(ctx, o.ID, ports.TaskFilter{Limit: 10})
		if err != nil || len(page.Tasks) != 10 || !page.HasMore {
			b.Fatalf("List = %d tasks, more %v, %v", len(page.Tasks), page.HasMore, err)
		}
	}
}

// numberEvery is how often BenchmarkOutbox numbers, as a busy replica's
// publisher does (application.NumberAfter).
const numberEvery = 10 * time.Millisecond

// BenchmarkOutbox measures what events cost concurrent writers: writers
// goroutines each commit transactions that create a task and, unless
// noEvent, append its event, either all in one organization or each in an
// organization of its own. Where the store queues events (Postgres), a
// numberer numbers each organization every numberEvery meanwhile, as a
// replica's publisher does, and once more at the end, inside the timing.
// It reports transactions per second (tx/s) besides ns/op (one
// transaction).
func BenchmarkOutbox(b *testing.B, s ports.Stores, tx ports.Transactor, writers int) {
	ctx := b.Context()
	newOrg := func() (domain.OrgID, domain.UserID) {
		o, err := domain.NewOrganization(unique("bench"), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Orgs.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
		u := newUser(o.ID, domain.RoleAdmin)
		if err := s.Users.Create(ctx, u); err != nil {
			b.Fatal(err)
		}
		return o.ID, u.ID
	}
	for _, c := range []struct {
		name            string
		oneOrg, noEvent bool
	}{
		{"one_org_with_events", true, false},
		{"one_org_without_events", true, true},
		{"an_org_each_with_events", false, false},
		{"an_org_each_without_events", false, true},
	} {
		b.Run(fmt.Sprintf("%s/writers=%d", c.name, writers), func(b *testing.B) {
			type tenant struct {
				org domain.OrgID
				by  domain.UserID
			}
			tenants := make([]tenant, writers)
			org, by := newOrg()
			for i := range tenants {
				if !c.oneOrg {
					org, by = newOrg()
				}
				tenants[i] = tenant{org, by}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			numberAll := func() {
				seen := map[domain.OrgID]bool{}
				for _, tn := range tenants {
					if seen[tn.org] {
						continue
					}
					seen[tn.org] = true
					if _, err := s.Events.Number(ctx, tn.org); err != nil {
						b.Error(err)
					}
				}
			}
			b.ResetTimer()
			start := time.Now()
			stop, numbered := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(numbered)
				t := time.NewTicker(numberEvery)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						if !c.noEvent {
							numberAll()
						}
					}
				}
			}()
			for w := range writers {
				wg.Go(func() {
					tn := tenants[w]
					for next.Add(1) <= int64(b.N) {
						err := tx.InTx(ctx, func(s ports.Stores) error {
							tk, err := domain.NewTask(tn.org, tn.by, "bench task", "", nil, time.Now())
							if err != nil {
								return err
							}
							if err := s.Tasks.Create(ctx, tk); err != nil {
								return err
							}
							if c.noEvent {
								return nil
							}
							return s.Events.Append(ctx, &domain.Event{OrgID: tn.org, Type: domain.EventTaskCreated,
								OccurredAt: time.Now(), Subject: domain.EventSubject{Type: domain.SubjectTask, ID: int64(tk.ID)},
								Data: []byte(`{"task":{"id":1,"title":"bench task"}}`)})
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			close(stop)
			<-numbered
			if !c.noEvent {
				numberAll()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
		})
	}
}
