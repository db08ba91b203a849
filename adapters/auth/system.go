package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/taskflow/taskflow/ports"
)

var (
	_ ports.Clock         = SystemClock{}
	_ ports.CodeGenerator = RandomCodes{}
)

// SystemClock is the real clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// RandomCodes makes one-time codes from 256 random bits, URL-safe so they
// can travel in links and query strings unescaped.
type RandomCodes struct{}

// NewCode returns 32 random bytes, base64url without padding (43 characters).
func (RandomCodes) NewCode() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new code: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
