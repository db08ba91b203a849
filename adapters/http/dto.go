package http

import (
	"encoding/json"
	"time"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

// Request and response bodies. Requests are decoded strictly into these
// types, never into domain types, so a client can only set the fields
// listed here (no id, organization_id, role, version, timestamps or
// completed_at on tasks: an unknown field is 422).

type orgCreateRequest struct {
	Name string `json:"name" validate:"required"`
}

type orgCreatedResponse struct {
	ID                   int64     `json:"id"`
	Name                 string    `json:"name"`
	CreatedAt            time.Time `json:"created_at"`
	AdminInviteCode      string    `json:"admin_invite_code"`
	AdminInviteExpiresAt time.Time `json:"admin_invite_expires_at"`
}

type inviteCreateRequest struct {
	Role  string `json:"role" validate:"required,oneof=ADMIN USER"`
	Email string `json:"email"`
}

type inviteResponse struct {
	Code      string    `json:"code"`
	Role      string    `json:"role"`
	Email     *string   `json:"email"`
	ExpiresAt time.Time `json:"expires_at"`
}

// inviteListItem is an invite as GET /invites shows it: never the code,
// which only its creator saw, once.
type inviteListItem struct {
	ID        int64     `json:"id"`
	Role      string    `json:"role"`
	Email     *string   `json:"email"`
	CreatedBy *int64    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toInviteListItem(inv *domain.Invite) inviteListItem {
	out := inviteListItem{ID: inv.ID, Role: string(inv.Role), CreatedAt: inv.CreatedAt.UTC(), ExpiresAt: inv.ExpiresAt.UTC()}
	if inv.Email != "" {
		email := inv.Email
		out.Email = &email
	}
	if inv.CreatedBy != nil {
		by := int64(*inv.CreatedBy)
		out.CreatedBy = &by
	}
	return out
}

type signupRequest struct {
	Email          string  `json:"email" validate:"required"`
	Password       string  `json:"password" validate:"required"`
	InviteCode     string  `json:"invite_code"`
	OrganizationID *int64  `json:"organization_id"`
	Role           *string `json:"role" validate:"omitempty,oneof=ADMIN USER"`
}

type loginRequest struct {
	Email    string `json:"email" validate:"required"`
	Password string `json:"password" validate:"required"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func toToken(t *application.Token) tokenResponse {
	return tokenResponse{AccessToken: t.AccessToken, TokenType: "bearer", ExpiresIn: t.ExpiresIn, RefreshToken: t.RefreshToken}
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required"`
}

type logoutRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password" validate:"required"`
	NewPassword     string `json:"new_password" validate:"required"`
}

type userResponse struct {
	ID             int64     `json:"id"`
	Email          string    `json:"email"`
	Role           string    `json:"role"`
	OrganizationID int64     `json:"organization_id"`
	CreatedAt      time.Time `json:"created_at"`
}

func toUser(u *domain.User) userResponse {
	return userResponse{ID: int64(u.ID), Email: u.Email, Role: string(u.Role), OrganizationID: int64(u.OrgID), CreatedAt: u.CreatedAt.UTC()}
}

type roleUpdateRequest struct {
	Role string `json:"role" validate:"required,oneof=ADMIN USER"`
}

type taskCreateRequest struct {
	Title       string        `json:"title" validate:"required"`
	Description string        `json:"description"`
	Status      *string       `json:"status"`
	AssigneeID  opt[int64]    `json:"assignee_id"`
	Priority    opt[string]   `json:"priority"`
	DueAt       opt[string]   `json:"due_at"`
	Labels      opt[[]string] `json:"labels"`
}

type taskPatchRequest struct {
	Title       opt[string]   `json:"title"`
	Description opt[string]   `json:"description"`
	AssigneeID  opt[int64]    `json:"assignee_id"`
	Status      opt[string]   `json:"status"`
	Priority    opt[string]   `json:"priority"`
	DueAt       opt[string]   `json:"due_at"`
	Labels      opt[[]string] `json:"labels"`
}

// taskDetailsRequest are the fields that POST and PATCH take alike, as
// both requests spell them (not embedded: encoding/json would name the
// embedded type in a type error's field). due_at is decoded as a string
// so that a malformed date is a 422 naming the field, not a JSON
// decoding failure.
type taskDetailsRequest struct {
	Priority opt[string]   `json:"priority"`
	DueAt    opt[string]   `json:"due_at"`
	Labels   opt[[]string] `json:"labels"`
}

type statusUpdateRequest struct {
	Status string `json:"status" validate:"required"`
}

type taskResponse struct {
	ID             int64      `json:"id"`
	OrganizationID int64      `json:"organization_id"`
	Title          string     `json:"title"`
	Description    string     `json:"description"`
	Status         string     `json:"status"`
	AssigneeID     *int64     `json:"assignee_id"`
	Priority       string     `json:"priority"`
	DueAt          *time.Time `json:"due_at"`
	Labels         []string   `json:"labels"` // never null: [] for none
	CompletedAt    *time.Time `json:"completed_at"`
	CreatedBy      int64      `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	Version        int64      `json:"version"`
}

func toTask(t *domain.Task) taskResponse {
	r := taskResponse{ID: int64(t.ID), OrganizationID: int64(t.OrgID), Title: t.Title, Description: t.Description,
		Status: string(t.Status), Priority: string(t.Priority), Labels: t.Labels, DueAt: utcPtr(t.DueAt), CompletedAt: utcPtr(t.CompletedAt),
		CreatedBy: int64(t.CreatedBy), CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Version: t.Version}
	if t.AssigneeID != nil {
		a := int64(*t.AssigneeID)
		r.AssigneeID = &a
	}
	if r.Labels == nil {
		r.Labels = []string{}
	}
	return r
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// taskJSON is the application.TaskEncoder of the HTTP answers: the
// cached forms of lists and tasks are exactly the bytes sent.
type taskJSON struct{}

var _ application.TaskEncoder = taskJSON{}

// Format changes whenever taskResponse does, so no stale form is served.
func (taskJSON) Format() string { return "json2" }

func (taskJSON) Tasks(ts []domain.Task) ([]byte, error) {
	out := make([]taskResponse, len(ts))
	for i := range ts {
		out[i] = toTask(&ts[i])
	}
	return json.Marshal(out)
}

func (taskJSON) Task(t *domain.Task) ([]byte, error) { return json.Marshal(toTask(t)) }

type apiKeyCreateRequest struct {
	Name     string `json:"name"`
	ReadOnly bool   `json:"read_only"`
	// ExpiresAt is parsed by the handler, so that a malformed time is a
	// 422 naming the field.
	ExpiresAt *string `json:"expires_at"`
}

// apiKeyResponse is a key as lists show it: never the secret.
type apiKeyResponse struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	ReadOnly   bool       `json:"read_only"`
	UserID     int64      `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// apiKeyCreated is the answer to POST /api-keys, the one place the secret
// (key) appears.
type apiKeyCreated struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key"`
	ReadOnly   bool       `json:"read_only"`
	UserID     int64      `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func toAPIKeyResponse(k *domain.APIKey) apiKeyResponse {
	return apiKeyResponse{ID: int64(k.ID), Name: k.Name, Prefix: k.Prefix, ReadOnly: k.ReadOnly, UserID: int64(k.UserID),
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utcPtr(k.ExpiresAt), LastUsedAt: utcPtr(k.LastUsedAt)}
}

// eventResponse is an event as the API shows it: in GET /events, in a
// task's history, and (the same JSON) wherever else events are sent.
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
