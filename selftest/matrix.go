package selftest

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// Who says whose process made an attempt.
type Who string

// Who values.
const (
	// WhoAccount is the temporary sandbox account the policy is for.
	WhoAccount Who = "account"
	// WhoOther is another account: the administrator running the selftest. Nothing of
	// the policy may ever apply to it.
	WhoOther Who = "other"
)

// TokenKind is the token an attempt ran under: the identity's own (normal) token or a
// copy the identity can make of it without any privilege.
type TokenKind string

// Token kinds. Every kind but TokenNormal is a child (or, for
// TokenAnonymousImpersonation, a thread) the identity starts itself.
const (
	// TokenNormal is the identity's own primary token.
	TokenNormal TokenKind = "normal"
	// TokenDenyOnly is a restricted copy with the user SID deny-only
	// (CreateRestrictedToken SidsToDisable).
	TokenDenyOnly TokenKind = "restricted-denyonly"
	// TokenRestrictingSIDs is a restricted copy whose restricting SIDs omit the user SID.
	TokenRestrictingSIDs TokenKind = "restricted-sids"
	// TokenAppContainer is an AppContainer child with the internetClient and
	// privateNetworkClientServer capabilities.
	TokenAppContainer TokenKind = "appcontainer"
	// TokenAppContainerNoCaps is an AppContainer child without any capability.
	TokenAppContainerNoCaps TokenKind = "appcontainer-nocaps"
	// TokenLowIntegrity is a copy of the token at low mandatory integrity
	// (SetTokenInformation TokenIntegrityLevel, which lowering needs no privilege for).
	TokenLowIntegrity TokenKind = "low-integrity"
	// TokenAnonymousImpersonation is the identity's own process whose attempting thread
	// impersonates the anonymous token (ImpersonateAnonymousToken, no privilege).
	TokenAnonymousImpersonation TokenKind = "anonymous-impersonation"
)

// childTokens are the token kinds the design's escape routes use (design §4) plus the
// low-integrity copy; the hypotheses about children are about these.
var childTokens = []TokenKind{TokenDenyOnly, TokenRestrictingSIDs, TokenAppContainer, TokenAppContainerNoCaps, TokenLowIntegrity}

// Identity is who made an attempt, in which token.
type Identity struct {
	Who   Who       `json:"who"`
	Token TokenKind `json:"token"`
}

func (i Identity) String() string { return string(i.Who) + "/" + string(i.Token) }

// Identities returns every identity a full selftest probes as: the account and the
// other account, each in every token kind (the anonymous impersonation only for the
// account: it is the escape the guard permit's ANONYMOUS LOGON ACE could open).
func Identities() []Identity {
	var out []Identity
	for _, who := range []Who{WhoAccount, WhoOther} {
		out = append(out, Identity{who, TokenNormal})
		for _, t := range childTokens {
			out = append(out, Identity{who, t})
		}
	}
	return append(out, Identity{WhoAccount, TokenAnonymousImpersonation})
}

// ProbeKind is the operation of a probe.
type ProbeKind string

// Probe kinds.
const (
	// KindTCPConnect connects a TCP socket.
	KindTCPConnect ProbeKind = "tcp-connect"
	// KindUDPSend sends one datagram with sendto from an unconnected UDP socket.
	KindUDPSend ProbeKind = "udp-sendto"
	// KindRawICMP sends an echo request from a raw ICMP/ICMPv6 socket.
	KindRawICMP ProbeKind = "raw-icmp"
	// KindICMPEchoAPI pings through IcmpSendEcho (the path ping.exe uses; the echo is
	// sent by the kernel, not from a socket of the caller).
	KindICMPEchoAPI ProbeKind = "icmp-echo-api"
	// KindTCPAccept listens on this host's address and accepts one connection made to it
	// by the selftest (ALE_AUTH_RECV_ACCEPT is classified with the listener's token).
	KindTCPAccept ProbeKind = "tcp-accept"
	// KindSMBKernel opens a UNC path on this host, so the kernel SMB redirector connects
	// to port 445 on the caller's behalf.
	KindSMBKernel ProbeKind = "smb-kernel"
	// KindWFPRead opens a WFP session and reads one of the selftest's filters by key
	// (FwpmFilterGetByKey0).
	KindWFPRead ProbeKind = "wfp-read"
)

// Scope is what kind of address a probe targets. Every target is this host's own.
type Scope string

// Scopes.
const (
	ScopeLoopbackV4 Scope = "loopback-v4" // 127.0.0.1
	ScopeLoopbackV6 Scope = "loopback-v6" // ::1
	ScopeLocalV4    Scope = "local-v4"    // a non-loopback IPv4 address of this host
	ScopeLocalV6    Scope = "local-v6"    // a non-loopback IPv6 address of this host
	ScopeMappedV4   Scope = "mapped-v4"   // ::ffff:127.0.0.1 from an IPv6 socket
	ScopeNone       Scope = "none"        // not a network attempt (KindWFPRead)
)

// Loopback reports whether the scope's address is a loopback address (the mapped form
// included: it names 127.0.0.1).
func (s Scope) Loopback() bool {
	return s == ScopeLoopbackV4 || s == ScopeLoopbackV6 || s == ScopeMappedV4
}

// Probe is one attempt of the matrix, made by every identity.
type Probe struct {
	ID     string    `json:"id"`     // unique: "dns-udp-loopback-v4"
	Family string    `json:"family"` // dns, dot, smb, netbios, icmp, other, proxy, accept, wfp
	Kind   ProbeKind `json:"kind"`
	Scope  Scope     `json:"scope"`
	// Port is the remote port (TCP, UDP) or the listening port (KindTCPAccept); 0 for
	// the others.
	Port uint16 `json:"port,omitempty"`
	// Why says what the probe is for.
	Why string `json:"why"`
	// Only limits the identities that make the attempt (empty: every identity).
	Only []Identity `json:"only,omitempty"`
	// Rule is the extra rule (ExtraRule.ID) the probe is for; empty for the profile's
	// own probes (Family "rule" marks them too).
	Rule string `json:"rule,omitempty"`
	// Remote are the rule's remote addresses: the probe's target must be in one of
	// them, else it is not made (it would not match the rule, and no other host is
	// ever a target).
	Remote []netip.Prefix `json:"remote,omitempty"`
	// PortNote says why a rule's probe uses another port than the one first chosen
	// (ChoosePorts: it was in use on this host).
	PortNote string `json:"portNote,omitempty"`
}

// MadeBy reports whether identity id makes this probe's attempt.
func (p Probe) MadeBy(id Identity) bool { return len(p.Only) == 0 || slices.Contains(p.Only, id) }

// Addresses are this host's own addresses the probes target. A zero local address
// leaves out the probes that need it (the report lists them as not run).
type Addresses struct {
	LocalV4 netip.Addr `json:"localV4"`
	LocalV6 netip.Addr `json:"localV6"`
}

// Target returns the probe's address, or false when the host has none for its scope.
func (a Addresses) Target(s Scope) (netip.Addr, bool) {
	switch s {
	case ScopeLoopbackV4:
		return netip.MustParseAddr("127.0.0.1"), true
	case ScopeLoopbackV6:
		return netip.IPv6Loopback(), true
	case ScopeMappedV4:
		return netip.MustParseAddr("::ffff:127.0.0.1"), true
	case ScopeLocalV4:
		return a.LocalV4, a.LocalV4.IsValid()
	case ScopeLocalV6:
		return a.LocalV6, a.LocalV6.IsValid()
	}
	return netip.Addr{}, false
}

// Config is what the selftest installs: the plan options it passes to policy.Build.
type Config struct {
	Profile    policy.Profile   `json:"profile"`
	UserMatch  policy.UserMatch `json:"userMatch"`
	ProxyPorts []uint16         `json:"proxyPorts,omitempty"`
	// PolicyFile is the --policy file the options came from, if any.
	PolicyFile string `json:"policyFile,omitempty"`
	// Extra are the plan's extra rules (ExtraRulesOf(options.Extra)): a policy file's
	// rules get probes and hypotheses of their own.
	Extra []ExtraRule `json:"extraRules,omitempty"`
}

// baselinePorts are the remote ports the baseline blocks at connect (policy.BaselineRules).
var baselinePorts = []struct {
	family string
	port   uint16
}{{"dns", 53}, {"dot", 853}, {"smb", 445}, {"netbios", 139}}

// Ports the strict-profile probes use that no baseline rule names: a proxy port and
// another loopback port. Both are above the ephemeral range's usual start and have no
// IANA service a host is likely to run.
const (
	ProbeProxyPort  uint16 = 47301
	ProbeOtherPort  uint16 = 47302
	ProbeAcceptPort uint16 = 47303 // the account's listener for the accept probes
)

// Probes returns the probes for cfg: the baseline's TCP and UDP attempts to 53, 853,
// 445 and 139 on loopback v4/v6 and on the non-loopback local addresses, raw ICMP and
// IcmpSendEcho, the kernel SMB path and the object read; for the strict profile also a
// non-loopback TCP connect to another port, the loopback proxy (and non-proxy) ports,
// the IPv4-mapped form and inbound accepts from loopback and from the local address;
// then, for each extra rule (cfg.Extra), attempts the rule matches on loopback and on
// this host's local address of its family (ruleLayout).
func Probes(cfg Config) []Probe {
	ps, _, _ := layout(cfg)
	return ps
}

// layout returns Probes(cfg), the reason for each extra rule that has no probe, and
// notes on what the extra rules match that no probe covers.
func layout(cfg Config) ([]Probe, map[string]string, []string) {
	ps := profileProbes(cfg)
	taken := takenPorts{}
	for _, p := range ps {
		taken.add(p)
	}
	rps, unprobed, notes := ruleLayout(cfg, taken)
	return append(ps, rps...), unprobed, notes
}

// profileProbes are the probes of the profile's own rules.
func profileProbes(cfg Config) []Probe {
	var ps []Probe
	scopes := []Scope{ScopeLoopbackV4, ScopeLoopbackV6, ScopeLocalV4, ScopeLocalV6}
	for _, bp := range baselinePorts {
		for _, kind := range []ProbeKind{KindUDPSend, KindTCPConnect} {
			proto := "udp"
			if kind == KindTCPConnect {
				proto = "tcp"
			}
			for _, s := range scopes {
				ps = append(ps, Probe{
					ID: fmt.Sprintf("%s-%s-%s", bp.family, proto, s), Family: bp.family, Kind: kind, Scope: s, Port: bp.port,
					Why: fmt.Sprintf("the baseline blocks the account's %s %s to remote port %d", proto, bp.family, bp.port),
				})
			}
		}
	}
	for _, s := range []Scope{ScopeLoopbackV4, ScopeLoopbackV6} {
		ps = append(ps, Probe{ID: "icmp-raw-" + string(s), Family: "icmp", Kind: KindRawICMP, Scope: s,
			Why: "the baseline blocks the account's ICMP; raw sockets are refused to non-administrators before WFP"})
	}
	ps = append(ps,
		Probe{ID: "icmp-echo-api-loopback-v4", Family: "icmp", Kind: KindICMPEchoAPI, Scope: ScopeLoopbackV4,
			Why: "IcmpSendEcho (ping.exe's path) is sent by the kernel: another account's ping must never be blocked; the account's is recorded (wfp-facts §10.2)"},
		Probe{ID: "smb-kernel-loopback-v4", Family: "smb", Kind: KindSMBKernel, Scope: ScopeLoopbackV4,
			Why:  "an SMB connection opened by the kernel redirector for the administrator must not be blocked",
			Only: []Identity{{WhoOther, TokenNormal}}},
		Probe{ID: "wfp-read-filter", Family: "wfp", Kind: KindWFPRead, Scope: ScopeNone,
			Why:  "a non-administrator can read the selftest's filters by key (FwpmFilterGetByKey0)",
			Only: []Identity{{WhoAccount, TokenNormal}}},
	)
	proxy := ProbeProxyPort
	if len(cfg.ProxyPorts) > 0 {
		proxy = cfg.ProxyPorts[0] // the user's own proxy port: a real proxy there may answer, which is fine
	}
	if cfg.Profile != policy.Strict {
		// Under the baseline another port must stay open for the account.
		ps = append(ps, Probe{ID: "other-tcp-local-v4", Family: "other", Kind: KindTCPConnect, Scope: ScopeLocalV4, Port: ProbeOtherPort,
			Why: "the baseline blocks only its ports: a connect to another port of this host is not blocked"})
		return ps
	}
	ps = append(ps,
		Probe{ID: "strict-tcp-local-v4", Family: "other", Kind: KindTCPConnect, Scope: ScopeLocalV4, Port: ProbeOtherPort,
			Why: "the strict profile blocks every non-loopback connect of the account"},
		Probe{ID: "strict-tcp-local-v6", Family: "other", Kind: KindTCPConnect, Scope: ScopeLocalV6, Port: ProbeOtherPort,
			Why: "the strict profile blocks every non-loopback connect of the account"},
		Probe{ID: "strict-udp-local-v4", Family: "other", Kind: KindUDPSend, Scope: ScopeLocalV4, Port: ProbeOtherPort,
			Why: "the strict profile blocks every non-loopback connect of the account, UDP too"},
		Probe{ID: "proxy-tcp-loopback-v4", Family: "proxy", Kind: KindTCPConnect, Scope: ScopeLoopbackV4, Port: proxy,
			Why: "the strict profile permits loopback (with --proxy-port only those ports)"},
		Probe{ID: "proxy-tcp-loopback-v6", Family: "proxy", Kind: KindTCPConnect, Scope: ScopeLoopbackV6, Port: proxy,
			Why: "the strict profile permits loopback (with --proxy-port only those ports)"},
		Probe{ID: "loopback-other-tcp-v4", Family: "proxy", Kind: KindTCPConnect, Scope: ScopeLoopbackV4, Port: ProbeOtherPort,
			Why: "with --proxy-port, a loopback port that is not a proxy port is blocked; without, loopback is open"},
		Probe{ID: "mapped-tcp-v4", Family: "proxy", Kind: KindTCPConnect, Scope: ScopeMappedV4, Port: proxy,
			Why: "::ffff:127.0.0.1 from an IPv6 socket: whether Windows classifies it at the V4 or the V6 layer is not documented; recorded"},
		Probe{ID: "accept-loopback-v4", Family: "accept", Kind: KindTCPAccept, Scope: ScopeLoopbackV4, Port: ProbeAcceptPort,
			Why: "the strict profile permits accepts from loopback"},
		Probe{ID: "accept-local-v4", Family: "accept", Kind: KindTCPAccept, Scope: ScopeLocalV4, Port: ProbeAcceptPort,
			Why: "the strict profile blocks accepts from anything but loopback"},
	)
	return ps
}

// Expectation is what the policy should do to one attempt.
type Expectation string

// Expectations.
const (
	ExpectBlocked Expectation = "blocked" // the policy must block it
	ExpectAllowed Expectation = "allowed" // the policy must not block it
	// ExpectRecord means the product claims nothing about it; the outcome is recorded
	// (and may settle a hypothesis) but never fails the run.
	ExpectRecord Expectation = "record"
)

// Expect returns what the policy of cfg should do to probe p made by id, and why, before
// this host's addresses are known (ExpectAt).
func Expect(cfg Config, p Probe, id Identity) (Expectation, string) {
	return ExpectAt(cfg, p, id, Addresses{})
}

// ExpectAt returns what the policy of cfg should do to probe p made by id on a host
// with addrs, and why. The addresses matter only for extra rules with remote
// addresses: whether such a rule matches an attempt to a local address.
func ExpectAt(cfg Config, p Probe, id Identity, addrs Addresses) (Expectation, string) {
	if p.Kind == KindWFPRead {
		return ExpectRecord, "reading objects is not filtering; see the hypothesis non-admin-reads-objects"
	}
	if id.Who == WhoOther {
		return ExpectAllowed, "the policy never applies to another account"
	}
	child := slices.Contains(childTokens, id.Token)
	if child && cfg.UserMatch == policy.MatchAllow {
		return ExpectRecord, "under --user-match allow a child whose token no longer grants the allow ACE is predicted to escape (design §4); recorded"
	}
	// The account itself, in any form (deny shape), or its normal/anonymous-impersonating
	// process (both shapes).
	switch p.Kind {
	case KindICMPEchoAPI, KindSMBKernel:
		return ExpectRecord, "sent by the kernel on the account's behalf, not from its socket (design §4); recorded"
	}
	if p.Rule != "" {
		return ruleExpect(cfg, p, addrs)
	}
	// An extra rule that matches a profile probe can change what the profile does to
	// it: a policy file's blocks sit above every permit of the profile
	// (policy.WeightBlocks), so they block what the profile lets through; whether a Go
	// caller's extra permit beats the profile's block depends on the filters' weights.
	e, why := profileExpect(cfg, p.Kind, p.Scope, p.Port)
	for _, x := range cfg.Extra {
		if !x.matches(p.Kind, p.Scope, addrs, p.Port) {
			continue
		}
		switch {
		case x.Action == "block" && e != ExpectBlocked:
			return ExpectBlocked, fmt.Sprintf("%s (%s) blocks it", x.label(), x.describe())
		case x.Action == "permit" && e == ExpectBlocked:
			return ExpectRecord, fmt.Sprintf("%s; but %s (%s) permits it, and which decides depends on the filters' weights; recorded", why, x.label(), x.describe())
		}
	}
	return e, why
}

// profileExpect is what the profile of cfg alone (no extra rule) does to an attempt of
// the account (in any form the shape scopes) of kind on scope to port.
func profileExpect(cfg Config, kind ProbeKind, s Scope, port uint16) (Expectation, string) {
	if kind == KindRawICMP {
		return ExpectBlocked, "the ICMP rules block it"
	}
	if kind == KindTCPConnect || kind == KindUDPSend {
		for _, bp := range baselinePorts {
			if bp.port == port {
				return ExpectBlocked, fmt.Sprintf("the %s rule blocks remote port %d", bp.family, port)
			}
		}
	}
	if cfg.Profile != policy.Strict {
		return ExpectAllowed, "the baseline blocks only its own ports"
	}
	if s == ScopeMappedV4 {
		return ExpectRecord, "not documented whether Windows classifies the mapped form as IPv4 loopback"
	}
	if !s.Loopback() {
		return ExpectBlocked, "the strict profile blocks everything but loopback"
	}
	if kind == KindTCPAccept {
		return ExpectAllowed, "the strict profile permits accepts from loopback"
	}
	if len(cfg.ProxyPorts) == 0 {
		return ExpectAllowed, "the strict profile without --proxy-port permits all of loopback"
	}
	if kind == KindTCPConnect && slices.Contains(cfg.ProxyPorts, port) {
		return ExpectAllowed, fmt.Sprintf("%d is a proxy port", port)
	}
	return ExpectBlocked, fmt.Sprintf("only TCP to the proxy ports %v is permitted on loopback", cfg.ProxyPorts)
}

// ruleExpect is what the account's attempt of an extra rule's probe should meet: a
// block rule blocks it; a permit rule lets it through, unless another extra rule
// blocks it too (then which decides depends on the weights: recorded).
func ruleExpect(cfg Config, p Probe, addrs Addresses) (Expectation, string) {
	x, ok := cfg.extraRule(p.Rule)
	if !ok {
		return ExpectRecord, fmt.Sprintf("extra rule %s is not in the configuration; recorded", p.Rule)
	}
	if x.Action == "block" {
		return ExpectBlocked, fmt.Sprintf("%s (%s) blocks it", x.label(), x.describe())
	}
	for _, o := range cfg.Extra {
		if o.ID != x.ID && o.Action == "block" && o.matches(p.Kind, p.Scope, addrs, p.Port) {
			return ExpectRecord, fmt.Sprintf("%s permits it but %s blocks it; which decides depends on the filters' weights; recorded", x.label(), o.label())
		}
	}
	return ExpectAllowed, fmt.Sprintf("%s (%s) permits it", x.label(), x.describe())
}
