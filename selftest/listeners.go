package selftest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// Listeners are the selftest's own TCP and UDP sockets on the probes' targets — this
// host's addresses only — so that an unblocked connect succeeds and an unblocked
// datagram arrives: "not blocked" is observed, not inferred from the absence of
// WSAEACCES. A port that cannot be bound (445 and 139 usually belong to the SMB server)
// is noted and left to its owner: a connect then reaches that owner or is refused, and
// neither is WSAEACCES.
type Listeners struct {
	mu       sync.Mutex
	udpBound map[string]bool // target → bound
	closers  []func() error
	markers  map[string]bool // probeproto.Marker values received over UDP
	// Notes say which targets could not be bound.
	Notes []string
}

// OnlyOwnTargets fails for an attempt whose target is not one of this host's addresses
// (own reports whether an address is), so no attempt can be aimed at another host.
func OnlyOwnTargets(attempts []probeproto.Attempt, own func(netip.Addr) bool) error {
	for _, a := range attempts {
		if a.Target == "" {
			continue // KindWFPRead
		}
		addr, err := netip.ParseAddr(a.Target)
		if err != nil {
			ap, perr := netip.ParseAddrPort(a.Target)
			if perr != nil {
				return fmt.Errorf("attempt %s: target %q: %w", a.Name, a.Target, perr)
			}
			addr = ap.Addr()
		}
		if !own(addr.Unmap()) {
			return fmt.Errorf("attempt %s: %s is not an address of this host; the selftest sends nothing to other hosts", a.Name, addr)
		}
	}
	return nil
}

// Listen opens a listener on the target of every TCP connect and UDP send attempt. It
// refuses a target that is not one of this host's addresses (OnlyOwnTargets).
func Listen(attempts []probeproto.Attempt, own func(netip.Addr) bool) (*Listeners, error) {
	if err := OnlyOwnTargets(attempts, own); err != nil {
		return nil, err
	}
	l := &Listeners{udpBound: map[string]bool{}, markers: map[string]bool{}}
	tcpDone := map[string]bool{}
	for _, a := range attempts {
		if a.Kind != probeproto.KindTCPConnect && a.Kind != probeproto.KindUDPSend {
			continue
		}
		switch a.Kind {
		case probeproto.KindTCPConnect:
			if tcpDone[a.Target] {
				continue
			}
			tcpDone[a.Target] = true
			ln, err := net.Listen(a.Network, a.Target)
			if err != nil {
				l.Notes = append(l.Notes, fmt.Sprintf("listener %s %s: %v — an unblocked connect reaches the port's owner or is refused", a.Network, a.Target, err))
				continue
			}
			l.closers = append(l.closers, ln.Close)
			go acceptAndClose(ln)
		case probeproto.KindUDPSend:
			if _, done := l.udpBound[a.Target]; done {
				continue
			}
			pc, err := net.ListenPacket(a.Network, a.Target)
			l.udpBound[a.Target] = err == nil
			if err != nil {
				l.Notes = append(l.Notes, fmt.Sprintf("listener %s %s: %v — whether the datagram arrived is not checked for this target", a.Network, a.Target, err))
				continue
			}
			l.closers = append(l.closers, pc.Close)
			go l.collect(pc)
		}
	}
	return l, nil
}

// Close closes every listener.
func (l *Listeners) Close() {
	for _, c := range l.closers {
		_ = c()
	}
	l.closers = nil
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
func (l *Listeners) collect(pc net.PacketConn) {
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

// Arrived reports whether the datagram of attempt a in run runID reached its listener,
// waiting up to wait; nil when no listener is bound on a's target.
func (l *Listeners) Arrived(runID string, a probeproto.Attempt, wait time.Duration) *bool {
	if a.Kind != probeproto.KindUDPSend || !l.udpBound[a.Target] {
		return nil
	}
	m := probeproto.Marker(runID, a.Name)
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		got := l.markers[m]
		l.mu.Unlock()
		if got || time.Now().After(deadline) {
			return &got
		}
	}
}

// PortFree reports whether network ("tcp4", "tcp6", "udp4", "udp6") can be bound at
// ap, this host's own address: it binds and closes at once. ChoosePorts uses it to keep
// an extra rule's probe off a port another program listens on.
func PortFree(network string, ap netip.AddrPort) bool {
	switch network {
	case "tcp4", "tcp6":
		ln, err := net.Listen(network, ap.String())
		if err != nil {
			return false
		}
		_ = ln.Close()
		return true
	case "udp4", "udp6":
		pc, err := net.ListenPacket(network, ap.String())
		if err != nil {
			return false
		}
		_ = pc.Close()
		return true
	}
	return false
}
