package arbiter

import (
	"fmt"
	"net/netip"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Direction is the direction of a flow.
type Direction uint8

// Directions.
const (
	// Outbound is a connect (TCP connect, first UDP datagram or ICMP message to a peer).
	Outbound Direction = iota
	// Inbound is an accept (an incoming TCP connection or first UDP datagram from a peer).
	Inbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "in"
	}
	return "out"
}

// IP protocol numbers.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// ICMP echo request types, used as the ICMP type of ICMP flows.
const (
	icmpEchoRequest   = 8
	icmpv6EchoRequest = 128
)

// Flow is one flow to evaluate.
//
// Address classification: a flow is evaluated at the V4 layers when Remote holds an
// IPv4 address and at the V6 layers otherwise. An IPv4-mapped address (::ffff:a.b.c.d)
// is kept as it is — a 16-byte address at the V6 layers — which is what a dual-stack
// AF_INET6 socket hands to connect(). Whether Windows classifies such a connection at
// the V6 layer with the mapped address or at the V4 layer with a.b.c.d is not
// documented and has not been checked on Windows; Evaluate also evaluates the other
// case and adds a caution to the decision when its action differs.
type Flow struct {
	Direction Direction
	Protocol  uint8
	// Remote is the peer. For ICMP its port is the ICMP code (IP_REMOTE_PORT is
	// ICMP_CODE for ICMP; fwpmu.h).
	Remote netip.AddrPort
	// Local is the local address and port, when known. The zero value means unknown:
	// conditions on IP_LOCAL_ADDRESS / IP_LOCAL_PORT then cannot be evaluated.
	Local netip.AddrPort
	Token Token
}

// IsV6 reports whether the flow is evaluated at the V6 layers.
func (f Flow) IsV6() bool { return !f.Remote.Addr().Is4() }

// Layers returns the layers the flow is classified at, in order: for an outbound flow
// ALE_RESOURCE_ASSIGNMENT (the implicit bind of a connecting socket, the creation of a
// raw ICMP endpoint) then ALE_AUTH_CONNECT; for an inbound flow ALE_AUTH_RECV_ACCEPT.
// Other layers (ALE_AUTH_LISTEN, the redirect layers, FLOW_ESTABLISHED, transport and
// packet layers) are not evaluated.
func (f Flow) Layers() []wfp.LayerID {
	v6 := f.IsV6()
	if f.Direction == Inbound {
		if v6 {
			return []wfp.LayerID{wfp.LayerALEAuthRecvAcceptV6}
		}
		return []wfp.LayerID{wfp.LayerALEAuthRecvAcceptV4}
	}
	if v6 {
		return []wfp.LayerID{wfp.LayerALEResourceAssignmentV6, wfp.LayerALEAuthConnectV6}
	}
	return []wfp.LayerID{wfp.LayerALEResourceAssignmentV4, wfp.LayerALEAuthConnectV4}
}

// Validate checks that the flow can be evaluated.
func (f Flow) Validate() error {
	if !f.Remote.Addr().IsValid() {
		return fmt.Errorf("flow has no remote address")
	}
	if f.Token.User.IsZero() && !f.Token.None {
		return fmt.Errorf("flow has no token user SID")
	}
	switch f.Protocol {
	case ProtoICMP:
		if f.IsV6() {
			return fmt.Errorf("ICMP (protocol 1) needs an IPv4 remote address, not %s; use icmpv6", f.Remote.Addr())
		}
	case ProtoICMPv6:
		if !f.IsV6() {
			return fmt.Errorf("ICMPv6 (protocol 58) needs an IPv6 remote address, not %s; use icmp", f.Remote.Addr())
		}
	}
	if f.Local.Addr().IsValid() && f.Local.Addr().Is4() != f.Remote.Addr().Is4() {
		return fmt.Errorf("local address %s and remote address %s are of different families", f.Local.Addr(), f.Remote.Addr())
	}
	return nil
}

// String is a one-line description of the flow.
func (f Flow) String() string {
	s := fmt.Sprintf("%s %s %s", f.Direction, ProtoName(f.Protocol), f.Remote)
	if f.Local.Addr().IsValid() {
		s += " local " + f.Local.String()
	}
	return s + ", token " + f.Token.String()
}

// ProtoName returns tcp, udp, icmp, icmpv6 or the number.
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprintf("proto-%d", p)
}

// ParseProto accepts tcp, udp, icmp or icmpv6.
func ParseProto(s string) (uint8, error) {
	switch s {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "icmp":
		return ProtoICMP, nil
	case "icmpv6":
		return ProtoICMPv6, nil
	}
	return 0, fmt.Errorf("unknown protocol %q: want tcp, udp, icmp or icmpv6", s)
}

// icmpType is the ICMP type of an ICMP flow (IP_LOCAL_PORT carries it; fwpmu.h
// ICMP_TYPE): an echo request.
func (f Flow) icmpType() (uint16, bool) {
	switch f.Protocol {
	case ProtoICMP:
		return icmpEchoRequest, true
	case ProtoICMPv6:
		return icmpv6EchoRequest, true
	}
	return 0, false
}
