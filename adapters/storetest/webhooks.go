package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// newWebhook is a hook of org whose cursor is the organization's newest
// event, so that it has nothing to deliver: only the claiming test, which
// runs alone in its database, makes hooks with events pending, since
// ClaimDue looks across organizations.
func (f *fixture) webhook(org domain.OrgID) *domain.Webhook {
	f.t.Helper()
	last, err := f.s.Events.Last(f.ctx, org)
	if err != nil {
		f.t.Fatalf("last event: %v", err)
	}
	w := &domain.Webhook{OrgID: org, URL: "https://hooks.example.com/" + unique("h"), Events: []string{"task.*", "member.joined"},
		Description: "é desc", Active: true, CreatedAt: t0, UpdatedAt: t0, Secret: []byte{1, 2, 3, 0, 255},
		Cursor: last, NextAttemptAt: t0}
	if err := f.s.Webhooks.Create(f.ctx, w); err != nil {
		f.t.Fatalf("create webhook: %v", err)
	}
	return w
}

func (f *fixture) getWebhook(org domain.OrgID, id domain.WebhookID) *domain.Webhook {
	f.t.Helper()
	w, err := f.s.Webhooks.Get(f.ctx, org, id)
	if err != nil {
		f.t.Fatalf("get webhook: %v", err)
	}
	return w
}

func (f *fixture) logDelivery(w *domain.Webhook, event int64, attempt int) *domain.WebhookDelivery {
	f.t.Helper()
	d := &domain.WebhookDelivery{OrgID: w.OrgID, WebhookID: w.ID, EventID: &event, EventType: domain.EventTaskCreated,
		Attempt: attempt, StatusCode: ptr(500), Error: "the receiver answered 500", DurationMS: 12, DeliveredAt: t0}
	if err := f.s.Webhooks.LogDelivery(f.ctx, d); err != nil {
		f.t.Fatalf("log delivery: %v", err)
	}
	return d
}

func hookIDs(hooks []*domain.Webhook) []domain.WebhookID {
	ids := make([]domain.WebhookID, len(hooks))
	for i, h := range hooks {
		ids[i] = h.ID
	}
	slices.Sort(ids)
	return ids
}

var webhookTests = []test{
	{"a_webhook_reads_back_as_created", func(t *testing.T, f *fixture) {
		o := f.org()
		w := f.webhook(o.ID)
		wantEqual(t, "created_at kept in UTC microseconds", w.CreatedAt, t0.UTC().Truncate(time.Microsecond))
		wantEqual(t, "webhook", f.getWebhook(o.ID, w.ID), w)
		w2 := f.webhook(o.ID)
		list, err := f.s.Webhooks.List(f.ctx, o.ID)
		wantNoErr(t, "list", err)
		wantEqual(t, "list, oldest first", list, []*domain.Webhook{w, w2})
	}},
	{"another_organizations_webhook_is_not_found", func(t *testing.T, f *fixture) {
		a, b := f.org(), f.org()
		w := f.webhook(a.ID)
		_, err := f.s.Webhooks.Get(f.ctx, b.ID, w.ID)
		wantErr(t, "get", err, domain.ErrWebhookNotFound)
		_, err = f.s.Webhooks.Update(f.ctx, b.ID, w.ID, false, func(h *domain.Webhook) error {
			t.Fatal("fn called for another organization's hook")
			return nil
		})
		wantErr(t, "update", err, domain.ErrWebhookNotFound)
		wantErr(t, "delete", f.s.Webhooks.Delete(f.ctx, b.ID, w.ID), domain.ErrWebhookNotFound)
		list, err := f.s.Webhooks.List(f.ctx, b.ID)
		wantNoErr(t, "list", err)
		wantEqual(t, "b's list", len(list), 0)
		ds, err := f.s.Webhooks.Deliveries(f.ctx, b.ID, w.ID, 10)
		wantNoErr(t, "deliveries", err)
		wantEqual(t, "b's view of a's deliveries before any", len(ds), 0)
		f.logDelivery(w, 1, 1)
		ds, err = f.s.Webhooks.Deliveries(f.ctx, b.ID, w.ID, 10)
		wantNoErr(t, "deliveries", err)
		wantEqual(t, "b's view of a's deliveries", len(ds), 0)
		d := &domain.WebhookDelivery{OrgID: b.ID, WebhookID: w.ID, EventType: domain.EventTaskCreated, Attempt: 1, DeliveredAt: t0}
		wantErr(t, "log a delivery of a's hook under b", f.s.Webhooks.LogDelivery(f.ctx, d), domain.ErrWebhookNotFound)
		// Settle under another organization writes nothing.
		ok, err := f.s.Webhooks.Settle(f.ctx, b.ID, w.ID, "", ports.WebhookSettlement{Cursor: 99, NextAttemptAt: t0}, true, t0)
		wantNoErr(t, "settle", err)
		wantEqual(t, "settled across organizations", ok, false)
		wantEqual(t, "a's hook", f.getWebhook(a.ID, w.ID).Cursor, w.Cursor)
	}},
	{"update_writes_what_fn_changed", func(t *testing.T, f *fixture) {
		o := f.org()
		w := f.webhook(o.ID)
		later := t0.Add(time.Hour).UTC().Truncate(time.Microsecond)
		expires := later.Add(24 * time.Hour)
		got, err := f.s.Webhooks.Update(f.ctx, o.ID, w.ID, false, func(h *domain.Webhook) error {
			h.URL, h.Events, h.Description = "https://other.example.com/x", []string{"*"}, ""
			h.Active, h.DisabledReason = false, "20 events in a row"
			h.PreviousSecret, h.PreviousExpiresAt, h.Secret = h.Secret, &expires, []byte("new")
			h.Cursor, h.Attempt, h.Failures, h.NextAttemptAt, h.UpdatedAt = 7, 3, 2, later, later
			return nil
		})
		wantNoErr(t, "update", err)
		wantEqual(t, "read back", f.getWebhook(o.ID, w.ID), got)
		wantEqual(t, "previous secret", got.PreviousSecret, []byte{1, 2, 3, 0, 255})
		boom := errors.New("boom")
		_, err = f.s.Webhooks.Update(f.ctx, o.ID, w.ID, false, func(h *domain.Webhook) error {
			h.URL = "https://changed.example.com"
			return boom
		})
		wantErr(t, "fn's error", err, boom)
		wantEqual(t, "unchanged after fn's error", f.getWebhook(o.ID, w.ID), got)
	}},
	{"delete_removes_the_hook_and_its_deliveries", func(t *testing.T, f *fixture) {
		o := f.org()
		w := f.webhook(o.ID)
		f.logDelivery(w, 1, 1)
		wantNoErr(t, "delete", f.s.Webhooks.Delete(f.ctx, o.ID, w.ID))
		_, err := f.s.Webhooks.Get(f.ctx, o.ID, w.ID)
		wantErr(t, "get after delete", err, domain.ErrWebhookNotFound)
		ds, err := f.s.Webhooks.Deliveries(f.ctx, o.ID, w.ID, 10)
		wantNoErr(t, "deliveries", err)
		wantEqual(t, "deliveries after delete", len(ds), 0)
		wantErr(t, "delete again", f.s.Webhooks.Delete(f.ctx, o.ID, w.ID), domain.ErrWebhookNotFound)
	}},
	{"the_deliveries_log_keeps_the_newest_entries", func(t *testing.T, f *fixture) {
		o := f.org()
		w, other := f.webhook(o.ID), f.webhook(o.ID)
		first := f.logDelivery(w, 1, 1)
		ds, err := f.s.Webhooks.Deliveries(f.ctx, o.ID, w.ID, 10)
		wantNoErr(t, "deliveries", err)
		wantEqual(t, "one entry", ds, []domain.WebhookDelivery{*first})
		f.logDelivery(other, 1, 1)
		ping := &domain.WebhookDelivery{OrgID: o.ID, WebhookID: w.ID, EventType: domain.EventWebhookPing, Attempt: 1,
			Error: "timed out", DurationMS: 10000, DeliveredAt: t0}
		wantNoErr(t, "log a ping", f.s.Webhooks.LogDelivery(f.ctx, ping))
		for i := range domain.MaxWebhookDeliveries + 5 {
			f.logDelivery(w, int64(i+2), 1)
		}
		ds, err = f.s.Webhooks.Deliveries(f.ctx, o.ID, w.ID, 1000)
		wantNoErr(t, "deliveries", err)
		wantEqual(t, "entries kept", len(ds), domain.MaxWebhookDeliveries)
		wantEqual(t, "newest first", *ds[0].EventID, int64(domain.MaxWebhookDeliveries+6))
		wantEqual(t, "oldest kept", *ds[len(ds)-1].EventID, int64(7))
		ds, err = f.s.Webhooks.Deliveries(f.ctx, o.ID, other.ID, 1000)
		wantNoErr(t, "other's deliveries", err)
		wantEqual(t, "another hook's log is its own", len(ds), 1)
	}},
	{"claiming_settling_and_leases", claimingTest},
}

// claimingTest is the one test that makes hooks with events pending:
// ClaimDue looks across organizations, so it runs its cases in sequence.
func claimingTest(t *testing.T, f *fixture) {
	o := f.org()
	due := f.webhook(o.ID)
	inactive := f.webhook(o.ID)
	later := f.webhook(o.ID)
	idle := f.webhook(o.ID) // its cursor is moved past the events below
	f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 1))
	last := f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 1)).ID
	now := t0.Add(time.Minute)
	_, err := f.s.Webhooks.Update(f.ctx, o.ID, inactive.ID, false, func(h *domain.Webhook) error { h.Active = false; return nil })
	wantNoErr(t, "deactivate", err)
	_, err = f.s.Webhooks.Update(f.ctx, o.ID, later.ID, false, func(h *domain.Webhook) error {
		h.NextAttemptAt = now.Add(time.Hour)
		return nil
	})
	wantNoErr(t, "postpone", err)
	_, err = f.s.Webhooks.Update(f.ctx, o.ID, idle.ID, false, func(h *domain.Webhook) error { h.Cursor = last; return nil })
	wantNoErr(t, "move the cursor", err)

	lease := now.Add(time.Minute)
	got, err := f.s.Webhooks.ClaimDue(f.ctx, now, lease, "tok1", 10)
	wantNoErr(t, "claim", err)
	wantEqual(t, "claimed: the due, active hook with events after its cursor", hookIDs(got), []domain.WebhookID{due.ID})
	wantEqual(t, "claimed hook", got[0], f.getWebhook(o.ID, due.ID))
	got, err = f.s.Webhooks.ClaimDue(f.ctx, now, lease, "tok2", 10)
	wantNoErr(t, "claim again", err)
	wantEqual(t, "claimed while the lease holds", len(got), 0)

	// Settling needs the claim's token.
	st := ports.WebhookSettlement{Cursor: 5, Attempt: 2, NextAttemptAt: now.Add(time.Hour), Failures: 1}
	ok, err := f.s.Webhooks.Settle(f.ctx, o.ID, due.ID, "tok2", st, true, time.Time{})
	wantNoErr(t, "settle with another token", err)
	wantEqual(t, "settled with another token", ok, false)
	ok, err = f.s.Webhooks.Settle(f.ctx, o.ID, due.ID, "tok1", st, false, lease.Add(time.Minute))
	wantNoErr(t, "settle and keep", err)
	wantEqual(t, "settled", ok, true)
	h := f.getWebhook(o.ID, due.ID)
	wantEqual(t, "state", []any{h.Cursor, h.Attempt, h.NextAttemptAt, h.Failures, h.Active},
		[]any{int64(5), 2, now.Add(time.Hour).UTC().Truncate(time.Microsecond), 1, true})
	ok, err = f.s.Webhooks.Settle(f.ctx, o.ID, due.ID, "tok1", ports.WebhookSettlement{Cursor: 6, NextAttemptAt: now,
		Failures: 20, Disable: true, DisabledReason: "exhausted"}, true, time.Time{})
	wantNoErr(t, "settle and release", err)
	wantEqual(t, "settled", ok, true)
	h = f.getWebhook(o.ID, due.ID)
	wantEqual(t, "disabled", []any{h.Active, h.DisabledReason, h.Cursor}, []any{false, "exhausted", int64(6)})
	ok, err = f.s.Webhooks.Settle(f.ctx, o.ID, due.ID, "tok1", st, true, time.Time{})
	wantNoErr(t, "settle after release", err)
	wantEqual(t, "settled after release", ok, false)

	// A lease that ran out is taken over, and the old holder's settling
	// fails; an Update that drops the claim does the same.
	_, err = f.s.Webhooks.Update(f.ctx, o.ID, due.ID, false, func(h *domain.Webhook) error {
		h.Active, h.Cursor, h.NextAttemptAt = true, 0, now
		return nil
	})
	wantNoErr(t, "re-enable", err)
	got, err = f.s.Webhooks.ClaimDue(f.ctx, now, now.Add(time.Second), "old", 10)
	wantNoErr(t, "claim", err)
	wantEqual(t, "claimed", hookIDs(got), []domain.WebhookID{due.ID})
	after := now.Add(2 * time.Second)
	got, err = f.s.Webhooks.ClaimDue(f.ctx, after, after.Add(time.Minute), "new", 10)
	wantNoErr(t, "claim after the lease", err)
	wantEqual(t, "taken over", hookIDs(got), []domain.WebhookID{due.ID})
	ok, err = f.s.Webhooks.Settle(f.ctx, o.ID, due.ID, "old", st, true, time.Time{})
	wantNoErr(t, "settle by the old holder", err)
	wantEqual(t, "old holder settled", ok, false)
	_, err = f.s.Webhooks.Update(f.ctx, o.ID, due.ID, true, func(*domain.Webhook) error { return nil })
	wantNoErr(t, "update dropping the claim", err)
	ok, err = f.s.Webhooks.Settle(f.ctx, o.ID, due.ID, "new", st, true, time.Time{})
	wantNoErr(t, "settle after the claim was dropped", err)
	wantEqual(t, "settled after the claim was dropped", ok, false)
	wantNoErr(t, "deactivate", func() error {
		_, err := f.s.Webhooks.Update(f.ctx, o.ID, due.ID, true, func(h *domain.Webhook) error { h.Active = false; return nil })
		return err
	}())

	// Concurrent claimers never claim one hook twice.
	const hooks, claimers = 40, 8
	want := []domain.WebhookID{idle.ID} // it has an event after its cursor again
	for range hooks {
		want = append(want, f.webhook(o.ID).ID)
	}
	f.appendEvent(newEvent(o.ID, domain.EventTaskCreated, domain.SubjectTask, 1))
	var mu sync.Mutex
	var claimed []domain.WebhookID
	errs := race(claimers, func(i int) error {
		for {
			got, err := f.s.Webhooks.ClaimDue(f.ctx, now, now.Add(time.Hour), fmt.Sprint("c", i), 3)
			if err != nil || len(got) == 0 {
				return err
			}
			mu.Lock()
			claimed = append(claimed, hookIDs(got)...)
			mu.Unlock()
		}
	})
	for _, err := range errs {
		wantNoErr(t, "concurrent claim", err)
	}
	slices.Sort(claimed)
	wantEqual(t, "each hook claimed exactly once", claimed, want)
}
