package application

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// webhookSecretPrefix and webhookSecretSize make a Standard Webhooks
// secret: "whsec_" and the base64 of 32 random bytes.
const (
	webhookSecretPrefix = "whsec_"
	webhookSecretSize   = 32
	// maxDeliveriesShown is how many attempts GET .../deliveries lists:
	// the whole log the store keeps.
	maxDeliveriesShown = domain.MaxWebhookDeliveries
)

// EventEncoder renders an event as the API serves it (GET /events): a
// webhook's body is exactly that JSON.
type EventEncoder func(*domain.Event) ([]byte, error)

// WebhookRepresenter renders a hook as the API shows it, without its
// secret, for the data of the events about hooks (webhook.disabled,
// webhook.ping).
type WebhookRepresenter interface {
	Webhook(*domain.Webhook) ([]byte, error)
}

// Webhooks is the ADMIN's management of an organization's webhooks:
// register, list, change, remove, rotate the secret, ping, read the
// deliveries log. The delivery itself is the Dispatcher's.
type Webhooks struct {
	tx        ports.Transactor
	hooks     ports.WebhookStore
	box       ports.SecretBox
	target    ports.WebhookTargetChecker
	clock     ports.Clock
	allowHTTP bool
	pinger    *Dispatcher
}

// NewWebhooks builds the use cases. hooks is a store over the pools;
// allowHTTP accepts http:// URLs (WEBHOOK_ALLOW_PRIVATE); pings are sent
// through pinger.
func NewWebhooks(tx ports.Transactor, hooks ports.WebhookStore, box ports.SecretBox, target ports.WebhookTargetChecker,
	clock ports.Clock, allowHTTP bool, pinger *Dispatcher) *Webhooks {
	return &Webhooks{tx: tx, hooks: hooks, box: box, target: target, clock: clock, allowHTTP: allowHTTP, pinger: pinger}
}

// NewWebhookInput is what an ADMIN registers.
type NewWebhookInput struct {
	URL         string
	Events      []string
	Description string
}

// WebhookPatch changes the fields given (nil: unchanged).
type WebhookPatch struct {
	URL         *string
	Events      *[]string
	Description *string
	Active      *bool
}

// IssuedWebhook is a hook with its secret, which is shown only in the
// answer that made it (and in the stored answer to its Idempotency-Key).
type IssuedWebhook struct {
	Hook   *domain.Webhook
	Secret string
}

func (w *Webhooks) validate(ctx context.Context, url *string, events *[]string, description *string) error {
	var fields []domain.FieldError
	if url != nil {
		if fe := domain.ValidateWebhookURL(*url, w.allowHTTP); fe != nil {
			fields = append(fields, *fe)
		}
	}
	if events != nil {
		norm, fe := domain.NormalizeWebhookEvents(*events)
		if fe != nil {
			fields = append(fields, *fe)
		} else {
			*events = norm
		}
	}
	if description != nil {
		if fe := domain.ValidateWebhookDescription(*description); fe != nil {
			fields = append(fields, *fe)
		}
	}
	if len(fields) > 0 {
		return domain.Invalid(fields...)
	}
	if url != nil {
		// Only once the form is right: no lookup for a malformed URL.
		return w.target.CheckTarget(ctx, *url)
	}
	return nil
}

func (w *Webhooks) newSecret() (plain string, sealed []byte, err error) {
	var b [webhookSecretSize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("webhook secret: %w", err)
	}
	plain = webhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
	sealed, err = w.box.Seal([]byte(plain))
	if err != nil {
		return "", nil, fmt.Errorf("webhook secret: %w", err)
	}
	return plain, sealed, nil
}

// Create registers a hook. It receives the events committed after it:
// its cursor starts at the organization's newest event, read in the
// transaction that inserts it.
func (w *Webhooks) Create(ctx context.Context, actor domain.Actor, in NewWebhookInput,
	receipt *Receipt[*IssuedWebhook]) (*IssuedWebhook, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	if err := w.validate(ctx, &in.URL, &in.Events, &in.Description); err != nil {
		return nil, err
	}
	plain, sealed, err := w.newSecret()
	if err != nil {
		return nil, err
	}
	now := w.clock.Now().UTC()
	hook := &domain.Webhook{OrgID: actor.OrgID, URL: in.URL, Events: in.Events, Description: in.Description,
		Active: true, CreatedAt: now, UpdatedAt: now, Secret: sealed, NextAttemptAt: now}
	out := &IssuedWebhook{Hook: hook, Secret: plain}
	err = w.tx.InTx(ctx, func(s ports.Stores) error {
		// Numbered first: an event committed before this request is
		// behind the cursor, not delivered as a later one.
		last, err := s.Events.Number(ctx, actor.OrgID)
		if err != nil {
			return err
		}
		hook.Cursor = last
		if err := s.Webhooks.Create(ctx, hook); err != nil {
			return err
		}
		return receipt.complete(ctx, s, out)
	})
	if err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	return out, nil
}

// List returns the organization's hooks, oldest first.
func (w *Webhooks) List(ctx context.Context, actor domain.Actor) ([]*domain.Webhook, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	hooks, err := w.hooks.List(ctx, actor.OrgID)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return hooks, nil
}

// Get returns one hook.
func (w *Webhooks) Get(ctx context.Context, actor domain.Actor, id domain.WebhookID) (*domain.Webhook, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	hook, err := w.hooks.Get(ctx, actor.OrgID, id)
	if err != nil {
		return nil, fmt.Errorf("get webhook: %w", err)
	}
	return hook, nil
}

// Update changes a hook. Setting active to true on a disabled hook
// re-enables it: its count of exhausted events starts again, and it
// resumes with the events committed from now on (the ones that happened
// while it was disabled are not sent: a receiver that was down for days
// is not flooded with them). Setting active to false stops deliveries
// (disabled_reason stays empty: nobody but an ADMIN did it).
func (w *Webhooks) Update(ctx context.Context, actor domain.Actor, id domain.WebhookID, p WebhookPatch) (*domain.Webhook, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	if err := w.validate(ctx, p.URL, p.Events, p.Description); err != nil {
		return nil, err
	}
	now := w.clock.Now().UTC()
	var out *domain.Webhook
	err := w.tx.InTx(ctx, func(s ports.Stores) error {
		// Numbered first: an event committed before this request is
		// behind the cursor, not delivered as a later one.
		last, err := s.Events.Number(ctx, actor.OrgID)
		if err != nil {
			return err
		}
		activating := p.Active != nil && *p.Active
		out, err = s.Webhooks.Update(ctx, actor.OrgID, id, activating, func(h *domain.Webhook) error {
			if p.URL != nil {
				h.URL = *p.URL
			}
			if p.Events != nil {
				if !slices.Equal(h.Events, *p.Events) {
					// The event being retried may no longer be wanted: the
					// next one starts its attempts afresh, now.
					h.Attempt, h.NextAttemptAt = 0, now
				}
				h.Events = *p.Events
			}
			if p.Description != nil {
				h.Description = *p.Description
			}
			if p.Active != nil {
				switch {
				case *p.Active && !h.Active:
					h.Active, h.DisabledReason = true, ""
					h.Cursor, h.Attempt, h.Failures, h.NextAttemptAt = max(h.Cursor, last), 0, 0, now
				case !*p.Active && h.Active:
					h.Active, h.DisabledReason, h.Attempt = false, "", 0
				}
			}
			h.UpdatedAt = now
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update webhook: %w", err)
	}
	return out, nil
}

// Delete removes a hook and its deliveries log. An attempt in flight is
// not settled (its claim is gone with the row).
func (w *Webhooks) Delete(ctx context.Context, actor domain.Actor, id domain.WebhookID) error {
	if !actor.IsAdmin() {
		return domain.ErrForbidden
	}
	if err := w.hooks.Delete(ctx, actor.OrgID, id); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return nil
}

// Deliveries returns the hook's last attempts, newest first.
func (w *Webhooks) Deliveries(ctx context.Context, actor domain.Actor, id domain.WebhookID) ([]domain.WebhookDelivery, error) {
	if !actor.IsAdmin() {
		return nil, domain.ErrForbidden
	}
	// The hook first: another organization's (or none) is 404, not an
	// empty list.
	if _, err := w.hooks.Get(ctx, actor.OrgID, id); err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	ds, err := w.hooks.Deliveries(ctx, actor.OrgID, id, maxDeliveriesShown)
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	return ds, nil
}

// RotateSecret gives the hook a new secret and keeps the current one
// signing beside it for domain.WebhookSecretOverlap, so that a receiver
// can switch without losing a message: every delivery meanwhile carries
// both signatures. A rotation during an overlap drops the oldest secret.
func (w *Webhooks) RotateSecret(ctx context.Context, actor domain.Actor, id domain.WebhookID) (string, error) {
	if !actor.IsAdmin() {
		return "", domain.ErrForbidden
	}
	plain, sealed, err := w.newSecret()
	if err != nil {
		return "", err
	}
	now := w.clock.Now().UTC()
	_, err = w.hooks.Update(ctx, actor.OrgID, id, false, func(h *domain.Webhook) error {
		expires := now.Add(domain.WebhookSecretOverlap)
		h.PreviousSecret, h.PreviousExpiresAt, h.Secret = h.Secret, &expires, sealed
		h.UpdatedAt = now
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return plain, nil
}

// Ping sends a webhook.ping event to the hook at once, in the background
// (the answer is 202 Accepted), disabled or not, once, with no retry; the
// attempt goes to the deliveries log. The ping is no event of the
// organization's log: it is not in GET /events, and no other hook
// receives it.
func (w *Webhooks) Ping(ctx context.Context, actor domain.Actor, id domain.WebhookID) error {
	hook, err := w.Get(ctx, actor, id)
	if err != nil {
		return err
	}
	return w.pinger.Ping(ctx, hook, domain.ActorOf(actor))
}

// webhookSecrets opens the secrets a delivery at now is signed with: the
// current one, and the previous one during a rotation's overlap.
func webhookSecrets(box ports.SecretBox, h *domain.Webhook, now time.Time) ([]string, error) {
	cur, err := box.Open(h.Secret)
	if err != nil {
		return nil, err
	}
	secrets := []string{string(cur)}
	if h.PreviousSecret != nil && h.PreviousExpiresAt != nil && now.Before(*h.PreviousExpiresAt) {
		if prev, err := box.Open(h.PreviousSecret); err == nil {
			secrets = append(secrets, string(prev))
		}
	}
	return secrets, nil
}
