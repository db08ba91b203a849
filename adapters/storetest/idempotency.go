package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

const (
	lease = time.Minute
	ttl   = 24 * time.Hour
)

func (f *fixture) begin(k ports.IdempotencyKey, fp string, at time.Time) (ports.IdempotencyClaim, *ports.StoredResponse, error) {
	f.t.Helper()
	return f.s.Idempotency.Begin(f.ctx, k, fp, at, lease, ttl)
}

// claim begins k and fails the test unless the key was free.
func (f *fixture) claim(k ports.IdempotencyKey, fp string, at time.Time) ports.IdempotencyClaim {
	f.t.Helper()
	c, replay, err := f.begin(k, fp, at)
	if err != nil || replay != nil || c.Token == "" {
		f.t.Fatalf("Begin(%+v) = %+v, replay %+v, %v; want a claim", k, c, replay, err)
	}
	return c
}

var answer = ports.StoredResponse{Status: 201,
	Header: [][2]string{{"Location", "/tasks/7"}, {"ETag", `"1"`}}, Body: []byte(`{"id":7}`)}

func newKey(org domain.OrgID) ports.IdempotencyKey {
	return ports.IdempotencyKey{OrgID: org, Caller: "user:1", Key: unique("key-")}
}

var idempotencyTests = []test{
	{"a_completed_key_replays_its_answer_for_the_same_fingerprint", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		c := f.claim(k, "fp", t0)
		wantNoErr(t, "complete", f.s.Idempotency.Complete(f.ctx, c, answer))
		got, replay, err := f.begin(k, "fp", t0.Add(ttl-time.Second))
		wantNoErr(t, "begin again", err)
		wantEqual(t, "claim on a replay", got, ports.IdempotencyClaim{})
		wantEqual(t, "replay", replay, &answer)
	}},
	{"an_empty_answer_is_replayed_empty", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		c := f.claim(k, "fp", t0)
		wantNoErr(t, "complete", f.s.Idempotency.Complete(f.ctx, c, ports.StoredResponse{Status: 204}))
		_, replay, err := f.begin(k, "fp", t0)
		wantNoErr(t, "begin again", err)
		if replay == nil || replay.Status != 204 || len(replay.Body) != 0 || len(replay.Header) != 0 {
			t.Fatalf("replay = %+v, want a bare 204", replay)
		}
	}},
	{"a_key_in_progress_is_refused_until_its_lease_ends", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		first := f.claim(k, "fp", t0)
		_, _, err := f.begin(k, "fp", t0.Add(lease-time.Second))
		wantErr(t, "within the lease", err, domain.ErrIdempotencyKeyInProgress)
		// The first request died: past its lease, a retry takes over...
		second := f.claim(k, "fp", t0.Add(lease))
		// ...and the first, should it wake up, can no longer complete.
		wantErr(t, "complete by the old holder", f.s.Idempotency.Complete(f.ctx, first, answer), domain.ErrIdempotencyKeyInProgress)
		wantNoErr(t, "old holder's release", f.s.Idempotency.Release(f.ctx, first))
		wantNoErr(t, "complete by the new holder", f.s.Idempotency.Complete(f.ctx, second, answer))
		_, replay, err := f.begin(k, "fp", t0.Add(lease))
		wantNoErr(t, "begin after completion", err)
		wantEqual(t, "replay", replay, &answer)
	}},
	{"another_fingerprint_is_reused_whatever_the_state", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		c := f.claim(k, "fp", t0)
		_, _, err := f.begin(k, "other", t0)
		wantErr(t, "in progress", err, domain.ErrIdempotencyKeyReused)
		wantNoErr(t, "complete", f.s.Idempotency.Complete(f.ctx, c, answer))
		_, _, err = f.begin(k, "other", t0)
		wantErr(t, "completed", err, domain.ErrIdempotencyKeyReused)
	}},
	{"a_released_key_is_free_again", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		c := f.claim(k, "fp", t0)
		wantNoErr(t, "release", f.s.Idempotency.Release(f.ctx, c))
		c2 := f.claim(k, "another request", t0)
		wantErr(t, "complete a released claim", f.s.Idempotency.Complete(f.ctx, c, answer), domain.ErrIdempotencyKeyInProgress)
		wantNoErr(t, "complete the new claim", f.s.Idempotency.Complete(f.ctx, c2, answer))
		// A completed key is not released: its answer stands.
		wantNoErr(t, "release after completion", f.s.Idempotency.Release(f.ctx, c2))
		_, replay, err := f.begin(k, "another request", t0)
		wantNoErr(t, "begin", err)
		wantEqual(t, "replay", replay, &answer)
	}},
	{"an_expired_key_starts_afresh", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		c := f.claim(k, "fp", t0)
		wantNoErr(t, "complete", f.s.Idempotency.Complete(f.ctx, c, answer))
		// A different request after expiry is not a reuse: the key is new.
		c2 := f.claim(k, "other", t0.Add(ttl))
		wantNoErr(t, "complete", f.s.Idempotency.Complete(f.ctx, c2, ports.StoredResponse{Status: 422, Body: []byte("{}")}))
		_, replay, err := f.begin(k, "other", t0.Add(ttl))
		wantNoErr(t, "begin", err)
		if replay == nil || replay.Status != 422 {
			t.Fatalf("replay = %+v, want the new 422", replay)
		}
	}},
	{"expired_keys_of_the_organization_are_purged", func(t *testing.T, f *fixture) {
		o := f.org()
		c := f.claim(newKey(o.ID), "fp", t0)
		// A Begin of another key once the first expired purges the first:
		// its row is gone, so a Complete by its old claim finds nothing
		// (unpurged, the row would still be in progress under c.Token).
		f.claim(newKey(o.ID), "fp", t0.Add(ttl))
		wantErr(t, "complete of a purged key", f.s.Idempotency.Complete(f.ctx, c, answer), domain.ErrIdempotencyKeyInProgress)
	}},
	{"another_organizations_or_callers_key_is_invisible", func(t *testing.T, f *fixture) {
		a, b := f.org(), f.org()
		k := newKey(a.ID)
		c := f.claim(k, "fp", t0)
		wantNoErr(t, "complete", f.s.Idempotency.Complete(f.ctx, c, answer))
		// The same key value, in another organization or by another
		// caller, is a key of its own: claimed afresh, any fingerprint.
		other := k
		other.OrgID = b.ID
		cb := f.claim(other, "other", t0)
		caller := k
		caller.Caller = "user:2"
		f.claim(caller, "fp", t0)
		// Another organization's claim cannot complete or release a's key.
		forged := c
		forged.OrgID = b.ID
		wantErr(t, "complete across organizations", f.s.Idempotency.Complete(f.ctx, forged, answer), domain.ErrIdempotencyKeyInProgress)
		cb.Token = c.Token
		wantErr(t, "complete b's key with a's token", f.s.Idempotency.Complete(f.ctx, cb, answer), domain.ErrIdempotencyKeyInProgress)
		_, replay, err := f.begin(k, "fp", t0)
		wantNoErr(t, "a's key", err)
		wantEqual(t, "a's replay", replay, &answer)
	}},
	{"a_completion_rolled_back_with_its_transaction_leaves_the_key_in_progress", func(t *testing.T, f *fixture) {
		o, admin := f.orgWithAdmin()
		k := newKey(o.ID)
		c := f.claim(k, "fp", t0)
		boom := errors.New("boom")
		err := f.tx.InTx(f.ctx, func(s ports.Stores) error {
			if err := s.Tasks.Create(f.ctx, newTask(t, o.ID, admin.ID, nil)); err != nil {
				return err
			}
			if err := s.Idempotency.Complete(f.ctx, c, answer); err != nil {
				return err
			}
			return boom
		})
		wantErr(t, "InTx", err, boom)
		_, _, err = f.begin(k, "fp", t0)
		wantErr(t, "after the rollback", err, domain.ErrIdempotencyKeyInProgress)
		// Committed, the completion and the resource go together.
		err = f.tx.InTx(f.ctx, func(s ports.Stores) error {
			if err := s.Tasks.Create(f.ctx, newTask(t, o.ID, admin.ID, nil)); err != nil {
				return err
			}
			return s.Idempotency.Complete(f.ctx, c, answer)
		})
		wantNoErr(t, "InTx", err)
		_, replay, err := f.begin(k, "fp", t0)
		wantNoErr(t, "after the commit", err)
		wantEqual(t, "replay", replay, &answer)
	}},
	{"concurrent_begins_of_one_new_key_claim_it_once", func(t *testing.T, f *fixture) {
		k := newKey(f.org().ID)
		tokens := make([]string, 20)
		errs := race(20, func(i int) error {
			c, _, err := f.s.Idempotency.Begin(f.ctx, k, "fp", t0, lease, ttl)
			tokens[i] = c.Token
			return err
		})
		claims := 0
		for i, err := range errs {
			switch {
			case err == nil && tokens[i] != "":
				claims++
			case !errors.Is(err, domain.ErrIdempotencyKeyInProgress):
				t.Fatalf("begin %d: %v", i, err)
			}
		}
		if claims != 1 {
			t.Fatalf("%d claims, want 1", claims)
		}
	}},
}
