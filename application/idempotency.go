package application

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

// IdempotencyTTL is how long a key and its answer are remembered.
const IdempotencyTTL = 24 * time.Hour

// Idempotency lets a client retry a write safely with an Idempotency-Key:
// the first request with a key claims it, and the answer to that request
// is stored under it and replayed to every retry.
//
// Transactions. Begin claims the key in a short transaction of its own
// (a unique (organization, caller, key) row, in progress), so that of
// concurrent requests with one key exactly one goes on: the others see
// the row and answer 409, or replay once it is complete. The request's
// use case then writes its resource and completes the key with the answer
// in one transaction (a Receipt): a crash never leaves a resource without
// its key, nor a completed key without its resource. An answer that wrote
// nothing (a 4xx) is completed by Complete, in a transaction of its own;
// after a 5xx the claim is Released, so the client may retry at once.
//
// Lease. A request that dies between Begin and its commit leaves a row
// in progress with no resource. Its claim holds for lease (the request
// timeout and a margin: no live request holds it longer), after which a
// retry takes the key over. Were the old request alive after all, its
// Complete fails on the token the takeover replaced, and its transaction
// rolls back with its resource: one request per key ever commits.
type Idempotency struct {
	keys  ports.IdempotencyStore
	clock ports.Clock
	lease time.Duration
}

// NewIdempotency builds the use case over keys, which must be a store over
// the pools (not bound to a transaction): each call commits on its own.
func NewIdempotency(keys ports.IdempotencyStore, clock ports.Clock, lease time.Duration) *Idempotency {
	return &Idempotency{keys: keys, clock: clock, lease: lease}
}

// Caller names who sends a key: keys are per caller, so that another
// caller of the same organization never receives an answer (with a
// secret) meant for this one. An API key is a caller of its own, apart
// from the member who made it.
func Caller(actor domain.Actor) string {
	if actor.ViaAPIKey() {
		return "apikey:" + strconv.FormatInt(int64(actor.APIKeyID), 10)
	}
	return "user:" + strconv.FormatInt(int64(actor.UserID), 10)
}

// Begin claims key for the actor's request with fingerprint (see
// ports.IdempotencyStore.Begin): a claim, or the stored answer to replay,
// or domain.ErrIdempotencyKeyReused or ErrIdempotencyKeyInProgress.
func (i *Idempotency) Begin(ctx context.Context, actor domain.Actor, key, fingerprint string) (ports.IdempotencyClaim, *ports.StoredResponse, error) {
	k := ports.IdempotencyKey{OrgID: actor.OrgID, Caller: Caller(actor), Key: key}
	c, replay, err := i.keys.Begin(ctx, k, fingerprint, i.clock.Now(), i.lease, IdempotencyTTL)
	if err != nil {
		return c, nil, fmt.Errorf("idempotency key: %w", err)
	}
	return c, replay, nil
}

// Complete stores the answer to a request that wrote nothing.
func (i *Idempotency) Complete(ctx context.Context, c ports.IdempotencyClaim, resp ports.StoredResponse) error {
	return i.keys.Complete(ctx, c, resp)
}

// Release gives the key up after an answer that must not be replayed.
func (i *Idempotency) Release(ctx context.Context, c ports.IdempotencyClaim) error {
	return i.keys.Release(ctx, c)
}

// Receipt completes an idempotent request's key in the transaction that
// writes its resource. Answer renders the request's answer from the
// resource, before the commit: the caller (an HTTP handler) knows what
// the answer looks like, the use case only when to store it. A nil
// *Receipt is a request without a key.
type Receipt[T any] struct {
	Claim  ports.IdempotencyClaim
	Answer func(T) ports.StoredResponse
}

func (r *Receipt[T]) complete(ctx context.Context, s ports.Stores, v T) error {
	if r == nil {
		return nil
	}
	if err := s.Idempotency.Complete(ctx, r.Claim, r.Answer(v)); err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return nil
}
