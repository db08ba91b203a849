package auth_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/taskflow/taskflow/adapters/auth"
)

func TestSystemClock_Now_is_utc_and_current(t *testing.T) {
	t.Parallel()
	got := auth.SystemClock{}.Now()
	if got.Location() != time.UTC {
		t.Fatalf("location = %v, want UTC", got.Location())
	}
	if d := time.Since(got); d < 0 || d > time.Minute {
		t.Fatalf("Now is %v away from time.Now", d)
	}
}

func TestRandomCodes_NewCode(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		code, err := auth.RandomCodes{}.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(code)
		if err != nil || len(b) != 32 {
			t.Fatalf("code %q: %d bytes, %v; want 32 bytes of base64url without padding", code, len(b), err)
		}
		if seen[code] {
			t.Fatalf("code %q repeated", code)
		}
		seen[code] = true
	}
}
