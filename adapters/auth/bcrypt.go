package auth

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.PasswordHasher = (*Bcrypt)(nil)

// Bcrypt hashes passwords with bcrypt at a fixed cost.
type Bcrypt struct {
	cost int
}

// NewBcrypt returns a hasher using cost (config keeps it within 10..14).
func NewBcrypt(cost int) *Bcrypt { return &Bcrypt{cost: cost} }

// Hash refuses passwords over 72 bytes: bcrypt would ignore the rest, so
// two passwords sharing their first 72 bytes would be the same password.
// The application validates first; this is the last line.
func (b *Bcrypt) Hash(password string) (string, error) {
	if len(password) > domain.MaxPasswordBytes {
		return "", domain.Invalid(domain.FieldError{Field: "password", Message: "must be at most 72 bytes"})
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), b.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Compare returns domain.ErrBadCredentials when password does not match
// hash. A password over 72 bytes never matches: no such password was ever
// hashed, and bcrypt would otherwise accept any suffix after 72 bytes. A
// malformed hash is a data problem, returned as an internal error.
func (b *Bcrypt) Compare(hash, password string) error {
	if len(password) > domain.MaxPasswordBytes {
		return domain.ErrBadCredentials
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return domain.ErrBadCredentials
	default:
		return fmt.Errorf("compare password: %w", err)
	}
}
