// Package testutil holds helpers the tests of several packages share.
package testutil

import (
	"testing"
	"time"
)

// Within fails the test if f has not returned after d: how the tests show that an
// input (a FIFO opened without O_NONBLOCK, say) does not block forever.
func Within(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still blocked after %v", d)
	}
}
