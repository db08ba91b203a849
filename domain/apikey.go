package domain

import (
	"strings"
	"time"
	"unicode/utf8"
)

// APIKeyID identifies an API key within the service.
type APIKeyID int64

// APIKey is a member's personal credential for scripts and integrations.
// The secret itself is never kept: only its hash (to look it up) and its
// first characters (Prefix, for people to recognise it in a list).
type APIKey struct {
	ID         APIKeyID
	OrgID      OrgID
	UserID     UserID
	Name       string
	Prefix     string
	Hash       string
	ReadOnly   bool
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
}

// MaxAPIKeyName is the longest key name, in characters.
const MaxAPIKeyName = 100

// APIKeyLastUsedEvery is how stale last_used_at may grow before a use of
// the key writes it again: a busy key costs one write a minute, not one
// per request.
const APIKeyLastUsedEvery = time.Minute

// ValidateAPIKey checks what a member may choose for a new key: a name of
// 1 to 100 characters and an expiry, if any, after now.
func ValidateAPIKey(name string, expiresAt *time.Time, now time.Time) error {
	var fields []FieldError
	// NUL is valid UTF-8 but no Postgres text column can store it.
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxAPIKeyName || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		fields = append(fields, FieldError{Field: "name", Message: "must be 1 to 100 characters of valid UTF-8 without NUL"})
	}
	if expiresAt != nil && !expiresAt.After(now) {
		fields = append(fields, FieldError{Field: "expires_at", Message: "must be in the future"})
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

// Usable reports whether the key may authenticate a request at now.
func (k *APIKey) Usable(now time.Time) bool {
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// LastUseDue reports whether a use at now should record itself.
func (k *APIKey) LastUseDue(now time.Time) bool {
	return k.LastUsedAt == nil || !now.Before(k.LastUsedAt.Add(APIKeyLastUsedEvery))
}

// API key errors.
var (
	ErrAPIKeyNotFound = &Error{Kind: KindNotFound, Code: "api_key_not_found", Message: "API key not found"}
	// ErrAPIKeyNotAllowed answers what only a person, with a password and
	// a session, may do: mint keys, change the password, end sessions.
	ErrAPIKeyNotAllowed = &Error{Kind: KindForbidden, Code: "forbidden", Message: "an API key may not do this; log in instead"}
	// ErrAPIKeyReadOnly answers a write with a read-only key.
	ErrAPIKeyReadOnly = &Error{Kind: KindForbidden, Code: "forbidden", Message: "this API key is read-only"}
)
