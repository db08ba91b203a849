// Package application holds TaskFlow's use cases, one type per area:
// Organizations (tenants, invites, members), Auth (sign-up, login, token
// resolution) and Tasks. It depends on domain and ports only: no HTTP,
// SQL, Redis or wiring framework is visible from here, so every use case
// runs the same behind any adapter.
package application

import (
	"crypto/sha256"
	"encoding/hex"
)

// hashCode hashes a one-time code for storage. Codes carry 256 random bits,
// so a fast hash is enough: there is nothing to brute-force.
func hashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}
