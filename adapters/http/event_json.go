package http

import (
	"encoding/json"
	"time"

	"github.com/taskflow/taskflow/domain"
)

// The JSON of an event, as GET /events serves it and the stream sends it.
// (The events branch writes the same encoder in dto.go; when both meet,
// this file goes and the stream keeps calling MarshalEvent.)

// eventResponse is an event as the API shows it.
type eventResponse struct {
	ID             int64           `json:"id"`
	Type           string          `json:"type"`
	OccurredAt     time.Time       `json:"occurred_at"`
	OrganizationID int64           `json:"organization_id"`
	Actor          eventActor      `json:"actor"`
	RequestID      *string         `json:"request_id"`
	Subject        eventSubject    `json:"subject"`
	Data           json.RawMessage `json:"data"`
}

type eventActor struct {
	UserID   *int64 `json:"user_id"`
	APIKeyID *int64 `json:"api_key_id"`
}

type eventSubject struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
}

func toEvent(e *domain.Event) eventResponse {
	out := eventResponse{ID: e.ID, Type: string(e.Type), OccurredAt: e.OccurredAt.UTC(), OrganizationID: int64(e.OrgID),
		Subject: eventSubject{Type: e.Subject.Type, ID: e.Subject.ID}, Data: e.Data}
	if e.Actor.UserID != nil {
		u := int64(*e.Actor.UserID)
		out.Actor.UserID = &u
	}
	if e.Actor.APIKeyID != nil {
		k := int64(*e.Actor.APIKeyID)
		out.Actor.APIKeyID = &k
	}
	if e.RequestID != "" {
		id := e.RequestID
		out.RequestID = &id
	}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage(`{}`)
	}
	return out
}

// MarshalEvent is the JSON of one event as the API shows it.
func MarshalEvent(e *domain.Event) ([]byte, error) { return json.Marshal(toEvent(e)) }
