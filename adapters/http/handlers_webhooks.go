package http

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// WithWebhooks adds the webhook endpoints, served by hooks.
func (s *Server) WithWebhooks(hooks *application.Webhooks) *Server {
	s.webhooks = hooks
	return s
}

type webhookCreateRequest struct {
	URL         string   `json:"url" validate:"required"`
	Events      []string `json:"events" validate:"required"`
	Description string   `json:"description"`
}

type webhookPatchRequest struct {
	URL         opt[string]   `json:"url"`
	Events      opt[[]string] `json:"events"`
	Description opt[string]   `json:"description"`
	Active      opt[bool]     `json:"active"`
}

// webhookResponse is a hook as the API shows it: never its secret.
type webhookResponse struct {
	ID             int64     `json:"id"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Description    string    `json:"description"`
	Active         bool      `json:"active"`
	DisabledReason *string   `json:"disabled_reason"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// webhookCreated is the answer to POST /webhooks: the hook and its
// secret, shown only here.
type webhookCreated struct {
	ID             int64     `json:"id"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Description    string    `json:"description"`
	Active         bool      `json:"active"`
	DisabledReason *string   `json:"disabled_reason"`
	Secret         string    `json:"secret"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

type webhookSecretResponse struct {
	Secret string `json:"secret"`
}

type webhookDeliveryResponse struct {
	ID          int64     `json:"id"`
	EventID     *int64    `json:"event_id"`
	EventType   string    `json:"event_type"`
	Attempt     int       `json:"attempt"`
	StatusCode  *int      `json:"status_code"`
	Error       *string   `json:"error"`
	DurationMS  int64     `json:"duration_ms"`
	DeliveredAt time.Time `json:"delivered_at"`
}

func toWebhookResponse(w *domain.Webhook) webhookResponse {
	out := webhookResponse{ID: int64(w.ID), URL: w.URL, Events: w.Events, Description: w.Description,
		Active: w.Active, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
	if out.Events == nil {
		out.Events = []string{}
	}
	if w.DisabledReason != "" {
		r := w.DisabledReason
		out.DisabledReason = &r
	}
	return out
}

// WebhookRepresentation renders hooks for the events about them, as GET
// /webhooks/{id} shows them.
type WebhookRepresentation struct{}

// Webhook is the hook's JSON, without its secret.
func (WebhookRepresentation) Webhook(w *domain.Webhook) ([]byte, error) {
	return json.Marshal(toWebhookResponse(w))
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	var req webhookCreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in := application.NewWebhookInput{URL: req.URL, Events: req.Events, Description: req.Description}
	w, err := s.webhooks.Create(c.UserContext(), actorOf(c), in, receiptFor(c, webhookIssued))
	if err != nil {
		return err
	}
	return sendStored(c, webhookIssued(w))
}

// webhookIssued is the answer to POST /webhooks: the secret, shown once,
// is stored with the Idempotency-Key, for a retry by the same caller.
func webhookIssued(w *application.IssuedWebhook) ports.StoredResponse {
	r := toWebhookResponse(w.Hook)
	return created(webhookCreated{ID: r.ID, URL: r.URL, Events: r.Events, Description: r.Description,
		Active: r.Active, DisabledReason: r.DisabledReason, Secret: w.Secret, CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt},
		[2]string{fiber.HeaderLocation, "/webhooks/" + strconv.FormatInt(r.ID, 10)})
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	hooks, err := s.webhooks.List(c.UserContext(), actorOf(c))
	if err != nil {
		return err
	}
	out := make([]webhookResponse, len(hooks))
	for i, w := range hooks {
		out[i] = toWebhookResponse(w)
	}
	return c.JSON(out)
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	w, err := s.webhooks.Get(c.UserContext(), actorOf(c), domain.WebhookID(id))
	if err != nil {
		return err
	}
	return c.JSON(toWebhookResponse(w))
}

func (s *Server) patchWebhook(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req webhookPatchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var p application.WebhookPatch
	var nulls []domain.FieldError
	notNull := func(field string, null bool) {
		if null {
			nulls = append(nulls, domain.FieldError{Field: field, Message: "must not be null"})
		}
	}
	notNull("url", req.URL.Null)
	notNull("events", req.Events.Null)
	notNull("description", req.Description.Null)
	notNull("active", req.Active.Null)
	if len(nulls) > 0 {
		return domain.Invalid(nulls...)
	}
	if req.URL.Set {
		p.URL = &req.URL.V
	}
	if req.Events.Set {
		p.Events = &req.Events.V
	}
	if req.Description.Set {
		p.Description = &req.Description.V
	}
	if req.Active.Set {
		p.Active = &req.Active.V
	}
	w, err := s.webhooks.Update(c.UserContext(), actorOf(c), domain.WebhookID(id), p)
	if err != nil {
		return err
	}
	return c.JSON(toWebhookResponse(w))
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.webhooks.Delete(c.UserContext(), actorOf(c), domain.WebhookID(id)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) webhookDeliveries(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ds, err := s.webhooks.Deliveries(c.UserContext(), actorOf(c), domain.WebhookID(id))
	if err != nil {
		return err
	}
	out := make([]webhookDeliveryResponse, len(ds))
	for i, d := range ds {
		out[i] = webhookDeliveryResponse{ID: d.ID, EventID: d.EventID, EventType: string(d.EventType),
			Attempt: d.Attempt, StatusCode: d.StatusCode, DurationMS: d.DurationMS, DeliveredAt: d.DeliveredAt.UTC()}
		if d.Error != "" {
			e := d.Error
			out[i].Error = &e
		}
	}
	return c.JSON(out)
}

func (s *Server) pingWebhook(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.webhooks.Ping(c.UserContext(), actorOf(c), domain.WebhookID(id)); err != nil {
		return err
	}
	// No body: SendStatus would write the status text.
	c.Status(fiber.StatusAccepted)
	return nil
}

func (s *Server) rotateWebhookSecret(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	secret, err := s.webhooks.RotateSecret(c.UserContext(), actorOf(c), domain.WebhookID(id))
	if err != nil {
		return err
	}
	return c.JSON(webhookSecretResponse{Secret: secret})
}
