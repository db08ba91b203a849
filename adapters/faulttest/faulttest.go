// Package faulttest starts throwaway Postgres and Redis servers on free
// loopback ports for the tests that break them: stop, kill, freeze,
// restart. The shared servers of the machine (127.0.0.1:5432 and :6379)
// are never touched. Each server is stopped by its PID when the test ends.
//
// Under CI=true a missing server binary fails the test; elsewhere the test
// is skipped. It may import the standard library, lib/pq and go-redis.
package faulttest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every 10 ms until it holds, failing the test after
// timeout with what it was waiting for.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// need finds a server binary, failing under CI=true and skipping
// elsewhere when it is missing.
func need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (CI=true, so this fails): %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return path
}

func itoa(n int) string { return strconv.Itoa(n) }
