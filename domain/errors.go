package domain

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it. The HTTP
// adapter maps each kind to one status code; nothing else in the core
// chooses a status.
type Kind int

const (
	KindInternal     Kind = iota // a bug or an outage: the caller can do nothing
	KindInvalid                  // well-formed input with invalid values (422)
	KindBadRequest               // malformed input (400)
	KindUnauthorized             // missing or bad credentials (401)
	KindForbidden                // authenticated, but the role may not (403)
	KindNotFound                 // absent, or owned by another organization (404)
	KindConflict                 // conflicts with the current state (409)
	KindPrecondition             // If-Match failed (412)
	KindUnavailable              // a dependency is down (503)
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// Error is the error type of the core: a kind, a stable machine-readable
// code and a human-readable message that is safe to show to the client.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  []FieldError
	// Cause is what went wrong underneath (a refused connection, a
	// driver's error), kept for the server log: Error and Unwrap show it,
	// Message never does, since it is no business of the client's.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, so that errors.Is and errors.As still find
// the driver's error under a classified one.
func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is match on kind and code, so sentinel errors such as
// ErrTaskNotFound can be compared even when copied.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Kind == e.Kind && t.Code == e.Code
}

// NewError builds an *Error with a formatted message.
func NewError(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a KindInvalid error for one or more fields.
func Invalid(fields ...FieldError) *Error {
	msg := "the request has invalid values"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Kind: KindInvalid, Code: "validation_failed", Message: msg, Fields: fields}
}

// DatabaseUnavailable is ErrDatabaseUnavailable with cause kept for the
// log. The store adapters return it, and only they decide what it covers:
// the core cannot tell a refused connection from a bug.
func DatabaseUnavailable(cause error) *Error {
	e := *ErrDatabaseUnavailable
	e.Cause = cause
	return &e
}

// KindOf returns the kind of err, KindInternal when it is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Sentinel errors with stable codes. Compare with errors.Is.
var (
	ErrOrgNotFound       = &Error{Kind: KindNotFound, Code: "organization_not_found", Message: "organization not found"}
	ErrUserNotFound      = &Error{Kind: KindNotFound, Code: "user_not_found", Message: "user not found"}
	ErrTaskNotFound      = &Error{Kind: KindNotFound, Code: "task_not_found", Message: "task not found"}
	ErrInviteNotFound    = &Error{Kind: KindNotFound, Code: "invite_not_found", Message: "invite not found"}
	ErrEmailTaken        = &Error{Kind: KindConflict, Code: "email_taken", Message: "this email is already registered"}
	ErrLastAdmin         = &Error{Kind: KindConflict, Code: "last_admin", Message: "an organization must keep at least one ADMIN"}
	ErrVersionMismatch   = &Error{Kind: KindPrecondition, Code: "precondition_failed", Message: "the task has changed since the version given in If-Match"}
	ErrInviteRequired    = &Error{Kind: KindForbidden, Code: "invite_required", Message: "signing up needs an invite code"}
	ErrInviteInvalid     = &Error{Kind: KindForbidden, Code: "invite_invalid", Message: "the invite code is invalid, used, expired or for another email"}
	ErrInviteMismatch    = &Error{Kind: KindForbidden, Code: "invite_mismatch", Message: "organization_id and role must match the invite"}
	ErrForbidden         = &Error{Kind: KindForbidden, Code: "forbidden", Message: "your role may not do this"}
	ErrBadCredentials    = &Error{Kind: KindUnauthorized, Code: "invalid_credentials", Message: "incorrect email or password"}
	ErrUnauthenticated   = &Error{Kind: KindUnauthorized, Code: "unauthenticated", Message: "a valid bearer token is required"}
	ErrInvalidTransition = &Error{Kind: KindConflict, Code: "invalid_status_transition", Message: "invalid status transition"}
	// An Idempotency-Key names one request: sent again with another method,
	// path or body it is refused, so a client's bug does not pass for a
	// replay.
	ErrIdempotencyKeyReused = &Error{Kind: KindInvalid, Code: "idempotency_key_reused",
		Message: "this Idempotency-Key was used for a different request"}
	ErrIdempotencyKeyInProgress = &Error{Kind: KindConflict, Code: "idempotency_key_in_progress",
		Message: "a request with this Idempotency-Key is still being processed; retry later"}
	// ErrDatabaseUnavailable: the database cannot be reached now (down,
	// restarting, refusing connections, or none free in time). Retrying
	// later may succeed.
	ErrDatabaseUnavailable = &Error{Kind: KindUnavailable, Code: "unavailable", Message: "the database is unavailable; try again"}
)

// ErrNotAssignee is ErrForbidden (same kind and code, so errors.Is
// matches it) with a message that tells a USER what they may do instead.
var ErrNotAssignee = &Error{Kind: KindForbidden, Code: "forbidden", Message: "a USER may only change the status of a task assigned to them"}
