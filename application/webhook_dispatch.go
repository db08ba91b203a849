package application

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// DispatchConfig tunes the delivery loop.
type DispatchConfig struct {
	// RetrySchedule is the delay before each retry (WEBHOOK_RETRY_SCHEDULE):
	// an event gets 1+len(RetrySchedule) attempts, then it is exhausted.
	RetrySchedule []time.Duration
	// DisableAfter exhausted events in a row disable the hook
	// (WEBHOOK_DISABLE_AFTER).
	DisableAfter int
	// Timeout bounds one attempt (WEBHOOK_TIMEOUT); the claim's lease is
	// derived from it.
	Timeout time.Duration
	// Batch is how many hooks one Step claims at most (default 32).
	Batch int
	// PerClaim is how many events in a row one claim may deliver to its
	// hook while they succeed (default 100).
	PerClaim int
	// Jitter spreads a retry delay; nil adds up to a fifth of it, at
	// random, so that the retries of many hooks failing together do not
	// arrive together.
	Jitter func(time.Duration) time.Duration
	// Meter, when set, counts each attempt by its result.
	Meter ports.WebhookMeter
}

// Dispatcher delivers events to webhooks: the delivery loop as a use case
// that a clock and a sender drive. Each Step claims the hooks that are
// due (ports.WebhookStore.ClaimDue: on Postgres FOR UPDATE SKIP LOCKED,
// so each attempt is made by exactly one replica), and for each makes
// the attempts due, outside any transaction, settling each one (new
// delivery state, the deliveries log, and when the hook is disabled its
// webhook.disabled event) in one transaction that holds only while the
// claim does.
//
// Guarantees. A hook's events are attempted in event order: the next one
// waits until the current one is delivered or exhausted. Events are
// read from the log after their commit, so an uncommitted change is
// never sent, and a committed one is sent even if the replica that made
// it died right after (at least once: a replica dying between an
// attempt and its settling leaves the claim to expire, and another
// replica makes the attempt again, with the same webhook-id).
type Dispatcher struct {
	tx     ports.Transactor
	hooks  ports.WebhookStore
	events ports.EventStore
	sender ports.WebhookSender
	box    ports.SecretBox
	clock  ports.Clock
	encode EventEncoder
	rep    WebhookRepresenter
	log    *slog.Logger
	cfg    DispatchConfig
	lease  time.Duration
	pings  sync.WaitGroup

	dueMu sync.Mutex
	dueAt map[*domain.Webhook]time.Time // for Lag: the event each hook in work attempts next
}

// NewDispatcher builds the delivery loop. hooks and events are stores
// over the pools.
func NewDispatcher(tx ports.Transactor, hooks ports.WebhookStore, events ports.EventStore, sender ports.WebhookSender,
	box ports.SecretBox, clock ports.Clock, encode EventEncoder, rep WebhookRepresenter, log *slog.Logger,
	cfg DispatchConfig) *Dispatcher {
	if cfg.Batch <= 0 {
		cfg.Batch = 32
	}
	if cfg.PerClaim <= 0 {
		cfg.PerClaim = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Jitter == nil {
		// Jitter spreads retries; it need not be unpredictable.
		cfg.Jitter = func(d time.Duration) time.Duration { return d + mrand.N(d/5+1) } //nolint:gosec // G404
	}
	return &Dispatcher{tx: tx, hooks: hooks, events: events, sender: sender, box: box, clock: clock,
		encode: encode, rep: rep, log: log, cfg: cfg, dueAt: map[*domain.Webhook]time.Time{},
		// Long enough for an attempt and its settling, with a margin for
		// the clocks of two replicas (a replica whose clock runs ahead by
		// more may take a hook over early: a duplicate, never a loss);
		// short enough that a dead replica's hooks are taken over soon.
		lease: 2*cfg.Timeout + min(30*time.Second, 2*cfg.Timeout)}
}

// Lease is how long a claim holds a hook.
func (d *Dispatcher) Lease() time.Duration { return d.lease }

// errClaimLost aborts a settling whose claim is no longer held.
var errClaimLost = errors.New("webhook claim lost")

// Step claims the hooks due now and makes their attempts, and returns
// how many hooks it claimed (0: nothing was due).
func (d *Dispatcher) Step(ctx context.Context) (int, error) {
	now := d.clock.Now()
	token, err := claimToken()
	if err != nil {
		return 0, err
	}
	claimed, err := d.hooks.ClaimDue(ctx, now, now.Add(d.lease), token, d.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim webhooks: %w", err)
	}
	var wg sync.WaitGroup
	for _, h := range claimed {
		wg.Go(func() {
			if err := d.work(ctx, h, token); err != nil && ctx.Err() == nil {
				d.log.Warn("webhook dispatch", "organization_id", h.OrgID, "webhook_id", h.ID, "err", err)
			}
		})
	}
	wg.Wait()
	return len(claimed), nil
}

// due notes, for Lag, when the event hook h is about to attempt occurred
// (the zero time: h has no attempt to make now).
func (d *Dispatcher) due(h *domain.Webhook, occurred time.Time) {
	d.dueMu.Lock()
	defer d.dueMu.Unlock()
	if occurred.IsZero() {
		delete(d.dueAt, h)
		return
	}
	d.dueAt[h] = occurred
}

// Lag is how far behind this dispatcher is now: the age of the oldest
// event that a hook it is working on is about to attempt or is
// attempting (its receiver may be slow), 0 when it is working on none
// (every active hook is up to date, or waiting for a retry).
func (d *Dispatcher) Lag() time.Duration {
	now := d.clock.Now()
	d.dueMu.Lock()
	defer d.dueMu.Unlock()
	var lag time.Duration
	for _, at := range d.dueAt {
		lag = max(lag, now.Sub(at))
	}
	return lag
}

func claimToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// settleEvery bounds how many delivered events wait for one settling
// transaction: under load the dispatcher makes one commit per batch, not
// one per delivery. A replica that dies with a batch unsettled leaves
// those events to be delivered again (at least once, never lost).
const settleEvery = 20

// work makes the attempts due on one claimed hook: the next matching
// event's, and while they succeed the following ones', up to PerClaim,
// reading the events after the cursor a page at a time.
func (d *Dispatcher) work(ctx context.Context, h *domain.Webhook, token string) error {
	defer d.due(h, time.Time{})
	var (
		pending   []*domain.WebhookDelivery // delivered, not yet settled
		lastFlush = d.clock.Now()
	)
	// flush settles the deliveries made so far and keeps the claim.
	flush := func() (bool, error) {
		now := d.clock.Now()
		lastFlush = now
		ok, err := d.settle(ctx, h, token, ports.WebhookSettlement{Cursor: h.Cursor, NextAttemptAt: now},
			false, pending)
		pending = nil
		return ok, err
	}
	for done := 0; done < d.cfg.PerClaim; {
		last, err := d.events.Last(ctx, h.OrgID)
		if err != nil {
			return err
		}
		evs, err := d.events.List(ctx, h.OrgID, ports.EventFilter{After: h.Cursor, Types: h.Events,
			Limit: d.cfg.PerClaim - done})
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			// Nothing after the cursor matches, up to last (read first: any
			// event above it committed after the list was read, or not at
			// all): the hook is done with everything up to last.
			h.Cursor = max(h.Cursor, last)
			_, err := d.settle(ctx, h, token, ports.WebhookSettlement{Cursor: h.Cursor, NextAttemptAt: d.clock.Now(),
				Failures: h.Failures}, true, pending)
			return err
		}
		for i := range evs {
			ev := &evs[i]
			now := d.clock.Now()
			n := h.Attempt + 1
			d.due(h, ev.OccurredAt)
			res := d.send(ctx, h, ev, n, now)
			if d.cfg.Meter != nil {
				d.cfg.Meter.WebhookAttempted(res.Result(n > len(d.cfg.RetrySchedule)))
			}
			if !res.Delivered() || i+1 == len(evs) {
				d.due(h, time.Time{}) // a retry is not due yet; the next page is not read yet
			} else {
				d.due(h, evs[i+1].OccurredAt)
			}
			entry := &domain.WebhookDelivery{OrgID: h.OrgID, WebhookID: h.ID, EventID: &ev.ID, EventType: ev.Type,
				Attempt: n, Error: res.Err, DurationMS: res.Duration.Milliseconds(), DeliveredAt: now}
			if res.StatusCode != 0 {
				code := res.StatusCode
				entry.StatusCode = &code
			}
			if !res.Delivered() {
				_, err := d.settle(ctx, h, token, d.failed(h, ev, n, now), true, append(pending, entry))
				return err
			}
			pending = append(pending, entry)
			h.Cursor, h.Attempt, h.Failures = ev.ID, 0, 0
			done++
			if len(pending) >= settleEvery || d.clock.Now().Sub(lastFlush) > d.lease/4 {
				if ok, err := flush(); err != nil || !ok {
					return err
				}
			}
		}
	}
	// More may be due: release the hook for the next Step.
	_, err := d.settle(ctx, h, token, ports.WebhookSettlement{Cursor: h.Cursor, NextAttemptAt: d.clock.Now()},
		true, pending)
	return err
}

// failed is the hook's state after attempt n at ev failed at now: a retry
// on the schedule, or, the attempts exhausted, the next event (and the
// hook disabled after DisableAfter such events in a row).
func (d *Dispatcher) failed(h *domain.Webhook, ev *domain.Event, n int, now time.Time) ports.WebhookSettlement {
	st := ports.WebhookSettlement{Cursor: h.Cursor, Attempt: n, Failures: h.Failures}
	if n <= len(d.cfg.RetrySchedule) {
		st.NextAttemptAt = now.Add(d.cfg.Jitter(d.cfg.RetrySchedule[n-1]))
		return st
	}
	st.Cursor, st.Attempt, st.Failures, st.NextAttemptAt = ev.ID, 0, h.Failures+1, now
	if d.cfg.DisableAfter > 0 && st.Failures >= d.cfg.DisableAfter {
		st.Disable = true
		st.DisabledReason = fmt.Sprintf("%d events in a row were not delivered after %d attempts each",
			st.Failures, 1+len(d.cfg.RetrySchedule))
	}
	return st
}

// settle writes the hook's new state, logs the attempts made, and when
// the hook is being disabled records its webhook.disabled event, in one
// transaction that holds only while the claim does. It reports false
// when the claim was lost: another replica took the hook over after the
// lease, or an ADMIN changed it; its state is theirs now.
func (d *Dispatcher) settle(ctx context.Context, h *domain.Webhook, token string, st ports.WebhookSettlement,
	release bool, entries []*domain.WebhookDelivery) (bool, error) {
	err := d.tx.InTx(ctx, func(s ports.Stores) error {
		ok, err := s.Webhooks.Settle(ctx, h.OrgID, h.ID, token, st, release, d.clock.Now().Add(d.lease))
		if err != nil {
			return err
		}
		if !ok {
			return errClaimLost
		}
		for _, e := range entries {
			if err := s.Webhooks.LogDelivery(ctx, e); err != nil {
				return err
			}
		}
		if st.Disable {
			return d.recordDisabled(ctx, s, h, st.DisabledReason, d.clock.Now())
		}
		return nil
	})
	if errors.Is(err, errClaimLost) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settle webhook attempts: %w", err)
	}
	return true, nil
}

// send makes the HTTP attempt, within the timeout.
func (d *Dispatcher) send(ctx context.Context, h *domain.Webhook, ev *domain.Event, attempt int, now time.Time) ports.WebhookResult {
	body, err := d.encode(ev)
	if err != nil {
		return ports.WebhookResult{Err: "encode event: " + err.Error()}
	}
	secrets, err := webhookSecrets(d.box, h, now)
	if err != nil {
		return ports.WebhookResult{Err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	return d.sender.Send(ctx, ports.WebhookMessage{URL: h.URL, ID: "evt_" + strconv.FormatInt(ev.ID, 10),
		Timestamp: now, Body: body, Secrets: secrets, WebhookID: h.ID, EventID: ev.ID, Attempt: attempt})
}

// recordDisabled appends the webhook.disabled event in the transaction
// that disables the hook.
func (d *Dispatcher) recordDisabled(ctx context.Context, s ports.Stores, h *domain.Webhook, reason string, now time.Time) error {
	shown := *h
	shown.Active, shown.DisabledReason = false, reason
	data, err := d.hookData(&shown)
	if err != nil {
		return err
	}
	e := &domain.Event{OrgID: h.OrgID, Type: domain.EventWebhookDisabled, OccurredAt: now,
		Subject: domain.EventSubject{Type: domain.SubjectWebhook, ID: int64(h.ID)}, Data: data}
	return s.Events.Append(ctx, e)
}

func (d *Dispatcher) hookData(h *domain.Webhook) ([]byte, error) {
	body, err := d.rep.Webhook(h)
	if err != nil {
		return nil, fmt.Errorf("render webhook: %w", err)
	}
	return append(append([]byte(`{"webhook":`), body...), '}'), nil
}

// Ping sends a webhook.ping event to h in the background, once. Its
// webhook-id is "ping_" and a random id (a receiver deduplicating by id
// must not take a second ping for the first); its event id is 0, since
// the event is in no log.
func (d *Dispatcher) Ping(ctx context.Context, h *domain.Webhook, actor domain.EventActor) error {
	now := d.clock.Now()
	data, err := d.hookData(h)
	if err != nil {
		return err
	}
	ev := &domain.Event{ID: 0, OrgID: h.OrgID, Type: domain.EventWebhookPing, OccurredAt: now.UTC(), Actor: actor,
		Subject: domain.EventSubject{Type: domain.SubjectWebhook, ID: int64(h.ID)}, Data: data}
	body, err := d.encode(ev)
	if err != nil {
		return err
	}
	id, err := claimToken()
	if err != nil {
		return err
	}
	// A secret that does not open (sealed under another SECRET_KEY) fails
	// the ping, in the deliveries log, as it fails deliveries.
	secrets, secretErr := webhookSecrets(d.box, h, now)
	d.pings.Go(func() {
		// The request that asked for the ping is over by now.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
		defer cancel()
		res := ports.WebhookResult{Err: fmt.Sprint(secretErr)}
		if secretErr == nil {
			res = d.sender.Send(ctx, ports.WebhookMessage{URL: h.URL, ID: "ping_" + id, Timestamp: now, Body: body,
				Secrets: secrets, WebhookID: h.ID, Attempt: 1})
		}
		entry := &domain.WebhookDelivery{OrgID: h.OrgID, WebhookID: h.ID, EventType: domain.EventWebhookPing,
			Attempt: 1, Error: res.Err, DurationMS: res.Duration.Milliseconds(), DeliveredAt: now}
		if res.StatusCode != 0 {
			code := res.StatusCode
			entry.StatusCode = &code
		}
		logCtx, cancelLog := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancelLog()
		if err := d.hooks.LogDelivery(logCtx, entry); err != nil && !errors.Is(err, domain.ErrWebhookNotFound) {
			d.log.Warn("webhook ping not logged", "organization_id", h.OrgID, "webhook_id", h.ID, "err", err)
		}
	})
	return nil
}

// WaitPings waits for the pings in flight (shutdown, tests).
func (d *Dispatcher) WaitPings() { d.pings.Wait() }

// Run steps until ctx ends: at once again after a Step that found work,
// else after idle.
func (d *Dispatcher) Run(ctx context.Context, idle time.Duration) {
	for {
		n, err := d.Step(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Warn("webhook dispatch", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(idle)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
