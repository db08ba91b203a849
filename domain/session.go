package domain

import "time"

// SessionID names one login session.
type SessionID int64

// Session is one login. Its access tokens name it, and its refresh tokens
// rotate inside it. Logging out, changing the password, a role change or
// the reuse of an old refresh token ends it, and its access tokens stop
// working at once.
type Session struct {
	ID        SessionID
	OrgID     OrgID
	UserID    UserID
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// Session errors. A reused refresh token is told apart from an unknown one
// only in the log: the client sees the same 401 for both.
var (
	ErrRefreshInvalid = &Error{Kind: KindUnauthorized, Code: "invalid_refresh_token", Message: "the refresh token is invalid, expired or revoked"}
	ErrRefreshReused  = &Error{Kind: KindUnauthorized, Code: "invalid_refresh_token", Message: "the refresh token is invalid, expired or revoked"}
	ErrWrongPassword  = &Error{Kind: KindForbidden, Code: "wrong_password", Message: "the current password is not correct"}
)
