package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/taskflow/taskflow/ports"
)

var _ ports.SecretBox = (*SecretBox)(nil)

// secretBoxInfo labels the key derived from SECRET_KEY for this one use,
// so that it is unrelated to the JWT signing key and to any other key
// derived from SECRET_KEY later.
const secretBoxInfo = "taskflow webhook signing secrets v1" //nolint:gosec // G101: an HKDF label, not a credential

// sealedVersion is the first byte of a sealed secret: the scheme, so that
// another one can be read beside it later.
const sealedVersion = 1

// SecretBox seals webhook signing secrets with AES-256-GCM under a key
// derived from SECRET_KEY by HKDF-SHA256 (RFC 5869, no salt, a fixed info
// label). A sealed secret is the version byte, the 12-byte random nonce
// and the ciphertext with its tag. With SECRET_KEY_PREVIOUS set (a key
// rotation), secrets sealed under the previous key still open; they are
// sealed again under the new key when rotated.
type SecretBox struct {
	seal  cipher.AEAD
	opens []cipher.AEAD
}

// NewSecretBox derives the keys from secretKey and, optionally, the keys
// being rotated out.
func NewSecretBox(secretKey string, previous ...string) (*SecretBox, error) {
	b := &SecretBox{}
	for i, k := range append([]string{secretKey}, previous...) {
		if k == "" {
			continue
		}
		key, err := hkdf.Key(sha256.New, []byte(k), nil, secretBoxInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("secret box: derive key: %w", err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("secret box: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret box: %w", err)
		}
		if i == 0 {
			b.seal = aead
		}
		b.opens = append(b.opens, aead)
	}
	if b.seal == nil {
		return nil, errors.New("secret box: SECRET_KEY is empty")
	}
	return b, nil
}

// Seal encrypts plain with a fresh random nonce.
func (b *SecretBox) Seal(plain []byte) ([]byte, error) {
	nonce := make([]byte, b.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret box: nonce: %w", err)
	}
	out := append([]byte{sealedVersion}, nonce...)
	return b.seal.Seal(out, nonce, plain, nil), nil
}

// ErrUnsealable means a sealed secret opens under none of the keys: it was
// sealed under another SECRET_KEY (one generated for a development run,
// or rotated out and no longer given as SECRET_KEY_PREVIOUS), or damaged.
var ErrUnsealable = errors.New("the signing secret cannot be decrypted: it was sealed under another SECRET_KEY; rotate the hook's secret")

// Open decrypts a sealed secret.
func (b *SecretBox) Open(sealed []byte) ([]byte, error) {
	n := b.seal.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealedVersion {
		return nil, ErrUnsealable
	}
	nonce, ct := sealed[1:1+n], sealed[1+n:]
	for _, a := range b.opens {
		if plain, err := a.Open(nil, nonce, ct, nil); err == nil {
			return plain, nil
		}
	}
	return nil, ErrUnsealable
}
