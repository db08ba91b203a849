package domain

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// EventType names what happened: "<subject>.<verb>".
type EventType string

// The event types. Each write use case records exactly one of them, in
// the transaction of its change.
const (
	EventTaskCreated       EventType = "task.created"
	EventTaskUpdated       EventType = "task.updated"
	EventTaskStatusChanged EventType = "task.status_changed"
	EventTaskDeleted       EventType = "task.deleted"
	EventMemberJoined      EventType = "member.joined"
	EventMemberRoleChanged EventType = "member.role_changed"
	EventMemberRemoved     EventType = "member.removed"
	EventInviteCreated     EventType = "invite.created"
	EventInviteRevoked     EventType = "invite.revoked"
	EventWebhookDisabled   EventType = "webhook.disabled"
	EventWebhookPing       EventType = "webhook.ping"
)

// EventTypes lists every event type, the ones a pattern may name.
var EventTypes = []EventType{
	EventTaskCreated, EventTaskUpdated, EventTaskStatusChanged, EventTaskDeleted,
	EventMemberJoined, EventMemberRoleChanged, EventMemberRemoved,
	EventInviteCreated, EventInviteRevoked,
	EventWebhookDisabled, EventWebhookPing,
}

// The kinds of subject an event is about.
const (
	SubjectTask    = "task"
	SubjectMember  = "member"
	SubjectInvite  = "invite"
	SubjectWebhook = "webhook"
)

// Event is one recorded change of an organization. ID numbers the
// organization's events in commit order: a reader that has seen event n
// never later meets a new one below n.
type Event struct {
	ID         int64
	OrgID      OrgID
	Type       EventType
	OccurredAt time.Time
	Actor      EventActor
	// RequestID is the X-Request-ID of the request that made the change
	// ("" when none did).
	RequestID string
	Subject   EventSubject
	// Data is the JSON object the event carries: {"task": ..., "changes":
	// {"field": [old, new]}} and the like. It never holds a password, a
	// token, a code or a secret.
	Data json.RawMessage
}

// EventActor is who made the change: a member, through an API key or not;
// neither for a change nobody in the organization made (a sign-up).
type EventActor struct {
	UserID   *UserID
	APIKeyID *APIKeyID
}

// ActorOf is the event actor of an authenticated caller.
func ActorOf(a Actor) EventActor {
	var e EventActor
	if a.UserID != 0 {
		u := a.UserID
		e.UserID = &u
	}
	if a.APIKeyID != 0 {
		k := a.APIKeyID
		e.APIKeyID = &k
	}
	return e
}

// EventSubject is what an event is about: a task, a member (by user id),
// an invite or a webhook.
type EventSubject struct {
	Type string
	ID   int64
}

// MatchAll is the pattern that matches every event type.
const MatchAll = "*"

// IsEventPattern reports whether p names event types: a known type
// ("task.created"), a known subject's prefix ("task.*") or MatchAll.
func IsEventPattern(p string) bool {
	if p == MatchAll {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		return slices.ContainsFunc(EventTypes, func(t EventType) bool {
			return strings.HasPrefix(string(t), prefix+".")
		})
	}
	return slices.Contains(EventTypes, EventType(p))
}

// MatchesPattern reports whether event type t matches pattern p (as
// IsEventPattern defines patterns).
func (t EventType) MatchesPattern(p string) bool {
	if p == MatchAll {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(string(t), prefix)
	}
	return string(t) == p
}

// MatchesAny reports whether t matches one of patterns.
func (t EventType) MatchesAny(patterns []string) bool {
	return slices.ContainsFunc(patterns, t.MatchesPattern)
}
