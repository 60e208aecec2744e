// Package await lets a test wait for something another goroutine makes true.
package await

import (
	"testing"
	"time"
)

// Until polls cond until it holds, or fails the test when timeout passes first. The
// timeout only guards against a hang: how soon cond holds is never asserted.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
