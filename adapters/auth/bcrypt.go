package auth

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

var _ ports.PasswordHasher = (*Bcrypt)(nil)

// Bcrypt hashes passwords with bcrypt at a fixed cost.
//
// At most one bcrypt runs per CPU at a time (the slots): a flood of logins
// then queues here, with as many hashes in flight as the machine can run,
// instead of putting dozens of CPU-bound goroutines in the scheduler's run
// queues, where every other request would wait behind their time slices.
// Login throughput is unchanged (the CPUs were the limit anyway); the rest
// of the API keeps its latency.
type Bcrypt struct {
	cost  int
	slots chan struct{}
	// queued counts the hashes waiting for a slot; waited sums their
	// waits, in nanoseconds (Queued, Waited: for metrics).
	queued atomic.Int64
	waited atomic.Int64
	// inSlot, when set (tests), runs at the start of each hash holding a
	// slot, and what it returns at the end.
	inSlot func() func()
	// topUp, when set (tests), is told the cost of each top-up hash.
	topUp func(cost int)
}

// NewBcrypt returns a hasher using cost (config keeps it within 10..14),
// running at most GOMAXPROCS hashes at once.
func NewBcrypt(cost int) *Bcrypt {
	return &Bcrypt{cost: cost, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// run holds one slot for the duration of fn. Only a hash that finds no
// free slot reads the clock.
func (b *Bcrypt) run(fn func() error) error {
	select {
	case b.slots <- struct{}{}:
	default:
		b.queued.Add(1)
		start := time.Now()
		b.slots <- struct{}{}
		b.waited.Add(int64(time.Since(start)))
		b.queued.Add(-1)
	}
	defer func() { <-b.slots }()
	if b.inSlot != nil {
		defer b.inSlot()()
	}
	return fn()
}

// Queued returns the number of hashes and comparisons waiting for a slot.
func (b *Bcrypt) Queued() int { return int(b.queued.Load()) }

// Waited returns the total time hashes and comparisons have waited for a
// slot.
func (b *Bcrypt) Waited() time.Duration { return time.Duration(b.waited.Load()) }

// Hash refuses passwords over 72 bytes: bcrypt would ignore the rest, so
// two passwords sharing their first 72 bytes would be the same password.
// The application validates first; this is the last line.
func (b *Bcrypt) Hash(password string) (string, error) {
	if len(password) > domain.MaxPasswordBytes {
		return "", domain.Invalid(domain.FieldError{Field: "password", Message: "must be at most 72 bytes"})
	}
	var h []byte
	err := b.run(func() (err error) {
		h, err = bcrypt.GenerateFromPassword([]byte(password), b.cost)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Compare returns domain.ErrBadCredentials when password does not match
// hash. A password over 72 bytes never matches: no such password was ever
// hashed, and bcrypt would otherwise accept any suffix after 72 bytes. A
// malformed hash is a data problem, returned as an internal error.
//
// A mismatch against a hash of a lower cost than the configured one takes
// as long as one at the configured cost (see topUp): an unknown email is
// compared against a hash of the configured cost, and an account not yet
// rehashed since BCRYPT_COST went up must not answer a wrong password
// faster than that, or the difference tells which emails have accounts.
func (b *Bcrypt) Compare(hash, password string) error {
	if len(password) > domain.MaxPasswordBytes {
		return domain.ErrBadCredentials
	}
	err := b.run(func() error {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			b.topUpFrom(hash)
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return domain.ErrBadCredentials
	default:
		return fmt.Errorf("compare password: %w", err)
	}
}

// topUpFrom brings the work of a compare against hash, of cost c below the
// configured cost C, up to that of one at C: bcrypt's work doubles with
// each cost step, and 2^c + (2^c + 2^(c+1) + ... + 2^(C-1)) = 2^C, so
// hashing a throw-away password once at each cost from c to C-1 makes up
// the difference. A successful login needs none: it rehashes at C anyway,
// and it is told apart from a failure by its answer, not its latency.
//
// A hash of a higher cost than C (BCRYPT_COST lowered) is slower than an
// unknown email until its account logs in and is rehashed; making every
// unknown email pay the highest cost ever stored would undo the lowering.
func (b *Bcrypt) topUpFrom(hash string) {
	c, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return
	}
	for cost := max(c, bcrypt.MinCost); cost < b.cost; cost++ {
		if b.topUp != nil {
			b.topUp(cost)
		}
		_, _ = bcrypt.GenerateFromPassword([]byte("taskflow-timing-top-up"), cost)
	}
}

// NeedsRehash reports whether hash was made at another cost than the
// configured one (either way: a lowered cost is a decision too). A hash
// that is not bcrypt's is left alone: Compare refuses it already.
func (b *Bcrypt) NeedsRehash(hash string) bool {
	c, err := bcrypt.Cost([]byte(hash))
	return err == nil && c != b.cost
}
