package policy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Weight ranges (FWP_UINT8 filter weights, wfp-facts §1) of the strict profile inside
// the wfpsandbox sublayer. Inside one sublayer the first matching permit or block, in
// order of weight, decides and hides every filter below it; so the order is:
//
//	WeightBlocks   (3): the 12 baseline blocks and a policy file's extra blocks
//	WeightLoopback (2): the loopback permits
//	WeightCatchAll (1): block every other connect and accept
//
// The baseline and extra blocks sit ABOVE the loopback permits on purpose: a loopback
// permit that matched first would hide them, so DNS to a resolver listening on
// 127.0.0.1:53 (a local forwarder reaching the real network for the account), DoT, SMB
// and NetBIOS on loopback, and ICMP to loopback would be allowed. With this order they
// stay blocked for the account on loopback too; only the rest of loopback is open.
const (
	WeightCatchAll uint8 = 1
	WeightLoopback uint8 = 2
	WeightBlocks   uint8 = 3
)

// MaxProxyPorts is the most proxy ports the strict profile accepts; each is one
// condition of the two loopback-connect permits.
const MaxProxyPorts = 64

// Loopback prefixes the strict profile permits: 127.0.0.0/8 and ::1/128. No other form
// of loopback is permitted: IPv4-mapped (::ffff:127.0.0.1) and IPv4-compatible
// (::127.0.0.1) addresses are not in ::1/128, so at the V6 layers they stay blocked.
var (
	LoopbackV4 = netip.MustParsePrefix("127.0.0.0/8")
	LoopbackV6 = netip.MustParsePrefix("::1/128")
)

// StrictRules returns the rules of the strict profile: the account can reach nothing
// but loopback.
//
//   - strict-block-connect-v4/v6 (weight range 1): block every outbound connect at
//     ALE_AUTH_CONNECT — TCP, UDP, ICMP and raw protocols alike;
//   - strict-block-accept-v4/v6 (range 1): block every inbound accept at
//     ALE_AUTH_RECV_ACCEPT;
//   - strict-loopback-connect-v4/v6 (range 2): permit connects to 127.0.0.0/8 and
//     ::1/128 — with proxyPorts, only TCP to those remote ports;
//   - strict-loopback-accept-v4/v6 (range 2): permit accepts from 127.0.0.0/8 and
//     ::1/128 (local clients connecting to the account's listeners), with or without
//     proxy ports;
//   - the 12 baseline blocks, moved to range 3 so no loopback permit hides them.
//
// Build gives the permits PermitFlags (no CLEAR_ACTION_RIGHT), so they are soft: they
// only hide wfpsandbox's own lower-weight blocks, and a block of a sublayer evaluated
// after ours (Windows Firewall, an EDR) still applies to the account's loopback traffic.
// The blocks keep FilterFlags (hard).
//
// The permits carry the plan's scoping like every other rule: under --user-match deny
// they sit unconditioned in the account's own sublayer below its guard permits, so they
// are reached only by the account's flows (its restricted and AppContainer children
// included) and can never open anything for another account, whose flows the guard
// decides first — and each account has its own sublayer. Under --user-match allow they
// carry D:(A;;CC;;;SID) like the blocks.
//
// What per-user filters cannot see (design §4) holds here too: names resolved by the
// DNS Client service, SMB opened by the kernel redirector, and ICMP sent through
// IcmpSendEcho are not the account's sockets, and traffic relayed by a local process of
// another account (a proxy on a loopback port) is that account's traffic. The strict
// profile promises that the account's own sockets reach nothing but loopback; it does
// not promise the account cannot cause network traffic.
func StrictRules(proxyPorts []uint16) ([]Rule, error) {
	if err := validateProxyPorts(proxyPorts); err != nil {
		return nil, err
	}
	var rules []Rule
	for _, fam := range []struct {
		id, name        string
		connect, accept wfp.LayerID
		loopback        netip.Prefix
	}{
		{"v4", "IPv4", wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthRecvAcceptV4, LoopbackV4},
		{"v6", "IPv6", wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthRecvAcceptV6, LoopbackV6},
	} {
		loop := wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(fam.loopback)}
		connectConds := []wfp.Condition{loop}
		connectWhat := "any protocol and port"
		if len(proxyPorts) > 0 {
			connectConds = append(connectConds, wfp.Condition{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(ProtoTCP)})
			for _, p := range proxyPorts {
				connectConds = append(connectConds, wfp.Condition{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)})
			}
			connectWhat = fmt.Sprintf("TCP to proxy ports %v", proxyPorts)
		}
		rules = append(rules,
			Rule{
				ID:          "strict-block-connect-" + fam.id,
				Name:        "strict: block all connects, " + fam.name,
				Description: "Blocks every outbound connection of the account that no higher-weight wfpsandbox permit allows (strict profile).",
				Layer:       fam.connect,
				Action:      wfp.ActionBlock,
				Weight:      wfp.U8(WeightCatchAll),
			},
			Rule{
				ID:          "strict-block-accept-" + fam.id,
				Name:        "strict: block all accepts, " + fam.name,
				Description: "Blocks every inbound connection to the account that no higher-weight wfpsandbox permit allows (strict profile).",
				Layer:       fam.accept,
				Action:      wfp.ActionBlock,
				Weight:      wfp.U8(WeightCatchAll),
			},
			Rule{
				ID:          "strict-loopback-connect-" + fam.id,
				Name:        fmt.Sprintf("strict: permit connects to loopback %s", fam.loopback),
				Description: fmt.Sprintf("Permits the account's connections to %s, %s (strict profile).", fam.loopback, connectWhat),
				Layer:       fam.connect,
				Conditions:  connectConds,
				Action:      wfp.ActionPermit,
				Weight:      wfp.U8(WeightLoopback),
			},
			Rule{
				ID:          "strict-loopback-accept-" + fam.id,
				Name:        fmt.Sprintf("strict: permit accepts from loopback %s", fam.loopback),
				Description: fmt.Sprintf("Permits connections from %s to the account's listeners (strict profile).", fam.loopback),
				Layer:       fam.accept,
				Conditions:  []wfp.Condition{{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(fam.loopback)}},
				Action:      wfp.ActionPermit,
				Weight:      wfp.U8(WeightLoopback),
			},
		)
	}
	for _, r := range BaselineRules() {
		r.Weight = wfp.U8(WeightBlocks)
		rules = append(rules, r)
	}
	return rules, nil
}

// validateProxyPorts checks the strict profile's proxy ports: 1-65535, no duplicates,
// at most MaxProxyPorts.
func validateProxyPorts(ports []uint16) error {
	if len(ports) > MaxProxyPorts {
		return fmt.Errorf("%d proxy ports, at most %d are allowed", len(ports), MaxProxyPorts)
	}
	for i, p := range ports {
		if p == 0 {
			return fmt.Errorf("proxy port 0 is not a port: want 1-65535")
		}
		if slices.Contains(ports[:i], p) {
			return fmt.Errorf("proxy port %d is listed twice", p)
		}
	}
	return nil
}
