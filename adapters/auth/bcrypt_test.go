package auth_test

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/taskflow/taskflow/adapters/auth"
	"github.com/taskflow/taskflow/domain"
)

func TestBcrypt(t *testing.T) {
	t.Parallel()
	// MinCost keeps the suite fast; the cost test below uses a real one.
	h := auth.NewBcrypt(bcrypt.MinCost)

	t.Run("hash_then_compare_matches", func(t *testing.T) {
		t.Parallel()
		for _, pw := range []string{"secure123", strings.Repeat("p", 72), "pässwörd-ünïcode"} {
			hash, err := h.Hash(pw)
			if err != nil {
				t.Fatalf("Hash(%q): %v", pw, err)
			}
			if hash == pw || !strings.HasPrefix(hash, "$2a$") {
				t.Fatalf("Hash(%q) = %q, want a bcrypt hash", pw, hash)
			}
			if err := h.Compare(hash, pw); err != nil {
				t.Fatalf("Compare: %v", err)
			}
		}
	})

	t.Run("same_password_hashes_differently", func(t *testing.T) {
		t.Parallel()
		a, _ := h.Hash("secure123")
		b, _ := h.Hash("secure123")
		if a == b {
			t.Fatal("two hashes of one password are equal: no salt")
		}
	})

	t.Run("wrong_password_is_bad_credentials", func(t *testing.T) {
		t.Parallel()
		hash, err := h.Hash("secure123")
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{"secure124", "", "Secure123", "secure123 "} {
			if err := h.Compare(hash, pw); !errors.Is(err, domain.ErrBadCredentials) {
				t.Errorf("Compare(%q) = %v, want ErrBadCredentials", pw, err)
			}
		}
	})

	t.Run("password_of_73_bytes_is_refused", func(t *testing.T) {
		t.Parallel()
		_, err := h.Hash(strings.Repeat("p", 73))
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 || de.Fields[0].Field != "password" {
			t.Fatalf("Hash(73 bytes) = %v, want an invalid password field", err)
		}
	})

	t.Run("bytes_past_72_do_not_log_in", func(t *testing.T) {
		t.Parallel()
		pw := strings.Repeat("p", 72)
		hash, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Compare(hash, pw+"anything"); !errors.Is(err, domain.ErrBadCredentials) {
			t.Fatalf("Compare(72 bytes + suffix) = %v, want ErrBadCredentials", err)
		}
	})

	t.Run("malformed_hash_is_an_internal_error", func(t *testing.T) {
		t.Parallel()
		err := h.Compare("not-a-bcrypt-hash", "secure123")
		if err == nil || errors.Is(err, domain.ErrBadCredentials) || domain.KindOf(err) != domain.KindInternal {
			t.Fatalf("Compare(malformed) = %v, want an internal error", err)
		}
	})

	t.Run("configured_cost_is_used", func(t *testing.T) {
		t.Parallel()
		const cost = 10 // the lowest the configuration allows
		hash, err := auth.NewBcrypt(cost).Hash("secure123")
		if err != nil {
			t.Fatal(err)
		}
		got, err := bcrypt.Cost([]byte(hash))
		if err != nil || got != cost {
			t.Fatalf("bcrypt.Cost = %d, %v; want %d", got, err, cost)
		}
	})
}

// TestBcrypt_BoundsConcurrentHashes: no more bcrypt runs at once than the
// process has CPUs, however many callers there are.
func TestBcrypt_BoundsConcurrentHashes(t *testing.T) {
	b := auth.NewBcrypt(bcrypt.MinCost)
	var running, peak atomic.Int64
	auth.SetBcryptHook(b, func() func() {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		// Hold the slot a while so that, were there no bound, callers
		// would pile up here.
		time.Sleep(2 * time.Millisecond)
		return func() { running.Add(-1) }
	})
	var wg sync.WaitGroup
	for range 16 * runtime.GOMAXPROCS(0) {
		wg.Go(func() { _, _ = b.Hash("secure123") })
	}
	wg.Wait()
	if got, max := peak.Load(), int64(runtime.GOMAXPROCS(0)); got > max || got < 1 {
		t.Fatalf("peak concurrent hashes = %d, want 1..%d", got, max)
	}
}

// TestBcrypt_QueuedCountsTheWaiters: with every slot held, further hashes
// are counted as queued until a slot frees, and their wait is summed.
func TestBcrypt_QueuedCountsTheWaiters(t *testing.T) {
	b := auth.NewBcrypt(bcrypt.MinCost)
	slots := runtime.GOMAXPROCS(0)
	holding := make(chan struct{}, slots+3)
	release := make(chan struct{})
	auth.SetBcryptHook(b, func() func() {
		holding <- struct{}{}
		<-release
		return func() {}
	})
	var wg sync.WaitGroup
	for range slots + 3 {
		wg.Go(func() { _, _ = b.Hash("secure123") })
	}
	for range slots {
		<-holding
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Queued() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Queued() = %d with every slot held and %d more callers, want 3", b.Queued(), 3)
		}
		runtime.Gosched()
	}
	time.Sleep(time.Millisecond) // a wait of at least this
	close(release)
	wg.Wait()
	if q := b.Queued(); q != 0 {
		t.Fatalf("Queued() = %d after every hash ended, want 0", q)
	}
	if w := b.Waited(); w < 3*time.Millisecond {
		t.Fatalf("Waited() = %v, want at least 3 waits of 1ms", w)
	}
}

func TestBcrypt_NeedsRehashWhenTheCostDiffers(t *testing.T) {
	t.Parallel()
	at := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte("secure123"), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	h := auth.NewBcrypt(6)
	for _, c := range []struct {
		name string
		hash string
		want bool
	}{
		{"lower_cost", at(5), true},
		{"same_cost", at(6), false},
		{"higher_cost", at(7), true},
		{"not_a_bcrypt_hash", "plain", false},
	} {
		if got := h.NeedsRehash(c.hash); got != c.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestBcrypt_WrongPasswordOnALowerCostHashCostsTheConfiguredWork: the
// top-up hashes make 2^c + 2^c + 2^(c+1) + ... + 2^(C-1) = 2^C, the work
// of the unknown-email path's compare at the configured cost C.
func TestBcrypt_WrongPasswordOnALowerCostHashCostsTheConfiguredWork(t *testing.T) {
	t.Parallel()
	const configured = 7
	h := auth.NewBcrypt(configured)
	var mu sync.Mutex
	var topUps []int
	auth.SetTopUpHook(h, func(cost int) {
		mu.Lock()
		defer mu.Unlock()
		topUps = append(topUps, cost)
	})
	work := func(hashCost int, password string) (int, error) {
		mu.Lock()
		topUps = nil
		mu.Unlock()
		hash, err := bcrypt.GenerateFromPassword([]byte("secure123"), hashCost)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Compare(string(hash), password)
		mu.Lock()
		defer mu.Unlock()
		total := 1 << hashCost
		for _, c := range topUps {
			total += 1 << c
		}
		return total, err
	}
	for _, hashCost := range []int{4, 5, 6, 7} {
		got, err := work(hashCost, "wrong-password")
		if !errors.Is(err, domain.ErrBadCredentials) {
			t.Fatalf("cost %d: Compare = %v, want ErrBadCredentials", hashCost, err)
		}
		if got != 1<<configured {
			t.Errorf("a wrong password on a cost %d hash does %d units of work, want %d", hashCost, got, 1<<configured)
		}
	}
	// A good password is not topped up: the rehash that follows costs more.
	if got, err := work(5, "secure123"); err != nil || got != 1<<5 {
		t.Errorf("a good password on a cost 5 hash: %d units, %v; want %d and no error", got, err, 1<<5)
	}
}
