//go:build windows && wfpintegration

package integration

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/selftest"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// listeners are the test's own TCP and UDP sockets on the loopback targets of the
// plan — the product's selftest.Listeners, so the suite and the selftest observe
// "not blocked" the same way: an unblocked connect succeeds and an unblocked datagram
// arrives, rather than being inferred from the absence of WSAEACCES. A port that cannot
// be bound (445 is usually the SMB server's on the wildcard address) is logged and left
// to whoever owns it: a connect then reaches that owner or is refused, and neither is
// WSAEACCES.
type listeners struct{ *selftest.Listeners }

func startListeners(t *testing.T, attempts []probeproto.Attempt) *listeners {
	t.Helper()
	var loopback []probeproto.Attempt
	for _, a := range attempts {
		host, _, err := net.SplitHostPort(a.Target)
		if err != nil {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			loopback = append(loopback, a)
		}
	}
	l, err := selftest.Listen(loopback, netip.Addr.IsLoopback)
	if err != nil {
		t.Fatalf("listeners: %v", err)
	}
	t.Cleanup(l.Close)
	for _, n := range l.Notes {
		t.Log(n)
	}
	return &listeners{l}
}

// arrived reports whether the datagram of attempt a in run runID reached the
// listener, waiting up to wait for it. ok is false when there is no listener on a's
// target, so arrival cannot be told.
func (l *listeners) arrived(runID string, a probeproto.Attempt, wait time.Duration) (arrived, ok bool) {
	got := l.Arrived(runID, a, wait)
	if got == nil {
		return false, false
	}
	return *got, true
}
