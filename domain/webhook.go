package domain

import (
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// WebhookID identifies a webhook within the service.
type WebhookID int64

// Webhook is an endpoint an organization's ADMIN registered to receive
// its events by HTTP POST, with the state of its delivery.
//
// Delivery state: Cursor is the id of the last event the hook has done
// with (delivered, exhausted, or not matching its patterns); the event
// being delivered is the first one after it that matches Events. Attempt
// counts the attempts made on that event so far, NextAttemptAt is when
// the next one is due, and Failures counts the events in a row whose
// attempts were exhausted.
type Webhook struct {
	ID             WebhookID
	OrgID          OrgID
	URL            string
	Events         []string
	Description    string
	Active         bool
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// Secret is the signing secret, sealed (encrypted) by the application
	// before it is stored; PreviousSecret, until PreviousExpiresAt, the one
	// a rotation replaced, also sealed (nil when none).
	Secret            []byte
	PreviousSecret    []byte
	PreviousExpiresAt *time.Time

	Cursor        int64
	Attempt       int
	NextAttemptAt time.Time
	Failures      int
}

// Limits of what an ADMIN may register.
const (
	MaxWebhookURL         = 2000
	MaxWebhookDescription = 500
	MaxWebhookEvents      = 20
)

// WebhookSecretOverlap is how long a rotated-out secret keeps signing
// deliveries beside the new one.
const WebhookSecretOverlap = 24 * time.Hour

// ValidateWebhookURL checks the form of a webhook URL: absolute, https
// (or http when allowHTTP), a host, no credentials and no fragment, at
// most MaxWebhookURL bytes. Where the host points is checked elsewhere
// (ports.WebhookTargetChecker): that needs the network.
func ValidateWebhookURL(raw string, allowHTTP bool) *FieldError {
	bad := func(msg string) *FieldError { return &FieldError{Field: "url", Message: msg} }
	if raw == "" || len(raw) > MaxWebhookURL || !utf8.ValidString(raw) {
		return bad("must be an https:// URL of at most 2000 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return bad("must be an absolute https:// URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	default:
		return bad("must start with https://")
	}
	if u.Hostname() == "" {
		return bad("must name a host")
	}
	if u.User != nil {
		return bad("must not carry credentials (user:password@)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("must not have a fragment (#...)")
	}
	return nil
}

// NormalizeWebhookEvents checks a list of event patterns (1 to 20 known
// types, prefixes such as "task.*", or "*") and returns it without
// duplicates, in the order given.
func NormalizeWebhookEvents(patterns []string) ([]string, *FieldError) {
	if len(patterns) < 1 || len(patterns) > MaxWebhookEvents {
		return nil, &FieldError{Field: "events", Message: "must list 1 to 20 event types or prefixes (such as task.* or *)"}
	}
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if !IsEventPattern(p) {
			return nil, &FieldError{Field: "events", Message: "unknown event type or prefix " + quoteShort(p) +
				"; known types: " + knownTypes() + ", or a prefix such as task.*, or *"}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ValidateWebhookDescription checks a description: at most 500
// characters of valid UTF-8 without NUL.
func ValidateWebhookDescription(d string) *FieldError {
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxWebhookDescription || strings.ContainsRune(d, 0) {
		return &FieldError{Field: "description", Message: "must be at most 500 characters of valid UTF-8 without NUL"}
	}
	return nil
}

func knownTypes() string {
	names := make([]string, 0, len(EventTypes))
	for _, t := range EventTypes {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:60]) + "..."
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}

// Wants reports whether the hook subscribes to events of type t.
func (w *Webhook) Wants(t EventType) bool { return t.MatchesAny(w.Events) }

// WebhookDelivery is one attempt to deliver an event to a hook, as the
// deliveries log keeps it. EventID is nil for a ping, which is no event
// of the log. StatusCode is nil when no answer came (refused, timed out).
type WebhookDelivery struct {
	ID          int64
	OrgID       OrgID
	WebhookID   WebhookID
	EventID     *int64
	EventType   EventType
	Attempt     int
	StatusCode  *int
	Error       string
	DurationMS  int64
	DeliveredAt time.Time
}

// MaxWebhookDeliveries is how many attempts the log keeps per hook: the
// newest ones.
const MaxWebhookDeliveries = 100

var (
	ErrWebhookNotFound = &Error{Kind: KindNotFound, Code: "webhook_not_found", Message: "webhook not found"}
)
