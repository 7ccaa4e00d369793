package selftest

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// testAddrs are the test host's own non-loopback addresses: 10.1.2.3 is in rule lan's
// 10.0.0.0/8, neither is in rule corp's networks.
var testAddrs = Addresses{LocalV4: netip.MustParseAddr("10.1.2.3"), LocalV6: netip.MustParseAddr("fd00::5")}

// fileConfig loads testdata/rules.toml the way `selftest --policy` does: the options
// the file gives, the plan policy.Build makes from them, and the Config the CLI passes.
func fileConfig(t *testing.T) (Config, policy.Options, *policy.Plan) {
	t.Helper()
	f, err := policy.LoadFile("testdata/rules.toml")
	if err != nil {
		t.Fatal(err)
	}
	opts := f.Options(PlaceholderSID)
	plan, err := policy.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Profile: plan.Profile, UserMatch: plan.UserMatch, PolicyFile: "testdata/rules.toml", Extra: ExtraRulesOf(opts.Extra)}
	return cfg, opts, plan
}

// faithfulAt is faithful for a host with addrs: the policy does what ExpectAt says.
func faithfulAt(cfg Config, addrs Addresses) host {
	return func(p Probe, id Identity) (Result, Result) {
		control := Result{Outcome: OutcomeAllowed}
		if p.Kind == KindRawICMP && id.Who == WhoAccount {
			control = Result{Outcome: OutcomeBlocked, Errno: WSAEACCES, Error: "raw socket refused"}
		}
		if e, _ := ExpectAt(cfg, p, id, addrs); e == ExpectBlocked {
			return control, Result{Outcome: OutcomeBlocked, Errno: WSAEACCES}
		}
		return control, Result{Outcome: OutcomeAllowed}
	}
}

// runAt is run on a host with addrs.
func runAt(t *testing.T, cfg Config, addrs Addresses, h host) *Report {
	t.Helper()
	return runOn(t, cfg, func(r *Report) { r.Host.Addresses = addrs }, h, allChecksOK)
}

func hyp(t *testing.T, r *Report, id string) Hypothesis {
	t.Helper()
	for _, h := range r.Hypotheses {
		if h.ID == id {
			return h
		}
	}
	t.Fatalf("no hypothesis %s; have %v", id, hypIDs(r))
	return Hypothesis{}
}

func hypIDs(r *Report) []string {
	var ids []string
	for _, h := range r.Hypotheses {
		ids = append(ids, h.ID)
	}
	return ids
}

func text(r *Report) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

func TestExtraRulesOfPolicyFile(t *testing.T) {
	cfg, opts, plan := fileConfig(t)
	byID := map[string]ExtraRule{}
	for _, x := range cfg.Extra {
		byID[x.ID] = x
	}
	// Every filter the plan installs for a file rule is described, and nothing else.
	n := 0
	for _, f := range plan.Filters {
		o, err := policy.ParseOwner(f.ProviderData)
		if err != nil || !strings.HasPrefix(o.Rule, "file-") {
			continue
		}
		n++
		x, ok := byID[o.Rule]
		if !ok {
			t.Errorf("plan filter %s (rule %s) has no ExtraRule", f.Name, o.Rule)
			continue
		}
		if want := map[bool]string{true: "in", false: "out"}[f.Layer == wfp.LayerALEAuthRecvAcceptV4 || f.Layer == wfp.LayerALEAuthRecvAcceptV6]; x.Direction != want {
			t.Errorf("%s: direction %s, the filter sits at %s", x.ID, x.Direction, f.Layer)
		}
	}
	if n != len(cfg.Extra) || n != 11 { // ssh, corp, inbound, inudp: 2 each; lan, loop6, ping: 1
		t.Errorf("%d file filters, %d extra rules, want 11", n, len(cfg.Extra))
	}
	ssh := byID["file-ssh-v4"]
	if ssh.Source != "ssh" || !ssh.FromFile || ssh.Action != "block" || ssh.Family != "v4" || ssh.Unprobed != "" ||
		!slices.Equal(ssh.Protocols, []uint8{policy.ProtoTCP}) || !slices.Equal(ssh.Ports, []PortRange{{22, 22}, {6000, 6010}}) || len(ssh.Remote) != 0 {
		t.Errorf("ssh: %+v", ssh)
	}
	if x := byID["file-corp-v6"]; x.Family != "v6" || len(x.Protocols) != 0 || !slices.Equal(x.Remote, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}) {
		t.Errorf("corp v6: %+v", x)
	}
	if x := byID["file-inbound-v6"]; x.Direction != "in" || !slices.Equal(x.Ports, []PortRange{{8080, 8080}}) {
		t.Errorf("inbound v6: %+v", x)
	}
	if err := cfg.CheckExtra(opts.Extra); err != nil {
		t.Errorf("CheckExtra of the same rules: %v", err)
	}
	if err := cfg.CheckExtra(opts.Extra[1:]); err == nil {
		t.Errorf("CheckExtra passes a configuration laid out for other rules")
	}
	if err := (Config{}).CheckExtra(nil); err != nil {
		t.Errorf("no extra rules: %v", err)
	}
	// A condition the selftest does not derive attempts from: no probe, and why.
	odd := ExtraRulesOf([]policy.Rule{{ID: "app", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionBlock,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPLocalPort, Match: wfp.MatchEqual, Value: wfp.U16(5)}}}})
	if odd[0].Unprobed == "" || odd[0].FromFile || odd[0].Source != "app" {
		t.Errorf("a local-port condition at connect: %+v", odd[0])
	}
}

func TestRuleMatrixFromPolicyFile(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	ps := Probes(cfg)
	byID := map[string]Probe{}
	for _, p := range ps {
		if _, dup := byID[p.ID]; dup {
			t.Errorf("probe ID %s twice", p.ID)
		}
		byID[p.ID] = p
	}
	for _, tc := range []struct {
		id    string
		kind  ProbeKind
		scope Scope
		port  uint16
	}{
		// 22 is the first of the rule's ports and the baseline lets it through.
		{"rule-file-ssh-v4-tcp-loopback-v4", KindTCPConnect, ScopeLoopbackV4, 22},
		{"rule-file-ssh-v4-tcp-local-v4", KindTCPConnect, ScopeLocalV4, 22},
		{"rule-file-ssh-v6-tcp-loopback-v6", KindTCPConnect, ScopeLoopbackV6, 22},
		{"rule-file-ssh-v6-tcp-local-v6", KindTCPConnect, ScopeLocalV6, 22},
		// Any protocol: TCP and UDP; no port: ProbeRulePort; remote not loopback: local only.
		{"rule-file-corp-v4-tcp-local-v4", KindTCPConnect, ScopeLocalV4, ProbeRulePort},
		{"rule-file-corp-v4-udp-local-v4", KindUDPSend, ScopeLocalV4, ProbeRulePort},
		{"rule-file-corp-v6-udp-local-v6", KindUDPSend, ScopeLocalV6, ProbeRulePort},
		{"rule-file-lan-v4-udp-local-v4", KindUDPSend, ScopeLocalV4, ProbeRulePort},
		// ::1 only: loopback only; the range holds ProbeRulePort, tried first.
		{"rule-file-loop6-v6-tcp-loopback-v6", KindTCPConnect, ScopeLoopbackV6, ProbeRulePort},
		{"rule-file-inbound-v4-accept-loopback-v4", KindTCPAccept, ScopeLoopbackV4, 8080},
		{"rule-file-inbound-v6-accept-local-v6", KindTCPAccept, ScopeLocalV6, 8080},
		{"rule-file-ping-v4-icmp-loopback-v4", KindRawICMP, ScopeLoopbackV4, 0},
		{"rule-file-ping-v4-icmp-local-v4", KindRawICMP, ScopeLocalV4, 0},
	} {
		p, ok := byID[tc.id]
		if !ok {
			t.Errorf("no probe %s", tc.id)
			continue
		}
		if p.Kind != tc.kind || p.Scope != tc.scope || p.Port != tc.port || p.Family != "rule" || p.Rule == "" || len(p.Only) != 0 {
			t.Errorf("%s: %+v", tc.id, p)
		}
	}
	for _, absent := range []string{"rule-file-corp-v4-tcp-loopback-v4", "rule-file-lan-v4-udp-loopback-v4", "rule-file-loop6-v6-tcp-local-v6", "rule-file-ssh-v4-udp-loopback-v4"} {
		if _, ok := byID[absent]; ok {
			t.Errorf("probe %s: the rule cannot match it", absent)
		}
	}
	for _, p := range ps {
		if strings.Contains(p.ID, "inudp") {
			t.Errorf("inbound UDP got a probe: %s", p.ID)
		}
	}
	r := NewReport(cfg, "test", time.Unix(0, 0))
	if !slices.ContainsFunc(r.NotRun, func(n string) bool {
		return strings.Contains(n, "inudp") && strings.Contains(n, "inbound UDP is not probed")
	}) {
		t.Errorf("NotRun does not say why rule inudp has no probe: %v", r.NotRun)
	}
	// Every identity makes every rule probe, so both claims have cells.
	for _, c := range r.Cells {
		if c.Probe == "rule-file-ssh-v4-tcp-local-v4" && c.Identity.Who == WhoOther && c.Expect != ExpectAllowed {
			t.Errorf("another account's attempt is expected %s", c.Expect)
		}
	}
	if n := len(r.Identities); slices.IndexFunc(r.Cells, func(c Cell) bool { return c.Probe == "rule-file-ssh-v4-tcp-local-v4" }) < 0 ||
		countCells(r, "rule-file-ssh-v4-tcp-local-v4") != n {
		t.Errorf("rule probe cells %d, want %d", countCells(r, "rule-file-ssh-v4-tcp-local-v4"), n)
	}
}

func countCells(r *Report, probe string) int {
	n := 0
	for _, c := range r.Cells {
		if c.Probe == probe {
			n++
		}
	}
	return n
}

// The attempts go to this host's own addresses only: a rule for a network that holds
// none of them gets no attempt, and the reason names the rule's networks.
func TestRuleAttemptsOnlyOwnAddresses(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	ps := Probes(cfg)
	as, skipped := Attempts(ps, Identity{WhoAccount, TokenNormal}, testAddrs, "k")
	byName := map[string]probeproto.Attempt{}
	for _, a := range as {
		byName[a.Name] = a
	}
	if a := byName["rule-file-lan-v4-udp-local-v4"]; a.Network != "udp4" || a.Target != "10.1.2.3:47310" || a.Family != "rule" {
		t.Errorf("lan: %+v", a)
	}
	if a := byName["rule-file-loop6-v6-tcp-loopback-v6"]; a.Network != "tcp6" || a.Target != "[::1]:47310" {
		t.Errorf("loop6: %+v", a)
	}
	if a := byName["rule-file-inbound-v6-accept-local-v6"]; a.Kind != probeproto.KindTCPAccept || a.Target != "[fd00::5]:8080" {
		t.Errorf("inbound v6: %+v", a)
	}
	for _, id := range []string{"rule-file-corp-v4-tcp-local-v4", "rule-file-corp-v6-udp-local-v6"} {
		if _, made := byName[id]; made || !strings.Contains(skipped[id], "not in the rule's remote addresses") || !strings.Contains(skipped[id], "sends nothing to other hosts") {
			t.Errorf("%s: made %v, skipped %q", id, made, skipped[id])
		}
	}
	own := func(a netip.Addr) bool { return a.IsLoopback() || a == testAddrs.LocalV4 || a == testAddrs.LocalV6 }
	if err := OnlyOwnTargets(as, own); err != nil {
		t.Errorf("a rule attempt aims at another host: %v", err)
	}
	// Without a local IPv4 address the local probes are skipped as before.
	_, skipped = Attempts(ps, Identity{WhoAccount, TokenNormal}, Addresses{}, "k")
	if !strings.Contains(skipped["rule-file-lan-v4-udp-local-v4"], "no local-v4 address") {
		t.Errorf("no address: %q", skipped["rule-file-lan-v4-udp-local-v4"])
	}
}

func TestRuleHypothesesConfirmed(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	r := runAt(t, cfg, testAddrs, faithfulAt(cfg, testAddrs))
	if r.Verdict.ExitCode != ExitHeld || r.Verdict.Status != "held" {
		t.Fatalf("verdict %+v\n%s", r.Verdict, text(r))
	}
	for _, id := range []string{"policy-rule-ssh-blocks", "policy-rule-ssh-other-unaffected", "policy-rule-lan-blocks", "policy-rule-loop6-blocks",
		"policy-rule-inbound-blocks", "policy-rule-inbound-other-unaffected", "policy-rule-ping-other-unaffected"} {
		if h := hyp(t, r, id); h.Status != Confirmed || !h.Safety {
			t.Errorf("%s: %s (safety %v) %v", id, h.Status, h.Safety, h.Evidence)
		}
	}
	// No address of this host is in corp's networks: not tested, not a safety claim.
	corp := hyp(t, r, "policy-rule-corp-blocks")
	if corp.Status != NotObservable || corp.Safety || !strings.Contains(strings.Join(corp.Evidence, " "), "203.0.113.0/24") {
		t.Errorf("corp: %+v", corp)
	}
	if h := hyp(t, r, "policy-rule-inudp-blocks"); h.Status != NotObservable || h.Safety || !strings.Contains(h.Evidence[0], "not probed") {
		t.Errorf("inudp: %+v", h)
	}
	// The account's raw ICMP is refused before WFP: the ICMP rule's account claim
	// cannot be seen, which does not fail the run.
	if h := hyp(t, r, "policy-rule-ping-blocks"); h.Status != NotObservable || h.Safety || !strings.Contains(h.Evidence[0], "raw ICMP") {
		t.Errorf("ping: %+v", h)
	}
	// The profile's claims are the profile's: no rule probe among their evidence.
	for _, id := range []string{"account-blocked", "other-account-unaffected", "children-blocked"} {
		h := hyp(t, r, id)
		if h.Status != Confirmed || slices.ContainsFunc(h.Evidence, func(e string) bool { return strings.HasPrefix(e, "rule-") }) {
			t.Errorf("%s: %s, evidence %v", id, h.Status, h.Evidence)
		}
	}
	s := r.Verdict.Summary
	if !strings.Contains(s, "the policy file's rules ssh, lan, loop6 and inbound block the account's matching traffic") ||
		!strings.Contains(s, "rules corp, inudp and ping could not be observed here") || !strings.HasSuffix(s, "no other account was affected.") {
		t.Errorf("summary %q", s)
	}
	// The JSON report is self-contained: decoded and judged again, it says the same.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Evaluate()
	if back.Verdict != r.Verdict || len(back.Hypotheses) != len(r.Hypotheses) || len(back.Config.Extra) != len(cfg.Extra) ||
		!slices.Equal(back.Config.Extra[1].Ports, cfg.Extra[1].Ports) || back.Config.Extra[2].Remote[0] != cfg.Extra[2].Remote[0] {
		t.Errorf("round trip: verdict %+v, %d hypotheses, extra %+v", back.Verdict, len(back.Hypotheses), back.Config.Extra)
	}
	for i, h := range back.Hypotheses {
		if h.ID != r.Hypotheses[i].ID || h.Status != r.Hypotheses[i].Status || h.Safety != r.Hypotheses[i].Safety {
			t.Errorf("round trip: %s %s, was %s %s", h.ID, h.Status, r.Hypotheses[i].ID, r.Hypotheses[i].Status)
		}
	}
	// Rule ssh's port 22 is let through by the baseline: its block is the rule's, and
	// the evidence says nothing else decided it.
	for _, e := range hyp(t, r, "policy-rule-ssh-blocks").Evidence {
		if strings.Contains(e, "profile alone") {
			t.Errorf("ssh evidence claims an overlap: %s", e)
		}
	}
}

func TestRuleRefuted(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	// The account's TCP to port 22 on the local address gets through: the rule was not
	// applied there (every other attempt as expected).
	h := except(faithfulAt(cfg, testAddrs), func(p Probe, id Identity) bool {
		return p.ID == "rule-file-ssh-v4-tcp-local-v4" && id == Identity{WhoAccount, TokenNormal}
	}, nil, allowed)
	r := runAt(t, cfg, testAddrs, h)
	if s := hyp(t, r, "policy-rule-ssh-blocks").Status; s != Refuted {
		t.Fatalf("policy-rule-ssh-blocks %s", s)
	}
	if s := hyp(t, r, "account-blocked").Status; s != Confirmed {
		t.Errorf("account-blocked %s: only the rule's attempt got through", s)
	}
	if r.Verdict.ExitCode != ExitNotHeld || r.Verdict.Status != "refuted" ||
		!strings.Contains(r.Verdict.Summary, "the policy file's rule ssh did not block the account's matching traffic") ||
		!strings.Contains(r.Verdict.Instead, "the policy file's rule ssh did not do what it says") {
		t.Errorf("verdict %+v", r.Verdict)
	}
	if out := text(r); !strings.Contains(out, "refuted         policy-rule-ssh-blocks") || !strings.Contains(out, "rule-file-ssh-v4-tcp-local-v4 as account/normal") {
		t.Errorf("text:\n%s", out)
	}
}

// Mixed: the rule holds for IPv4 and for the account's own process, but an AppContainer
// child's IPv6 connects on loopback get through.
func TestRuleMixed(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	h := except(faithfulAt(cfg, testAddrs), func(p Probe, id Identity) bool {
		return p.ID == "rule-file-ssh-v6-tcp-loopback-v6" && id == Identity{WhoAccount, TokenAppContainer}
	}, nil, allowed)
	r := runAt(t, cfg, testAddrs, h)
	hy := hyp(t, r, "policy-rule-ssh-blocks")
	if hy.Status != Refuted {
		t.Fatalf("policy-rule-ssh-blocks %s", hy.Status)
	}
	if !strings.Contains(hy.Evidence[0], "rule-file-ssh-v6-tcp-loopback-v6 as account/appcontainer") || !strings.Contains(hy.Evidence[0], "violated") ||
		!slices.ContainsFunc(hy.Evidence, func(e string) bool {
			return strings.Contains(e, "rule-file-ssh-v4-tcp-loopback-v4 as account/normal") && strings.Contains(e, "held")
		}) {
		t.Errorf("evidence %v", hy.Evidence)
	}
	if s := hyp(t, r, "children-blocked").Status; s != Confirmed {
		t.Errorf("children-blocked %s: the profile's probes all held", s)
	}
	if s := hyp(t, r, "policy-rule-loop6-blocks").Status; s != Confirmed {
		t.Errorf("another rule %s", s)
	}
}

func TestRuleBlocksOtherAccount(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	h := except(faithfulAt(cfg, testAddrs), func(p Probe, id Identity) bool {
		return p.ID == "rule-file-inbound-v4-accept-local-v4" && id == Identity{WhoOther, TokenLowIntegrity}
	}, nil, blocked)
	r := runAt(t, cfg, testAddrs, h)
	if s := hyp(t, r, "policy-rule-inbound-other-unaffected").Status; s != Refuted {
		t.Fatalf("policy-rule-inbound-other-unaffected %s", s)
	}
	if s := hyp(t, r, "other-account-unaffected").Status; s != Confirmed {
		t.Errorf("other-account-unaffected %s: only the rule's probe was blocked", s)
	}
	if !strings.Contains(r.Verdict.Summary, "ANOTHER ACCOUNT WAS BLOCKED by the policy file's rule inbound") || !strings.Contains(r.Verdict.Instead, "--user-match allow") ||
		r.Verdict.ExitCode != ExitNotHeld {
		t.Errorf("verdict %+v", r.Verdict)
	}
}

// A failing control (a firewall refusing the account's connects to port 22) makes the
// rule's claim not observable — a safety claim, so the run is not-shown — and never
// confirms it.
func TestRuleNotObservable(t *testing.T) {
	cfg, _, _ := fileConfig(t)
	fw := &Result{Outcome: OutcomeBlocked, Errno: WSAEACCES, Error: "WSAEACCES"}
	h := except(faithfulAt(cfg, testAddrs), func(p Probe, id Identity) bool {
		return strings.HasPrefix(p.ID, "rule-file-ssh-") && id.Who == WhoAccount
	}, fw, nil)
	r := runAt(t, cfg, testAddrs, h)
	hy := hyp(t, r, "policy-rule-ssh-blocks")
	if hy.Status != NotObservable || !hy.Safety {
		t.Fatalf("policy-rule-ssh-blocks %s safety %v", hy.Status, hy.Safety)
	}
	if r.Verdict.Status != "not-shown" || r.Verdict.ExitCode != ExitNotHeld || !strings.Contains(r.Verdict.Summary, "policy-rule-ssh-blocks") {
		t.Errorf("verdict %+v", r.Verdict)
	}
	if s := hyp(t, r, "policy-rule-ssh-other-unaffected").Status; s != Confirmed {
		t.Errorf("the other account's side %s", s)
	}
}

// The local address in a rule's network becomes known only once the host's addresses
// are read: the expectation of a profile probe changes with it.
func TestRuleChangesProfileExpectation(t *testing.T) {
	lan := ExtraRulesOf([]policy.Rule{{ID: "lan-tcp", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionBlock,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("10.0.0.0/8"))}}}})
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: lan}
	var other Probe
	for _, p := range Probes(cfg) {
		if p.ID == "other-tcp-local-v4" {
			other = p
		}
	}
	acct := Identity{WhoAccount, TokenNormal}
	if e, _ := Expect(cfg, other, acct); e != ExpectAllowed {
		t.Errorf("before the addresses are known: %s", e)
	}
	if e, why := ExpectAt(cfg, other, acct, testAddrs); e != ExpectBlocked || !strings.Contains(why, "extra rule lan-tcp") {
		t.Errorf("with 10.1.2.3: %s (%s)", e, why)
	}
	if e, _ := ExpectAt(cfg, other, acct, Addresses{LocalV4: netip.MustParseAddr("192.168.1.2")}); e != ExpectAllowed {
		t.Errorf("with 192.168.1.2: %s", e)
	}
	// The report lays the cell out before the addresses are read and judges it after.
	r := NewReport(cfg, "test", time.Unix(0, 0))
	if c := r.Cell("other-tcp-local-v4", acct); c.Expect != ExpectAllowed {
		t.Errorf("laid out as %s", c.Expect)
	}
	r = runAt(t, cfg, testAddrs, faithfulAt(cfg, testAddrs))
	if c := r.Cell("other-tcp-local-v4", acct); c.Expect != ExpectBlocked || c.Verdict != CellHeld || r.Verdict.ExitCode != ExitHeld {
		t.Errorf("judged with 10.1.2.3: %s → %s, verdict %+v", c.Expect, c.Verdict, r.Verdict)
	}
	// The strict profile's loopback permits are below a policy file's blocks.
	strict := Config{Profile: policy.Strict, UserMatch: policy.MatchDeny, Extra: ExtraRulesOf([]policy.Rule{{ID: "file-noloop-v4", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionBlock,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(policy.ProtoTCP)}}}})}
	r = runAt(t, strict, testAddrs, faithfulAt(strict, testAddrs))
	if c := r.Cell("proxy-tcp-loopback-v4", acct); c.Expect != ExpectBlocked || !strings.Contains(c.Reason, "rule noloop") {
		t.Errorf("proxy probe under a TCP block rule: %s (%s)", c.Expect, c.Reason)
	}
	if c := r.Cell("proxy-tcp-loopback-v6", acct); c.Expect != ExpectAllowed {
		t.Errorf("the IPv6 proxy probe (the rule is IPv4): %s", c.Expect)
	}
	if r.Verdict.ExitCode != ExitHeld {
		t.Errorf("verdict %+v\n%s", r.Verdict, text(r))
	}
}

func TestRulePortChoice(t *testing.T) {
	rule := func(ports ...PortRange) ExtraRule {
		return ExtraRule{ID: "r", Source: "r", Action: "block", Direction: "out", Family: "v4", Protocols: []uint8{policy.ProtoTCP}, Ports: ports}
	}
	base := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny}
	strictProxy := Config{Profile: policy.Strict, UserMatch: policy.MatchDeny, ProxyPorts: []uint16{3128}}
	for _, tc := range []struct {
		cfg   Config
		x     ExtraRule
		kind  ProbeKind
		scope Scope
		want  uint16
	}{
		// 53 is the baseline's: a block there says nothing about the rule.
		{base, rule(PortRange{53, 53}, PortRange{50, 60}), KindTCPConnect, ScopeLoopbackV4, 50},
		{base, rule(PortRange{53, 53}), KindTCPConnect, ScopeLoopbackV4, 53}, // nothing else: 53 it is
		{base, rule(PortRange{47000, 48000}), KindTCPConnect, ScopeLoopbackV4, ProbeRulePort},
		// Strict with a proxy port: on loopback only 3128 is let through by the profile.
		{strictProxy, rule(PortRange{3120, 3130}), KindTCPConnect, ScopeLoopbackV4, 3128},
		// Strict blocks every non-loopback connect: no port tells, and 47303 is where the
		// strict profile's accept probe listens on the local address.
		{strictProxy, rule(PortRange{47303, 47304}), KindTCPConnect, ScopeLocalV4, 47304},
		// The profile's fixed probe ports are taken only when the rule leaves no other.
		{base, rule(PortRange{ProbeOtherPort, ProbeAcceptPort + 2}), KindTCPConnect, ScopeLoopbackV4, ProbeAcceptPort + 1},
		{base, rule(PortRange{ProbeProxyPort, ProbeProxyPort}), KindTCPConnect, ScopeLoopbackV4, ProbeProxyPort},
		// A permit tells where the profile blocks.
		{base, ExtraRule{ID: "p", Action: "permit", Direction: "out", Family: "v4", Ports: []PortRange{{50, 60}}}, KindUDPSend, ScopeLoopbackV4, 53},
	} {
		taken := takenPorts{}
		for _, p := range profileProbes(tc.cfg) {
			taken.add(p)
		}
		if got, _ := tc.x.choosePort(tc.cfg, tc.kind, tc.scope, taken, nil, 0); got != tc.want {
			t.Errorf("%s %v %s %s: port %d, want %d", tc.cfg.Profile, tc.x.Ports, tc.kind, tc.scope, got, tc.want)
		}
	}
	// An inbound rule's listener never sits where another rule's connect target does
	// (the selftest listens there itself).
	two := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: []ExtraRule{
		{ID: "out", Source: "out", Action: "block", Direction: "out", Family: "v4", Protocols: []uint8{policy.ProtoTCP}, Ports: []PortRange{{47320, 47321}}},
		{ID: "in", Source: "in", Action: "block", Direction: "in", Family: "v4", Protocols: []uint8{policy.ProtoTCP}, Ports: []PortRange{{47320, 47321}}},
	}}
	for _, p := range Probes(two) {
		want := map[string]uint16{"out": 47320, "in": 47321}[p.Rule]
		if p.Rule != "" && p.Port != want {
			t.Errorf("%s: port %d, want %d", p.ID, p.Port, want)
		}
	}
	// Candidates are bounded however wide the range.
	if n := len(rule(PortRange{1, 65535}).portCandidates()); n == 0 || n > maxPortCandidates {
		t.Errorf("%d candidates for 1-65535", n)
	}
	if c := rule(PortRange{65530, 65535}).portCandidates(); c[len(c)-1] != 65535 || len(c) != 6 {
		t.Errorf("candidates at the top of the port space: %v", c)
	}
}

// A rule's port that something on this host uses is left for another of the rule's
// ports, and the probe says which.
func TestChoosePortsAvoidsPortsInUse(t *testing.T) {
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: []ExtraRule{
		{ID: "file-web-v4", Source: "web", FromFile: true, Action: "block", Direction: "out", Family: "v4", Protocols: []uint8{policy.ProtoTCP}, Ports: []PortRange{{6000, 6010}}},
	}}
	r := NewReport(cfg, "test", time.Unix(0, 0))
	r.Host.Addresses = testAddrs
	busy := map[netip.AddrPort]bool{netip.MustParseAddrPort("127.0.0.1:6000"): true, netip.MustParseAddrPort("127.0.0.1:6001"): true}
	notes := r.ChoosePorts(func(network string, ap netip.AddrPort) bool { return network == "tcp4" && !busy[ap] })
	if len(notes) != 0 {
		t.Errorf("notes %v", notes)
	}
	lo, _ := r.probe("rule-file-web-v4-tcp-loopback-v4")
	if lo.Port != 6002 || !strings.Contains(lo.PortNote, "port 6000 was in use on 127.0.0.1; port 6002") {
		t.Errorf("loopback probe %+v", lo)
	}
	if local, _ := r.probe("rule-file-web-v4-tcp-local-v4"); local.Port != 6000 || local.PortNote != "" {
		t.Errorf("the local probe moved: %+v", local)
	}
	as, _ := Attempts(r.Probes, Identity{WhoAccount, TokenNormal}, testAddrs, "k")
	if i := slices.IndexFunc(as, func(a probeproto.Attempt) bool { return a.Name == "rule-file-web-v4-tcp-loopback-v4" }); i < 0 || as[i].Target != "127.0.0.1:6002" {
		t.Errorf("the attempt does not use the new port: %v", as)
	}
	// A phase judged against the same rules (another user-match) probes where the
	// prober's attempts went; other rules are refused.
	ph, err := r.PhaseReport(Config{Profile: policy.Baseline, UserMatch: policy.MatchAllow, Extra: cfg.Extra}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := ph.probe("rule-file-web-v4-tcp-loopback-v4"); p.Port != 6002 || p.PortNote == "" {
		t.Errorf("the phase's probe %+v", p)
	}
	if _, err := r.PhaseReport(Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny}, time.Unix(0, 0)); err == nil {
		t.Errorf("a phase without the rules is accepted")
	}
	// Every port of the rule in use: the probe keeps its port and the report says so.
	r = NewReport(cfg, "test", time.Unix(0, 0))
	r.Host.Addresses = testAddrs
	notes = r.ChoosePorts(func(string, netip.AddrPort) bool { return false })
	if len(notes) != 2 || !strings.Contains(notes[0], "no other of the rule's ports") {
		t.Errorf("notes %v", notes)
	}
	if p, _ := r.probe("rule-file-web-v4-tcp-loopback-v4"); p.Port != 6000 {
		t.Errorf("port %d", p.Port)
	}
	// The evidence of the rule's claim carries the port note.
	r = NewReport(cfg, "test", time.Unix(0, 0))
	r.Host.Addresses = testAddrs
	r.ChoosePorts(func(network string, ap netip.AddrPort) bool { return !busy[ap] })
	h := faithfulAt(cfg, testAddrs)
	for i := range r.Cells {
		p, _ := r.probe(r.Cells[i].Probe)
		r.Cells[i].Control, r.Cells[i].Policy = h(p, r.Cells[i].Identity)
	}
	r.Evaluate()
	if ev := strings.Join(hyp(t, r, "policy-rule-web-blocks").Evidence, "\n"); !strings.Contains(ev, "was in use on 127.0.0.1") {
		t.Errorf("evidence:\n%s", ev)
	}
}

// PortFree on the real stack: a bound port is not free, and ChoosePorts moves off it.
func TestPortFree(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no IPv4 loopback: %v", err)
	}
	defer ln.Close()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	if PortFree("tcp4", ap) {
		t.Fatalf("%s is bound but PortFree says free", ap)
	}
	if PortFree("sctp", ap) {
		t.Errorf("an unknown network is free")
	}
	if ap.Port() == 65535 {
		t.Skip("bound port at the top of the range")
	}
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: []ExtraRule{
		{ID: "x", Source: "x", Action: "block", Direction: "out", Family: "v4", Protocols: []uint8{policy.ProtoTCP}, Ports: []PortRange{{ap.Port(), ap.Port() + 1}}},
	}}
	r := NewReport(cfg, "test", time.Unix(0, 0))
	r.ChoosePorts(PortFree)
	p, ok := r.probe("rule-x-tcp-loopback-v4")
	if !ok {
		t.Fatalf("no probe; have %v", r.Probes)
	}
	if p.Port != ap.Port()+1 || p.PortNote == "" {
		// The other port may be taken by something else on this machine.
		if PortFree("tcp4", netip.AddrPortFrom(ap.Addr(), ap.Port()+1)) {
			t.Errorf("probe %+v, %s in use", p, ap)
		}
	}
}

// IPv6: a rule for a network that holds the host's IPv6 address probes it there.
func TestRuleIPv6Local(t *testing.T) {
	x := ExtraRulesOf([]policy.Rule{{ID: "file-ula-v6", Layer: wfp.LayerALEAuthConnectV6, Action: wfp.ActionBlock, Conditions: []wfp.Condition{
		{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(policy.ProtoUDP)},
		{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(5000), wfp.U16(5100))},
		{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("fd00::/8"))},
	}}})
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: x}
	as, skipped := Attempts(Probes(cfg), Identity{WhoOther, TokenNormal}, testAddrs, "k")
	i := slices.IndexFunc(as, func(a probeproto.Attempt) bool { return a.Name == "rule-file-ula-v6-udp-local-v6" })
	if i < 0 || as[i].Network != "udp6" || as[i].Target != "[fd00::5]:5000" {
		t.Fatalf("attempts %v skipped %v", as, skipped)
	}
	r := runAt(t, cfg, testAddrs, faithfulAt(cfg, testAddrs))
	if h := hyp(t, r, "policy-rule-ula-blocks"); h.Status != Confirmed {
		t.Errorf("ula: %+v", h)
	}
	// The same rule on a host whose IPv6 address is elsewhere: no attempt.
	elsewhere := Addresses{LocalV4: testAddrs.LocalV4, LocalV6: netip.MustParseAddr("2001:db8::9")}
	r = runAt(t, cfg, elsewhere, faithfulAt(cfg, elsewhere))
	if h := hyp(t, r, "policy-rule-ula-blocks"); h.Status != NotObservable || h.Safety || !strings.Contains(strings.Join(h.Evidence, " "), "fd00::/8") {
		t.Errorf("ula elsewhere: %+v", h)
	}
	if r.Verdict.ExitCode != ExitHeld {
		t.Errorf("a rule without a target on this host fails the run: %+v", r.Verdict)
	}
}

// A Go caller's extra permit: its attempt must get through while the profile's blocks
// hold; where the profile blocks the attempt, the permit is what let it through.
func TestRulePermit(t *testing.T) {
	permit := policy.Rule{ID: "https-out", Name: "permit https", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionPermit, Weight: wfp.U8(policy.WeightBlocks),
		Conditions: []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(policy.ProtoTCP)}, {Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(8443)}}}
	opts := policy.Options{SID: PlaceholderSID, Profile: policy.Strict, Extra: []policy.Rule{permit}}
	if _, err := policy.Build(opts); err != nil {
		t.Fatalf("the plan with a permit does not build: %v", err)
	}
	cfg := Config{Profile: policy.Strict, UserMatch: policy.MatchDeny, Extra: ExtraRulesOf(opts.Extra)}
	r := runAt(t, cfg, testAddrs, faithfulAt(cfg, testAddrs))
	if c := r.Cell("rule-https-out-tcp-local-v4", Identity{WhoAccount, TokenNormal}); c == nil || c.Expect != ExpectAllowed || c.Verdict != CellHeld {
		t.Fatalf("permit cell %+v", c)
	}
	h := hyp(t, r, "policy-rule-https-out-permits")
	if h.Status != Confirmed || !h.Safety {
		t.Fatalf("permit: %+v", h)
	}
	// On loopback the strict profile lets it through anyway: the evidence says so.
	if !slices.ContainsFunc(h.Evidence, func(e string) bool {
		return strings.HasPrefix(e, "rule-https-out-tcp-loopback-v4 as account/normal") && strings.Contains(e, "profile alone decides it the same way")
	}) {
		t.Errorf("evidence %v", h.Evidence)
	}
	if s := hyp(t, r, "account-blocked").Status; s != Confirmed || r.Verdict.ExitCode != ExitHeld ||
		!strings.Contains(r.Verdict.Summary, "the extra rule https-out lets the account's matching traffic through") {
		t.Errorf("account-blocked %s, verdict %+v", s, r.Verdict)
	}
	// The permit does not work: the strict block wins.
	r = runAt(t, cfg, testAddrs, except(faithfulAt(cfg, testAddrs), func(p Probe, id Identity) bool {
		return p.ID == "rule-https-out-tcp-local-v4" && id.Who == WhoAccount
	}, nil, blocked))
	if s := hyp(t, r, "policy-rule-https-out-permits").Status; s != Refuted || !strings.Contains(r.Verdict.Summary, "the plan's extra rule https-out did not let the account's matching traffic through") {
		t.Errorf("%s, verdict %+v", s, r.Verdict)
	}
	// A profile probe the permit matches is recorded, not expected either way.
	baseCfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: ExtraRulesOf([]policy.Rule{{ID: "dns-ok", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionPermit,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}}}})}
	r = runAt(t, baseCfg, testAddrs, faithfulAt(baseCfg, testAddrs))
	if c := r.Cell("dns-udp-loopback-v4", Identity{WhoAccount, TokenNormal}); c.Expect != ExpectRecord || !strings.Contains(c.Reason, "weights") {
		t.Errorf("dns cell under a DNS permit: %s (%s)", c.Expect, c.Reason)
	}
	if c := r.Cell("dns-udp-loopback-v6", Identity{WhoAccount, TokenNormal}); c.Expect != ExpectBlocked {
		t.Errorf("the IPv6 DNS cell (the permit is IPv4): %s", c.Expect)
	}
}

// The cap: a policy with more rules than MaxRuleProbes probes leaves the rest unprobed
// and says so.
func TestRuleProbeCap(t *testing.T) {
	var rules []policy.Rule
	for i := range MaxRuleProbes {
		rules = append(rules, policy.Rule{ID: "r" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionBlock,
			Conditions: []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(policy.ProtoTCP)}}})
	}
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: ExtraRulesOf(rules)}
	n := 0
	for _, p := range Probes(cfg) {
		if p.Rule != "" {
			n++
		}
	}
	if n != MaxRuleProbes {
		t.Errorf("%d rule probes, want %d", n, MaxRuleProbes)
	}
	r := runAt(t, cfg, testAddrs, faithfulAt(cfg, testAddrs))
	last := cfg.Extra[len(cfg.Extra)-1].Source
	if h := hyp(t, r, "policy-rule-"+last+"-blocks"); h.Status != NotObservable || h.Safety || !strings.Contains(h.Evidence[0], "at most") {
		t.Errorf("the last rule: %+v", h)
	}
	if !slices.ContainsFunc(r.NotRun, func(s string) bool { return strings.Contains(s, "at most") }) {
		t.Errorf("NotRun %v", r.NotRun)
	}
}

// The selftest listens on a rule probe's target like on the profile's: an unblocked
// connect is seen to succeed, an unblocked datagram to arrive.
func TestListenForRuleAttempts(t *testing.T) {
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no IPv4 loopback: %v", err)
	}
	port := netip.MustParseAddrPort(tl.Addr().String()).Port()
	tl.Close()
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny, Extra: []ExtraRule{
		{ID: "file-app-v4", Source: "app", FromFile: true, Action: "block", Direction: "out", Family: "v4", Ports: []PortRange{{port, port}},
			Remote: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	}}
	r := NewReport(cfg, "test", time.Unix(0, 0))
	if notes := r.ChoosePorts(PortFree); len(notes) != 0 {
		t.Skipf("port %d taken meanwhile: %v", port, notes)
	}
	as, _ := Attempts(r.Probes, Identity{WhoAccount, TokenNormal}, Addresses{}, "k")
	var mine []probeproto.Attempt
	for _, a := range as {
		if a.Family == "rule" {
			mine = append(mine, a)
		}
	}
	if len(mine) != 2 { // TCP and UDP (any protocol) on 127.0.0.1 only
		t.Fatalf("rule attempts %v", mine)
	}
	l, err := Listen(mine, func(a netip.Addr) bool { return a.IsLoopback() })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(l.Notes) != 0 {
		t.Fatalf("listener notes %v", l.Notes)
	}
	for _, a := range mine {
		c, err := net.Dial(a.Network, a.Target)
		if err != nil {
			t.Fatalf("%s %s: %v", a.Network, a.Target, err)
		}
		if a.Kind == probeproto.KindUDPSend {
			if _, err := c.Write(probeproto.UDPPayload("run", a.Name)); err != nil {
				t.Fatal(err)
			}
			if got := l.Arrived("run", a, 2*time.Second); got == nil || !*got {
				t.Errorf("the rule's datagram to %s did not arrive: %v", a.Target, got)
			}
		}
		c.Close()
	}
}
