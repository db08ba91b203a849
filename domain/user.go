package domain

import (
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Role is a member's role inside its organization.
type Role string

const (
	RoleAdmin Role = "ADMIN"
	RoleUser  Role = "USER"
)

// ParseRole accepts exactly "ADMIN" or "USER".
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleUser:
		return r, nil
	}
	return "", Invalid(FieldError{Field: "role", Message: "must be ADMIN or USER"})
}

// User is a member of exactly one organization.
type User struct {
	ID           UserID
	OrgID        OrgID
	Email        string
	PasswordHash string
	Role         Role
	CreatedAt    time.Time
}

// Password bounds, in bytes: bcrypt ignores everything past 72 bytes, so a
// longer password would be silently truncated; refuse it instead.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	maxEmailBytes    = 254
)

// NormalizeEmail trims and lower-cases an address and checks that it is a
// plain addr-spec (no display name, no angle brackets).
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	bad := func(msg string) (string, error) {
		return "", Invalid(FieldError{Field: "email", Message: msg})
	}
	if e == "" {
		return bad("must not be empty")
	}
	if len(e) > maxEmailBytes {
		return bad("must be at most 254 bytes")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return bad("must be a valid email address")
	}
	return e, nil
}

// ValidatePassword checks the byte-length bounds of a new password.
func ValidatePassword(field, pw string) error {
	switch {
	case len(pw) < MinPasswordBytes:
		return Invalid(FieldError{Field: field, Message: "must be at least 8 bytes"})
	case len(pw) > MaxPasswordBytes:
		return Invalid(FieldError{Field: field, Message: "must be at most 72 bytes"})
	}
	return nil
}

// trimmedLength trims s and checks its length in characters.
func trimmedLength(field, s string, min, max int) (string, error) {
	t := strings.TrimSpace(s)
	n := utf8.RuneCountInString(t)
	switch {
	case !utf8.ValidString(t) || strings.IndexByte(t, 0) >= 0:
		return "", Invalid(FieldError{Field: field, Message: "must be valid UTF-8 without NUL characters"})
	case n < min && min == 1:
		return "", Invalid(FieldError{Field: field, Message: "must not be empty"})
	case n < min:
		return "", Invalid(FieldError{Field: field, Message: "is too short"})
	case n > max:
		return "", Invalid(FieldError{Field: field, Message: "must be at most " + itoa(max) + " characters"})
	}
	return t, nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
