package http

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

func (s *Server) createAPIKey(c *fiber.Ctx) error {
	var req apiKeyCreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in := application.NewAPIKeyInput{Name: req.Name, ReadOnly: req.ReadOnly}
	if req.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
		if err != nil {
			return domain.Invalid(domain.FieldError{Field: "expires_at", Message: "must be an RFC 3339 date-time or null"})
		}
		in.ExpiresAt = &t
	}
	k, err := s.auth.CreateAPIKey(c.UserContext(), actorOf(c), in, receiptFor(c, apiKeyIssued))
	if err != nil {
		return err
	}
	return sendStored(c, apiKeyIssued(k))
}

// apiKeyIssued is the answer to POST /api-keys: the secret, shown once,
// is stored with the Idempotency-Key, for a retry by the same caller.
func apiKeyIssued(k *application.IssuedAPIKey) ports.StoredResponse {
	r := toAPIKeyResponse(k.Key)
	return created(apiKeyCreated{ID: r.ID, Name: r.Name, Prefix: r.Prefix, Key: k.Secret, ReadOnly: r.ReadOnly,
		UserID: r.UserID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt})
	// No Location: a key has no page of its own (GET /api-keys lists it).
}

func (s *Server) listAPIKeys(c *fiber.Ctx) error {
	keys, err := s.auth.APIKeys(c.UserContext(), actorOf(c))
	if err != nil {
		return err
	}
	out := make([]apiKeyResponse, len(keys))
	for i, k := range keys {
		out[i] = toAPIKeyResponse(k)
	}
	return c.JSON(out)
}

func (s *Server) deleteAPIKey(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.auth.DeleteAPIKey(c.UserContext(), actorOf(c), domain.APIKeyID(id)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
