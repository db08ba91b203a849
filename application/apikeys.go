package application

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// API keys read "tf_" and the URL-safe base64 of 32 random bytes. They
// are stored as their SHA-256 (hashCode): with 256 random bits there is
// nothing to guess, so a slow password hash such as bcrypt would add no
// safety, only cost on every request, and its random salt would make a
// lookup by hash impossible (each stored hash would have to be tried).
const (
	apiKeyPrefix     = "tf_"
	apiKeyRandomSize = 32
	// apiKeyShownPrefix is how much of a key a list shows: enough for
	// its owner to recognise it, far too little to guess the rest.
	apiKeyShownPrefix = len(apiKeyPrefix) + 5
)

// NewAPIKeyInput is what a member chooses for a new key.
type NewAPIKeyInput struct {
	Name      string
	ReadOnly  bool
	ExpiresAt *time.Time
}

// IssuedAPIKey is a new key with its secret, which exists only in this
// answer (and in the stored answer to its Idempotency-Key).
type IssuedAPIKey struct {
	Key    *domain.APIKey
	Secret string
}

// CreateAPIKey makes a personal key for the caller. A key may not mint
// keys: a leaked one could otherwise outlive its own deletion.
func (a *Auth) CreateAPIKey(ctx context.Context, actor domain.Actor, in NewAPIKeyInput,
	receipt *Receipt[*IssuedAPIKey]) (*IssuedAPIKey, error) {
	if actor.ViaAPIKey() {
		return nil, domain.ErrAPIKeyNotAllowed
	}
	now := a.clock.Now()
	if err := domain.ValidateAPIKey(in.Name, in.ExpiresAt, now); err != nil {
		return nil, err
	}
	var b [apiKeyRandomSize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	secret := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	var expires *time.Time
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC()
		expires = &e
	}
	k := &domain.APIKey{OrgID: actor.OrgID, UserID: actor.UserID, Name: in.Name, Prefix: secret[:apiKeyShownPrefix],
		Hash: hashCode(secret), ReadOnly: in.ReadOnly, CreatedAt: now.UTC(), ExpiresAt: expires}
	out := &IssuedAPIKey{Key: k, Secret: secret}
	err := a.tx.InTx(ctx, func(s ports.Stores) error {
		if err := s.APIKeys.Create(ctx, k); err != nil {
			return err
		}
		return receipt.complete(ctx, s, out)
	})
	if errors.Is(err, domain.ErrUserNotFound) {
		// The caller was removed meanwhile.
		return nil, domain.ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("create api key: %w", err)
	}
	return out, nil
}

// APIKeys lists the caller's keys; an ADMIN's list is the organization's.
func (a *Auth) APIKeys(ctx context.Context, actor domain.Actor) ([]*domain.APIKey, error) {
	owner := actor.UserID
	if actor.IsAdmin() {
		owner = 0
	}
	keys, err := a.keys.List(ctx, actor.OrgID, owner)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// DeleteAPIKey revokes a key of the caller's (an ADMIN: any key of the
// organization). Another member's key is 403 for a USER, as the role
// table says; another organization's is 404, like anything of another
// tenant. The key is unknown to the next request at once, on every
// replica, since the lookup by hash is never cached; the sessions space
// is invalidated all the same, as after a logout, so that no cached check
// of the key outlives it either.
func (a *Auth) DeleteAPIKey(ctx context.Context, actor domain.Actor, id domain.APIKeyID) error {
	if !actor.IsAdmin() {
		k, err := a.keys.Get(ctx, actor.OrgID, id)
		if err != nil {
			return fmt.Errorf("delete api key: %w", err)
		}
		if k.UserID != actor.UserID {
			return domain.ErrForbidden
		}
	}
	err := a.keys.Delete(ctx, actor.OrgID, id)
	// Invalidate even after a failure: the delete may have committed.
	a.cache.invalidate(ctx, actor.OrgID, ports.SpaceSessions)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	return nil
}

// authenticateKey resolves an API key to its member. The key names no
// organization, so the first step is the one lookup made before the
// tenant is known (by the hash's unique index; not cached, since no
// organization's cache can be chosen yet, and so never stale). The
// member's role is then read like a session's, cached in the
// organization's sessions space: deleting a key, removing or demoting its
// member invalidate that space, so the next request, on any replica,
// sees it.
func (a *Auth) authenticateKey(ctx context.Context, token string) (domain.Actor, error) {
	k, err := a.keys.ByHash(ctx, hashCode(token))
	if errors.Is(err, domain.ErrAPIKeyNotFound) {
		return domain.Actor{}, domain.ErrUnauthenticated
	}
	if err != nil {
		return domain.Actor{}, fmt.Errorf("authenticate: %w", err)
	}
	now := a.clock.Now()
	if !k.Usable(now) {
		return domain.Actor{}, domain.ErrUnauthenticated
	}
	role, err := a.principalRole(ctx, k.OrgID, apiKeyPrincipalKey(k.ID), func() (*domain.User, error) {
		return a.keys.Principal(ctx, k.OrgID, k.ID, now)
	})
	if err != nil {
		return domain.Actor{}, err
	}
	if k.LastUseDue(now) {
		// At most once a minute per key (the store's update is
		// conditional, so replicas racing here write once). A failure
		// costs only the record, not the request.
		if _, err := a.keys.Touch(ctx, k.OrgID, k.ID, now); err != nil {
			a.log.WarnContext(ctx, "api key: recording its use failed", "organization_id", int64(k.OrgID),
				"api_key_id", int64(k.ID), "error", err)
		}
	}
	return domain.Actor{OrgID: k.OrgID, UserID: k.UserID, Role: role, APIKeyID: k.ID, ReadOnly: k.ReadOnly}, nil
}

// apiKeyPrincipalKey names a key check in the organization's cache ("k2:",
// beside the session checks' "p2:"; "k:" held roles only, not refusals,
// and is no longer read).
func apiKeyPrincipalKey(id domain.APIKeyID) string {
	return "k2:" + strconv.FormatInt(int64(id), 10)
}
