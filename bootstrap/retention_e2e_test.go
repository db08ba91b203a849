package bootstrap_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/taskflow/taskflow/bootstrap"
	"github.com/taskflow/taskflow/config"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// startStores starts the whole app for cfg and returns its stores.
func startStores(t *testing.T, cfg *config.Config) (ports.Stores, func()) {
	t.Helper()
	var stores ports.Stores
	app := bootstrap.New(cfg, "retention-test", fx.Populate(&stores))
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start app: %v", err)
	}
	return stores, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop app: %v", err)
		}
	}
}

// The retention job is part of the service: a replica that starts purges
// the events older than EVENT_RETENTION, and keeps the others.
func TestRetention_AStartingReplicaPurgesEventsOlderThanTheRetention(t *testing.T) {
	t.Parallel()
	for _, db := range []struct {
		name string
		url  func(*testing.T) string
	}{
		{"postgres", newDatabase},
		{"sqlite", func(*testing.T) string { return "" }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, "memory", db.url(t))
			cfg.EventRetention = 48 * time.Hour
			ctx := t.Context()

			stores, stop := startStores(t, cfg)
			org, err := domain.NewOrganization(unique("retention"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := stores.Orgs.Create(ctx, org); err != nil {
				t.Fatal(err)
			}
			for _, age := range []time.Duration{72 * time.Hour, 49 * time.Hour, 47 * time.Hour, time.Minute} {
				e := &domain.Event{OrgID: org.ID, Type: domain.EventTaskCreated, OccurredAt: time.Now().Add(-age),
					Subject: domain.EventSubject{Type: domain.SubjectTask, ID: 1}, Data: []byte(`{}`)}
				if err := stores.Events.Append(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			stop()

			stores, stop = startStores(t, cfg)
			defer stop()
			deadline := time.Now().Add(30 * time.Second)
			for {
				got, err := stores.Events.List(ctx, org.ID, ports.EventFilter{Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) == 2 {
					if got[0].ID != 3 || got[1].ID != 4 {
						t.Fatalf("kept events %d and %d, want 3 and 4", got[0].ID, got[1].ID)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d events left 30 s after start, want the 2 younger than 48h", len(got))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
