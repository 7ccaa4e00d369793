package policy

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// IP protocol numbers used by the rules.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// BaselineRules returns the 12 rules of the baseline profile, those of the original
// design (openai/codex windows-sandbox-rs filter_specs.rs):
//
//   - ICMP (protocol 1 on v4, 58 on v6) at ALE_AUTH_CONNECT (the first echo) and at
//     ALE_RESOURCE_ASSIGNMENT (creating or binding the endpoint) — 4 filters;
//   - remote port 53 (DNS), 853 (DNS over TLS), 445 (SMB) and 139 (NetBIOS session)
//     at ALE_AUTH_CONNECT v4 and v6, with no protocol condition so TCP and UDP are both
//     matched — 8 filters.
//
// Port rules cannot sit at ALE_RESOURCE_ASSIGNMENT: that layer offers no remote port.
func BaselineRules() []Rule {
	var rules []Rule
	for _, fam := range families {
		rules = append(rules,
			Rule{
				ID:          "icmp-connect-" + fam.id,
				Name:        "block ICMP at connect, " + fam.name,
				Description: "Blocks the account's outbound ICMP" + fam.icmpSuffix + " (first echo of a flow).",
				Layer:       fam.connect,
				Conditions:  []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(fam.icmp)}},
				Action:      wfp.ActionBlock,
			},
			Rule{
				ID:          "icmp-bind-" + fam.id,
				Name:        "block ICMP at bind, " + fam.name,
				Description: "Blocks creating or binding the account's ICMP" + fam.icmpSuffix + " endpoints.",
				Layer:       fam.bind,
				Conditions:  []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(fam.icmp)}},
				Action:      wfp.ActionBlock,
			},
		)
		for _, p := range blockedPorts {
			rules = append(rules, Rule{
				ID:          fmt.Sprintf("%s-%s", p.id, fam.id),
				Name:        fmt.Sprintf("block %s (%d), %s", p.name, p.port, fam.name),
				Description: fmt.Sprintf("Blocks the account's TCP and UDP connections to remote port %d (%s).", p.port, p.name),
				Layer:       fam.connect,
				Conditions:  []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p.port)}},
				Action:      wfp.ActionBlock,
			})
		}
	}
	return rules
}

type family struct {
	id, name, icmpSuffix string
	connect, bind        wfp.LayerID
	icmp                 uint8
}

var families = []family{
	{id: "v4", name: "IPv4", icmpSuffix: "", connect: wfp.LayerALEAuthConnectV4, bind: wfp.LayerALEResourceAssignmentV4, icmp: ProtoICMP},
	{id: "v6", name: "IPv6", icmpSuffix: "v6", connect: wfp.LayerALEAuthConnectV6, bind: wfp.LayerALEResourceAssignmentV6, icmp: ProtoICMPv6},
}

var blockedPorts = []struct {
	id, name string
	port     uint16
}{
	{"dns", "DNS", 53},
	{"dot", "DNS over TLS", 853},
	{"smb", "SMB", 445},
	{"netbios", "NetBIOS session", 139},
}
