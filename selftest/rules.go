package selftest

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ExtraRule is one extra rule of the plan (policy.Options.Extra: a policy file's rules,
// one per address family, or a Go caller's) as the probes see it: the conditions the
// selftest can turn into an attempt on this host. A rule with a condition it does not
// understand, or at a layer it has no attempt for, has Unprobed set and gets no probe.
type ExtraRule struct {
	// ID is the plan's rule ID, part of the filter key: "file-ssh-v4".
	ID string `json:"id"`
	// Source is what a person calls the rule: the policy file's rule id ("ssh") for a
	// file rule (FromFile), else ID.
	Source   string `json:"source"`
	FromFile bool   `json:"fromFile,omitempty"`
	// Action is "block" or "permit" (a policy file's rules only block; a Go caller's
	// extra rules may permit).
	Action string `json:"action"`
	// Direction is "out" (ALE_AUTH_CONNECT) or "in" (ALE_AUTH_RECV_ACCEPT).
	Direction string `json:"direction"`
	// Family is "v4" or "v6", from the layer.
	Family string `json:"family"`
	// Protocols are IP protocol numbers, any of which matches; empty: every protocol.
	Protocols []uint8 `json:"protocols,omitempty"`
	// Ports are remote (out) or local (in) port ranges, any of which matches; empty:
	// every port.
	Ports []PortRange `json:"ports,omitempty"`
	// Remote are remote address prefixes, any of which matches; empty: every address.
	Remote []netip.Prefix `json:"remote,omitempty"`
	// Unprobed says why the selftest makes no attempt for the rule ("" when it may).
	Unprobed string `json:"unprobed,omitempty"`
}

// PortRange is an inclusive range of ports; Low == High for one port.
type PortRange struct {
	Low  uint16 `json:"low"`
	High uint16 `json:"high"`
}

// String is the range as a policy file writes it: "22", "6000-6010".
func (p PortRange) String() string {
	if p.Low == p.High {
		return strconv.Itoa(int(p.Low))
	}
	return fmt.Sprintf("%d-%d", p.Low, p.High)
}

func (p PortRange) contains(port uint16) bool { return p.Low <= port && port <= p.High }

// fileRuleID matches the rule IDs policy.FileRule.Rules gives a policy file's rules.
var fileRuleID = regexp.MustCompile(`^file-([a-z0-9][a-z0-9-]*)-(v4|v6)$`)

// ExtraRulesOf describes the plan's extra rules (policy.Options.Extra) for the probes.
// Config.Extra must hold what it returns for the rules the run installs.
func ExtraRulesOf(rules []policy.Rule) []ExtraRule {
	out := make([]ExtraRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, extraRule(r))
	}
	return out
}

// CheckExtra fails unless cfg.Extra describes rules, the extra rules of the plan the
// run installs: a probe matrix laid out for other rules would leave some unprobed, or
// probe rules that are not there.
func (cfg Config) CheckExtra(rules []policy.Rule) error {
	want := ExtraRulesOf(rules)
	if len(want) == 0 && len(cfg.Extra) == 0 {
		return nil
	}
	if !reflect.DeepEqual(want, cfg.Extra) {
		return fmt.Errorf("selftest: the configuration's %d extra rules are not the %d the plan installs (Config.Extra must be ExtraRulesOf(the options' Extra)); nothing was installed", len(cfg.Extra), len(want))
	}
	return nil
}

func extraRule(r policy.Rule) ExtraRule {
	x := ExtraRule{ID: r.ID, Source: r.ID}
	if m := fileRuleID.FindStringSubmatch(r.ID); m != nil {
		x.Source, x.FromFile = m[1], true
	}
	var gaps []string
	switch r.Action {
	case wfp.ActionBlock:
		x.Action = "block"
	case wfp.ActionPermit:
		x.Action = "permit"
	default:
		x.Action = r.Action.String()
		gaps = append(gaps, fmt.Sprintf("its action is %s, neither block nor permit", r.Action))
	}
	switch r.Layer {
	case wfp.LayerALEAuthConnectV4:
		x.Direction, x.Family = "out", "v4"
	case wfp.LayerALEAuthConnectV6:
		x.Direction, x.Family = "out", "v6"
	case wfp.LayerALEAuthRecvAcceptV4:
		x.Direction, x.Family = "in", "v4"
	case wfp.LayerALEAuthRecvAcceptV6:
		x.Direction, x.Family = "in", "v6"
	default:
		gaps = append(gaps, fmt.Sprintf("it sits at %s; the selftest has attempts for ALE_AUTH_CONNECT and ALE_AUTH_RECV_ACCEPT only", r.Layer))
	}
	portField := wfp.FieldIPRemotePort
	if x.Direction == "in" {
		portField = wfp.FieldIPLocalPort
	}
	for _, c := range r.Conditions {
		v := c.Value
		switch {
		case c.Field == wfp.FieldIPProtocol && c.Match == wfp.MatchEqual && v.Type == wfp.Uint8:
			x.Protocols = append(x.Protocols, uint8(v.Uint))
		case c.Field == portField && c.Match == wfp.MatchEqual && v.Type == wfp.Uint16:
			x.Ports = append(x.Ports, PortRange{uint16(v.Uint), uint16(v.Uint)})
		case c.Field == portField && c.Match == wfp.MatchRange && v.Type == wfp.Range && v.Low != nil && v.High != nil &&
			v.Low.Type == wfp.Uint16 && v.High.Type == wfp.Uint16 && v.Low.Uint <= v.High.Uint:
			x.Ports = append(x.Ports, PortRange{uint16(v.Low.Uint), uint16(v.High.Uint)})
		case c.Field == wfp.FieldIPRemoteAddress && c.Match == wfp.MatchEqual && (v.Type == wfp.V4AddrMask || v.Type == wfp.V6AddrMask):
			x.Remote = append(x.Remote, v.Prefix.Masked())
		default:
			gaps = append(gaps, fmt.Sprintf("its condition %s %s %s is not one the selftest derives attempts from (protocol, port, remote address)", c.Field, c.Match, v))
		}
	}
	x.Unprobed = strings.Join(gaps, "; ")
	return x
}

// label names the rule for a person: "the policy file's rule ssh".
func (x ExtraRule) label() string {
	if x.FromFile {
		return "the policy file's rule " + x.Source
	}
	return "the plan's extra rule " + x.Source
}

// describe is what the rule matches, in words: "block out tcp, remote ports 22,
// 6000-6010, remote 10.0.0.0/8 (IPv4)".
func (x ExtraRule) describe() string {
	return x.what() + " (" + x.familyName() + ")"
}

func (x ExtraRule) familyName() string {
	if x.Family == "v6" {
		return "IPv6"
	}
	return "IPv4"
}

// what is describe without the family.
func (x ExtraRule) what() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", x.Action, x.Direction)
	if len(x.Protocols) == 0 {
		b.WriteString(" any protocol")
	} else {
		var ps []string
		for _, p := range x.Protocols {
			ps = append(ps, protoName(p))
		}
		b.WriteString(" " + strings.Join(ps, "/"))
	}
	if len(x.Ports) > 0 {
		var ps []string
		for _, p := range x.Ports {
			ps = append(ps, p.String())
		}
		side := "remote"
		if x.Direction == "in" {
			side = "local"
		}
		fmt.Fprintf(&b, ", %s ports %s", side, strings.Join(ps, ", "))
	}
	if len(x.Remote) > 0 {
		var ps []string
		for _, p := range x.Remote {
			ps = append(ps, p.String())
		}
		fmt.Fprintf(&b, ", remote %s", strings.Join(ps, ", "))
	}
	return b.String()
}

func protoName(p uint8) string {
	switch p {
	case policy.ProtoTCP:
		return "tcp"
	case policy.ProtoUDP:
		return "udp"
	case policy.ProtoICMP:
		return "icmp"
	case policy.ProtoICMPv6:
		return "icmpv6"
	}
	return "protocol " + strconv.Itoa(int(p))
}

// kindProto is the IP protocol of an attempt kind's flow (raw ICMP: by family).
func kindProto(k ProbeKind, v6 bool) (uint8, bool) {
	switch k {
	case KindTCPConnect, KindTCPAccept:
		return policy.ProtoTCP, true
	case KindUDPSend:
		return policy.ProtoUDP, true
	case KindRawICMP:
		if v6 {
			return policy.ProtoICMPv6, true
		}
		return policy.ProtoICMP, true
	}
	return 0, false
}

// inPrefixes reports whether addr is in one of ps (empty: every address).
func inPrefixes(ps []netip.Prefix, addr netip.Addr) bool {
	if len(ps) == 0 {
		return true
	}
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(addr.Unmap()) })
}

// matches reports whether the rule matches the flow of an attempt of kind on scope s
// to port (the listening port for KindTCPAccept, whose connecting peer is the scope's
// address, this host's own) on a host with addrs. While the scope's address is not
// known (a local scope before the host's addresses are read) a rule with remote
// addresses matches nothing there. ScopeMappedV4 matches nothing: which layer
// classifies it is not documented.
func (x ExtraRule) matches(kind ProbeKind, s Scope, addrs Addresses, port uint16) bool {
	if x.Unprobed != "" || scopeFamily(s) != x.Family {
		return false
	}
	switch kind {
	case KindTCPConnect, KindUDPSend, KindRawICMP:
		if x.Direction != "out" {
			return false
		}
	case KindTCPAccept:
		if x.Direction != "in" {
			return false
		}
	default:
		return false
	}
	if addr, known := addrs.Target(s); len(x.Remote) > 0 && (!known || !inPrefixes(x.Remote, addr)) {
		return false
	}
	proto, _ := kindProto(kind, x.Family == "v6")
	if len(x.Protocols) > 0 && !slices.Contains(x.Protocols, proto) {
		return false
	}
	if len(x.Ports) > 0 {
		// ICMP carries its code where the remote port would be (FWPM_CONDITION_ICMP_CODE
		// is an alias of IP_REMOTE_PORT): an echo request has code 0, no rule's port.
		if kind == KindRawICMP || !slices.ContainsFunc(x.Ports, func(p PortRange) bool { return p.contains(port) }) {
			return false
		}
	}
	return true
}

// scopeFamily is "v4" or "v6" for a scope's address ("" for ScopeNone; ScopeMappedV4 is
// left out: which layer classifies it is not documented).
func scopeFamily(s Scope) string {
	switch s {
	case ScopeLoopbackV4, ScopeLocalV4:
		return "v4"
	case ScopeLoopbackV6, ScopeLocalV6:
		return "v6"
	}
	return ""
}

// ProbeRulePort is the port an extra rule's probe uses when the rule names no port (and
// tried first when one of its ranges holds it): above the ports the other probes use,
// below Windows' ephemeral range, with no IANA service a host is likely to run.
const ProbeRulePort uint16 = 47310

// MaxRuleProbes bounds the probes made for extra rules (each is made by every identity,
// twice): the rules after it are listed as not probed.
const MaxRuleProbes = 64

// maxPortCandidates bounds the ports of a rule tried for one probe.
const maxPortCandidates = 64

// portCandidates are the ports a probe for x may use, in the order they are tried:
// ProbeRulePort and the ports after it when x names no port; else each range from
// ProbeRulePort when it holds it, from its low end otherwise — deterministic, so two
// runs on the same host probe the same ports.
func (x ExtraRule) portCandidates() []uint16 {
	var out []uint16
	seen := map[uint16]bool{}
	add := func(p int) {
		if p >= 1 && p <= 65535 && !seen[uint16(p)] && len(out) < maxPortCandidates {
			seen[uint16(p)] = true
			out = append(out, uint16(p))
		}
	}
	if len(x.Ports) == 0 {
		for p := int(ProbeRulePort); p < int(ProbeRulePort)+16; p++ {
			add(p)
		}
		return out
	}
	perRange := max(maxPortCandidates/len(x.Ports), 2)
	for _, r := range x.Ports {
		start := int(r.Low)
		if r.contains(ProbeRulePort) {
			start = int(ProbeRulePort)
		}
		n := 0
		for p := start; p <= int(r.High) && n < perRange; p++ {
			add(p)
			n++
		}
		for p := int(r.Low); p < start && n < perRange; p++ {
			add(p)
			n++
		}
	}
	return out
}

// takenPorts records the TCP ports each scope's probes use, so that a rule's probe does
// not put a connect target (which the selftest listens on) where a probe must listen
// itself (KindTCPAccept), or the other way round.
type takenPorts map[string]int // key → how many probes use it

func takenKey(kind ProbeKind, s Scope, port uint16) string {
	if s == ScopeMappedV4 {
		s = ScopeLoopbackV4
	}
	return fmt.Sprintf("%s/%s/%d", kind, s, port)
}

func (t takenPorts) add(p Probe) {
	if p.Kind == KindTCPConnect || p.Kind == KindTCPAccept {
		t[takenKey(p.Kind, p.Scope, p.Port)]++
	}
}

func (t takenPorts) remove(p Probe) {
	if k := takenKey(p.Kind, p.Scope, p.Port); t[k] > 0 {
		t[k]--
	}
}

// conflicts reports whether a probe of kind on scope and port would collide with
// another probe's listener.
func (t takenPorts) conflicts(kind ProbeKind, s Scope, port uint16) bool {
	switch kind {
	case KindTCPConnect:
		return t[takenKey(KindTCPAccept, s, port)] > 0
	case KindTCPAccept:
		return t[takenKey(KindTCPConnect, s, port)] > 0 || t[takenKey(KindTCPAccept, s, port)] > 0
	}
	return false
}

// reservedPorts are the fixed ports of the profile's probes: a rule's probe takes them
// only when the rule leaves no other.
var reservedPorts = []uint16{ProbeProxyPort, ProbeOtherPort, ProbeAcceptPort}

// telling is the profile's own outcome for the account that makes a probe of rule x
// tell something about x: a block rule's attempt must be one the profile lets through,
// a permit rule's one the profile blocks.
func (x ExtraRule) telling() Expectation {
	if x.Action == "permit" {
		return ExpectBlocked
	}
	return ExpectAllowed
}

// choosePort returns the port for a probe of x of kind on scope: the first candidate
// the profile alone decides the other way (so the outcome is the rule's, not the
// profile's), that collides with no other probe's listener and that free accepts (nil:
// every port); failing that the first that collides with nothing and is free; failing
// that the first candidate. ok is false when no candidate is free. skip is left out.
func (x ExtraRule) choosePort(cfg Config, kind ProbeKind, s Scope, taken takenPorts, free func(uint16) bool, skip uint16) (port uint16, ok bool) {
	cands := x.portCandidates()
	want := x.telling()
	usable := func(p uint16, strictPref bool) bool {
		if p == skip || taken.conflicts(kind, s, p) {
			return false
		}
		if strictPref {
			if slices.Contains(reservedPorts, p) {
				return false
			}
			if e, _ := profileExpect(cfg, kind, s, p); e != want {
				return false
			}
		}
		return free == nil || free(p)
	}
	for _, pref := range []bool{true, false} {
		for _, p := range cands {
			if usable(p, pref) {
				return p, true
			}
		}
	}
	if len(cands) > 0 && cands[0] != skip {
		return cands[0], false
	}
	return skip, false
}

// ruleKinds returns the attempt kinds that exercise x, and what x matches that no
// attempt covers.
func (x ExtraRule) ruleKinds() (kinds []ProbeKind, gaps []string) {
	protos := x.Protocols
	anyProto := len(protos) == 0
	if anyProto {
		protos = []uint8{0}
	}
	add := func(k ProbeKind) {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	icmp := policy.ProtoICMP
	if x.Family == "v6" {
		icmp = policy.ProtoICMPv6
	}
	for _, p := range protos {
		switch {
		case x.Direction == "out" && (p == 0 || p == policy.ProtoTCP):
			add(KindTCPConnect)
			if p == 0 {
				add(KindUDPSend)
			}
		case x.Direction == "out" && p == policy.ProtoUDP:
			add(KindUDPSend)
		case x.Direction == "out" && p == icmp && len(x.Ports) == 0:
			add(KindRawICMP)
		case x.Direction == "in" && (p == 0 || p == policy.ProtoTCP):
			add(KindTCPAccept)
			if p == 0 {
				gaps = append(gaps, "inbound UDP and other protocols are not probed: the probe helper only accepts TCP connections")
			}
		case x.Direction == "in" && p == policy.ProtoUDP:
			gaps = append(gaps, "inbound UDP is not probed: the probe helper has no attempt that receives a datagram")
		default:
			gaps = append(gaps, fmt.Sprintf("%s %s is not probed: the probe helper has no such attempt", x.Direction, protoName(p)))
		}
	}
	return kinds, gaps
}

// ruleScopes returns the scopes of x's family whose addresses x can match: loopback
// when x names no remote address or one that holds the loopback address, a local
// address when x names none or one outside loopback (whether this host's local address
// is in it is known only at run time; Attempts leaves the probe out when it is not).
func (x ExtraRule) ruleScopes() []Scope {
	loopScope, localScope := ScopeLoopbackV4, ScopeLocalV4
	loopNet := policy.LoopbackV4
	if x.Family == "v6" {
		loopScope, localScope, loopNet = ScopeLoopbackV6, ScopeLocalV6, policy.LoopbackV6
	}
	loopAddr, _ := Addresses{}.Target(loopScope)
	var out []Scope
	if inPrefixes(x.Remote, loopAddr) {
		out = append(out, loopScope)
	}
	if len(x.Remote) == 0 || slices.ContainsFunc(x.Remote, func(p netip.Prefix) bool {
		return !(p.Bits() >= loopNet.Bits() && loopNet.Contains(p.Addr()))
	}) {
		out = append(out, localScope)
	}
	return out
}

// ruleLayout returns the probes for cfg's extra rules, after the profile's (taken holds
// their ports), with the reason for every rule that gets none and notes on what the
// rules match that no probe covers.
func ruleLayout(cfg Config, taken takenPorts) (probes []Probe, unprobed map[string]string, notes []string) {
	unprobed = map[string]string{}
	var capped []string
	for _, x := range cfg.Extra {
		if x.Unprobed != "" {
			unprobed[x.ID] = x.Unprobed
			notes = append(notes, fmt.Sprintf("%s (%s, %s): not probed: %s", x.label(), x.ID, x.describe(), x.Unprobed))
			continue
		}
		kinds, gaps := x.ruleKinds()
		for _, g := range gaps {
			notes = append(notes, fmt.Sprintf("%s (%s): %s", x.label(), x.ID, g))
		}
		if len(kinds) == 0 {
			unprobed[x.ID] = strings.Join(gaps, "; ")
			continue
		}
		n := 0
		for _, k := range kinds {
			for _, s := range x.ruleScopes() {
				if len(probes) >= MaxRuleProbes {
					continue
				}
				p := Probe{
					ID:     fmt.Sprintf("rule-%s-%s-%s", x.ID, kindWord(k), s),
					Family: "rule", Kind: k, Scope: s, Rule: x.ID, Remote: x.Remote,
				}
				if k != KindRawICMP {
					p.Port, _ = x.choosePort(cfg, k, s, taken, nil, 0)
				}
				p.Why = fmt.Sprintf("%s (%s) matches it", x.label(), x.describe())
				taken.add(p)
				probes = append(probes, p)
				n++
			}
		}
		switch all := len(kinds) * len(x.ruleScopes()); {
		case n == 0:
			capped = append(capped, x.ID)
			unprobed[x.ID] = fmt.Sprintf("the selftest makes at most %d probes for extra rules, and the rules before it took them", MaxRuleProbes)
		case n < all:
			notes = append(notes, fmt.Sprintf("%s (%s): %d of its %d probes are made: the selftest makes at most %d probes for extra rules", x.label(), x.ID, n, all, MaxRuleProbes))
		}
	}
	if len(capped) > 0 {
		notes = append(notes, fmt.Sprintf("extra rules %s: not probed: the selftest makes at most %d probes for extra rules", strings.Join(capped, ", "), MaxRuleProbes))
	}
	return probes, unprobed, notes
}

func kindWord(k ProbeKind) string {
	switch k {
	case KindTCPConnect:
		return "tcp"
	case KindUDPSend:
		return "udp"
	case KindRawICMP:
		return "icmp"
	case KindTCPAccept:
		return "accept"
	}
	return string(k)
}

// extraRule returns the extra rule a probe is for.
func (cfg Config) extraRule(id string) (ExtraRule, bool) {
	i := slices.IndexFunc(cfg.Extra, func(x ExtraRule) bool { return x.ID == id })
	if i < 0 {
		return ExtraRule{}, false
	}
	return cfg.Extra[i], true
}

// probeNetwork is the Go network of a probe's attempt on addr ("tcp4", "udp6"), or "".
func probeNetwork(k ProbeKind, addr netip.Addr) string {
	v := "4"
	if addr.Is6() {
		v = "6"
	}
	switch k {
	case KindTCPConnect, KindTCPAccept:
		return "tcp" + v
	case KindUDPSend:
		return "udp" + v
	}
	return ""
}

// ChoosePorts makes sure each extra rule's probe targets a port nothing on this host
// uses yet: free reports whether network ("tcp4", "udp6") can be bound at an address and
// port of this host (PortFree). A probe whose port is taken moves to another port of
// its rule (in portCandidates order), and Probe.PortNote says which; the returned
// notes say where no port of the rule was free (the attempt then reaches whatever
// listens there). Call it once the host's addresses are in r.Host.Addresses and before
// Attempts.
func (r *Report) ChoosePorts(free func(network string, ap netip.AddrPort) bool) []string {
	taken := takenPorts{}
	for _, p := range r.Probes {
		taken.add(p)
	}
	var notes []string
	for i := range r.Probes {
		p := &r.Probes[i]
		if p.Rule == "" || p.Port == 0 {
			continue
		}
		addr, why := probeTarget(*p, r.Host.Addresses)
		if why != "" {
			continue
		}
		network := probeNetwork(p.Kind, addr)
		if network == "" || free(network, netip.AddrPortFrom(addr, p.Port)) {
			continue
		}
		x, ok := r.Config.extraRule(p.Rule)
		if !ok {
			continue
		}
		old := p.Port
		taken.remove(*p)
		port, ok := x.choosePort(r.Config, p.Kind, p.Scope, taken, func(port uint16) bool {
			return free(network, netip.AddrPortFrom(addr, port))
		}, old)
		if ok {
			p.Port = port
			p.PortNote = fmt.Sprintf("port %d was in use on %s; port %d of the rule's was used instead", old, addr, port)
		} else {
			p.PortNote = fmt.Sprintf("port %d is in use on %s and no other of the rule's ports tried is free: the attempt reaches whatever listens there", old, addr)
			notes = append(notes, fmt.Sprintf("probe %s: %s", p.ID, p.PortNote))
		}
		taken.add(*p)
	}
	return notes
}

// probeTarget returns the address a probe's attempt goes to on a host with addrs, or why
// it has none: the host has no address for its scope, or (a rule's probe) the address
// is not one the rule matches — the selftest never sends to another host instead.
func probeTarget(p Probe, addrs Addresses) (netip.Addr, string) {
	ip, ok := addrs.Target(p.Scope)
	if !ok {
		return netip.Addr{}, fmt.Sprintf("this host has no %s address", p.Scope)
	}
	if !inPrefixes(p.Remote, ip) {
		var ps []string
		for _, x := range p.Remote {
			ps = append(ps, x.String())
		}
		return netip.Addr{}, fmt.Sprintf("this host's %s address %s is not in the rule's remote addresses %s, and the selftest sends nothing to other hosts",
			p.Scope, ip, strings.Join(ps, ", "))
	}
	return ip, ""
}
