//go:build windows && wfpintegration

package integration

import (
	"fmt"
	"net"
	"strconv"

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// remoteV4 is TEST-NET-1 (RFC 5737): routed off the host like any Internet address
// but owned by nobody, so an unblocked UDP datagram simply leaves and an unblocked TCP
// connect times out — neither is WSAEACCES. It exists for the AppContainer child,
// which Windows never lets reach loopback (without a loopback exemption), so loopback
// targets cannot show whether wfpsandbox's filters apply to it. No IPv6 equivalent:
// on a host without IPv6 routes a connect fails with "network unreachable" before
// ALE_AUTH_CONNECT is consulted, which would test nothing.
const remoteV4 = "192.0.2.1"

// planAttempts is what every probe run tries. The baseline filters match the remote
// port (and, for ICMP, the protocol) whatever the address, so loopback targets test
// them as well as remote ones, and the test's listeners there make an unblocked
// attempt succeed.
func planAttempts() []probeproto.Attempt {
	const loopWhy = "loopback: the filter matches the remote port whatever the address; the test listens there when it can bind the port"
	var as []probeproto.Attempt
	for _, fam := range []struct {
		family string
		port   int
	}{{"dns", 53}, {"dot", 853}, {"smb", 445}, {"netbios", 139}} {
		for _, ipv := range []struct{ v, host string }{{"4", "127.0.0.1"}, {"6", "::1"}} {
			as = append(as, probeproto.Attempt{
				Name: fmt.Sprintf("%s-tcp-v%s", fam.family, ipv.v), Family: fam.family, Kind: probeproto.KindTCPConnect,
				Network: "tcp" + ipv.v, Target: net.JoinHostPort(ipv.host, strconv.Itoa(fam.port)), Why: loopWhy,
			})
		}
	}
	as = append(as,
		probeproto.Attempt{Name: "dns-udp-v4", Family: "dns", Kind: probeproto.KindUDPSend, Network: "udp4",
			Target: "127.0.0.1:53", Why: loopWhy + "; its listener also shows whether the datagram arrived"},
		probeproto.Attempt{Name: "dns-udp-v6", Family: "dns", Kind: probeproto.KindUDPSend, Network: "udp6",
			Target: "[::1]:53", Why: loopWhy + "; its listener also shows whether the datagram arrived"},
		probeproto.Attempt{Name: "icmp-raw-v4", Family: "icmp", Kind: probeproto.KindRawICMP, Network: "ip4:1",
			Target: "127.0.0.1", Why: "raw ICMP socket: the only socket-level ICMP on Windows; refused to non-administrators by the OS itself"},
		probeproto.Attempt{Name: "icmp-raw-v6", Family: "icmp", Kind: probeproto.KindRawICMP, Network: "ip6:58",
			Target: "::1", Why: "raw ICMPv6 socket, as icmp-raw-v4"},
		probeproto.Attempt{Name: "icmp-echo-api-v4", Family: "icmp", Kind: probeproto.KindICMPEchoAPI, Network: "ip4:1",
			Target: "127.0.0.1", Why: "IcmpSendEcho (ping.exe's path): recorded only — whether WFP attributes it to the caller is wfp-facts §10.2"},
		probeproto.Attempt{Name: "dns-udp-remote-v4", Family: "dns", Kind: probeproto.KindUDPSend, Network: "udp4",
			Target: net.JoinHostPort(remoteV4, "53"), Why: "TEST-NET-1: reachable by the AppContainer child, unlike loopback"},
		probeproto.Attempt{Name: "smb-tcp-remote-v4", Family: "smb", Kind: probeproto.KindTCPConnect, Network: "tcp4",
			Target: net.JoinHostPort(remoteV4, "445"), Why: "TEST-NET-1: reachable by the AppContainer child; unblocked it times out"},
	)
	return as
}

// recordOnly reports whether an attempt's outcome is logged but never asserted.
func recordOnly(a probeproto.Attempt) bool { return a.Kind == probeproto.KindICMPEchoAPI }

// rawICMP reports whether an attempt needs a raw socket, which Windows refuses to
// non-administrators with WSAEACCES whatever WFP holds.
func rawICMP(a probeproto.Attempt) bool { return a.Kind == probeproto.KindRawICMP }

// isLoopback reports whether an attempt's target is a loopback address.
func isLoopback(a probeproto.Attempt) bool {
	host := a.Target
	if h, _, err := net.SplitHostPort(a.Target); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
