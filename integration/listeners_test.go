//go:build windows && wfpintegration

package integration

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// listeners are the test's own TCP and UDP sockets on the loopback targets of the
// plan. With them an unblocked connect succeeds and an unblocked datagram arrives,
// so "not blocked" is observed, not inferred from the absence of WSAEACCES. A port
// that cannot be bound (445 is usually the SMB server's on the wildcard address) is
// logged and left to whoever owns it: a connect then reaches that owner or is refused,
// and neither is WSAEACCES.
type listeners struct {
	mu       sync.Mutex
	udpBound map[string]bool // target → bound
	tcpBound map[string]bool
	markers  map[string]bool // probeproto.Marker values received over UDP
}

func startListeners(t *testing.T, attempts []probeproto.Attempt) *listeners {
	t.Helper()
	l := &listeners{udpBound: map[string]bool{}, tcpBound: map[string]bool{}, markers: map[string]bool{}}
	for _, a := range attempts {
		ip, _, err := net.SplitHostPort(a.Target)
		if err != nil || !net.ParseIP(ip).IsLoopback() {
			continue
		}
		switch a.Kind {
		case probeproto.KindTCPConnect:
			if _, done := l.tcpBound[a.Target]; done {
				continue
			}
			ln, err := net.Listen(a.Network, a.Target)
			l.tcpBound[a.Target] = err == nil
			if err != nil {
				t.Logf("listener %s %s: %v — unblocked connects reach the port's owner or are refused", a.Network, a.Target, err)
				continue
			}
			t.Cleanup(func() { ln.Close() })
			go acceptAndClose(ln)
		case probeproto.KindUDPSend:
			if _, done := l.udpBound[a.Target]; done {
				continue
			}
			pc, err := net.ListenPacket(a.Network, a.Target)
			l.udpBound[a.Target] = err == nil
			if err != nil {
				t.Logf("listener %s %s: %v — datagram arrival is not checked for this target", a.Network, a.Target, err)
				continue
			}
			t.Cleanup(func() { pc.Close() })
			go l.collect(pc)
		}
	}
	return l
}

func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.Close()
	}
}

// collect records the marker of every datagram that carries one.
func (l *listeners) collect(pc net.PacketConn) {
	buf := make([]byte, 2048)
	prefix := []byte(probeproto.MarkerPrefix)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. WSAECONNRESET from an earlier ICMP port unreachable
		}
		if i := bytes.Index(buf[:n], prefix); i >= 0 {
			l.mu.Lock()
			l.markers[string(buf[i:n])] = true
			l.mu.Unlock()
		}
	}
}

// arrived reports whether the datagram of attempt a in run runID reached the
// listener, waiting up to wait for it. ok is false when there is no listener on a's
// target, so arrival cannot be told.
func (l *listeners) arrived(runID string, a probeproto.Attempt, wait time.Duration) (arrived, ok bool) {
	if !l.udpBound[a.Target] {
		return false, false
	}
	m := probeproto.Marker(runID, a.Name)
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		got := l.markers[m]
		l.mu.Unlock()
		if got || time.Now().After(deadline) {
			return got, true
		}
	}
}
