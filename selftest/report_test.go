package selftest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// host simulates what a Windows host does to each attempt: control is the outcome with
// nothing installed, policy the outcome with the plan installed.
type host func(p Probe, id Identity) (control, policy Result)

// faithful is a host where the policy does exactly what Expect says, raw ICMP is
// refused to non-administrators before WFP, and an attempt the product claims nothing
// about goes through.
func faithful(cfg Config) host {
	return func(p Probe, id Identity) (Result, Result) {
		control := Result{Outcome: OutcomeAllowed}
		if p.Kind == KindRawICMP && id.Who == WhoAccount {
			control = Result{Outcome: OutcomeBlocked, Errno: WSAEACCES, Error: "raw socket refused"}
		}
		switch e, _ := Expect(cfg, p, id); e {
		case ExpectBlocked:
			return control, Result{Outcome: OutcomeBlocked, Errno: WSAEACCES}
		default:
			return control, Result{Outcome: OutcomeAllowed}
		}
	}
}

// except returns h with the outcome of the attempts for which match is true replaced.
func except(h host, match func(p Probe, id Identity) bool, control, pol *Result) host {
	return func(p Probe, id Identity) (Result, Result) {
		c, r := h(p, id)
		if match(p, id) {
			if control != nil {
				c = *control
			}
			if pol != nil {
				r = *pol
			}
		}
		return c, r
	}
}

var (
	allowed = &Result{Outcome: OutcomeAllowed}
	blocked = &Result{Outcome: OutcomeBlocked, Errno: WSAEACCES, Error: "WSAEACCES"}
)

var allChecksOK = []Check{
	{ID: CheckInstall, Ran: true, OK: true}, {ID: CheckVerify, Ran: true, OK: true},
	{ID: CheckEnumScoped, Ran: true, OK: true}, {ID: CheckLogon, Ran: true, OK: true},
	{ID: CheckChildren, Ran: true, OK: true},
}

// run fills a report for cfg from h and checks and evaluates it.
func run(t *testing.T, cfg Config, h host, checks []Check) *Report {
	t.Helper()
	return runOn(t, cfg, nil, h, checks)
}

// runOn is run with facts, when not nil, changing the new report first (its host facts).
func runOn(t *testing.T, cfg Config, facts func(*Report), h host, checks []Check) *Report {
	t.Helper()
	r := NewReport(cfg, "test", time.Unix(0, 0))
	if facts != nil {
		facts(r)
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		p, ok := r.probe(c.Probe)
		if !ok {
			t.Fatalf("cell for unknown probe %s", c.Probe)
		}
		c.Control, c.Policy = h(p, c.Identity)
	}
	for _, c := range checks {
		r.SetCheck(c)
	}
	r.Evaluate()
	return r
}

func status(t *testing.T, r *Report, id string) Status {
	t.Helper()
	for _, h := range r.Hypotheses {
		if h.ID == id {
			return h.Status
		}
	}
	t.Fatalf("no hypothesis %s", id)
	return ""
}

var deny = Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny}

func TestFaithfulHostHolds(t *testing.T) {
	for _, cfg := range []Config{deny, {Profile: policy.Strict, UserMatch: policy.MatchDeny}, {Profile: policy.Strict, UserMatch: policy.MatchDeny, ProxyPorts: []uint16{8080}}} {
		r := run(t, cfg, faithful(cfg), allChecksOK)
		if r.Verdict.ExitCode != ExitHeld || r.Verdict.Status != "held" {
			var b bytes.Buffer
			r.WriteText(&b)
			t.Fatalf("%+v: verdict %+v\n%s", cfg, r.Verdict, b.String())
		}
		for _, id := range []string{"account-blocked", "children-blocked", "other-account-unaffected", "anonymous-impersonation-uses-process-token",
			"loopback-at-connect", "udp-sendto-wsaeacces", "raw-icmp-refused-to-non-admin", "other-account-kernel-path-unaffected"} {
			if s := status(t, r, id); s != Confirmed {
				t.Errorf("%+v: %s is %s, want confirmed", cfg, id, s)
			}
		}
		if s := status(t, r, "persistent-filters-survive-bfe-restart"); s != NotObservable {
			t.Errorf("BFE restart hypothesis %s: a dynamic-session run cannot observe it", s)
		}
		if !strings.Contains(r.Verdict.Summary, "direct DNS, DoT, SMB and NetBIOS") || !strings.Contains(r.Verdict.Summary, "children are blocked too") ||
			!strings.Contains(r.Verdict.Summary, "no other account was affected") {
			t.Errorf("summary %q", r.Verdict.Summary)
		}
	}
}

// The raw ICMP cells of the account are not-observable on a faithful host (the control
// is refused before WFP): they must not count as confirmations of account-blocked.
func TestRefusedControlIsNotEvidence(t *testing.T) {
	r := run(t, deny, faithful(deny), allChecksOK)
	c := r.Cell("icmp-raw-loopback-v4", Identity{WhoAccount, TokenNormal})
	if c == nil || c.Verdict != CellNotObservable {
		t.Fatalf("raw ICMP cell %+v", c)
	}
	for _, h := range r.Hypotheses {
		if h.ID != "account-blocked" {
			continue
		}
		for _, e := range h.Evidence {
			if strings.HasPrefix(e, "icmp-raw") {
				t.Errorf("a not-observable cell is counted as evidence: %s", e)
			}
		}
	}
}

func TestOtherAccountBlockedIsRefuted(t *testing.T) {
	// Another account's low-integrity process blocked under the deny shape: the guard's
	// access check failed for it (e.g. a mandatory-label check on CC).
	h := except(faithful(deny), func(p Probe, id Identity) bool {
		return id == Identity{WhoOther, TokenLowIntegrity} && p.ID == "dns-udp-loopback-v4"
	}, nil, blocked)
	r := run(t, deny, h, allChecksOK)
	if s := status(t, r, "other-account-unaffected"); s != Refuted {
		t.Fatalf("other-account-unaffected %s", s)
	}
	if r.Verdict.ExitCode != ExitNotHeld || r.Verdict.Status != "refuted" {
		t.Fatalf("verdict %+v", r.Verdict)
	}
	if !strings.Contains(r.Verdict.Summary, "ANOTHER ACCOUNT WAS BLOCKED") || !strings.Contains(r.Verdict.Instead, "--user-match allow") {
		t.Errorf("verdict %+v", r.Verdict)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	if !strings.HasPrefix(b.String(), r.Verdict.Summary) || !strings.Contains(b.String(), "dns-udp-loopback-v4 as other/low-integrity") {
		t.Errorf("text:\n%s", b.String())
	}
}

// Mixed: the AppContainer child is blocked off loopback but escapes on loopback.
func TestChildEscapeOnLoopbackIsRefuted(t *testing.T) {
	h := except(faithful(deny), func(p Probe, id Identity) bool {
		return id == Identity{WhoAccount, TokenAppContainer} && p.Scope.Loopback()
	}, nil, allowed)
	r := run(t, deny, h, allChecksOK)
	if s := status(t, r, "children-blocked"); s != Refuted {
		t.Fatalf("children-blocked %s", s)
	}
	if s := status(t, r, "account-blocked"); s != Confirmed {
		t.Errorf("account-blocked %s: only the child escaped", s)
	}
	if !strings.Contains(r.Verdict.Instead, "own normal-token processes") {
		t.Errorf("instead %q", r.Verdict.Instead)
	}
}

func TestAnonymousImpersonationEscapeIsRefuted(t *testing.T) {
	h := except(faithful(deny), func(p Probe, id Identity) bool {
		return id.Token == TokenAnonymousImpersonation && p.Family == "dns"
	}, nil, allowed)
	r := run(t, deny, h, allChecksOK)
	if s := status(t, r, "anonymous-impersonation-uses-process-token"); s != Refuted {
		t.Fatalf("anonymous impersonation %s", s)
	}
	if r.Verdict.ExitCode != ExitNotHeld {
		t.Errorf("exit %d", r.Verdict.ExitCode)
	}
}

// Windows' own isolation refuses every attempt of the AppContainer children with
// nothing installed: their cells are not observable, the hypothesis stays confirmed
// by the other children, and it is not-shown when no child is observable at all.
func TestControlFailuresMakeNotObservable(t *testing.T) {
	acRefused := &Result{Outcome: OutcomeOther, Errno: 10065, Error: "WSAEHOSTUNREACH"}
	isAC := func(p Probe, id Identity) bool {
		return id.Who == WhoAccount && (id.Token == TokenAppContainer || id.Token == TokenAppContainerNoCaps)
	}
	r := run(t, deny, except(faithful(deny), isAC, acRefused, allowed), allChecksOK)
	if s := status(t, r, "children-blocked"); s != Confirmed {
		t.Fatalf("children-blocked %s with the restricted children observable", s)
	}
	if c := r.Cell("dns-tcp-local-v4", Identity{WhoAccount, TokenAppContainer}); c.Verdict != CellNotObservable {
		t.Errorf("AppContainer cell %s (policy allowed, but its control failed)", c.Verdict)
	}
	if s := r.Verdict.Summary; !strings.Contains(s, "its restricted and low-integrity children are blocked too (AppContainer children could not be observed here)") {
		t.Errorf("summary claims what was not seen: %q", s)
	}
	// The summary names only what was seen: NetBIOS never reachable here.
	noNetBIOS := func(p Probe, id Identity) bool { return p.Family == "netbios" }
	r = run(t, deny, except(faithful(deny), noNetBIOS, acRefused, nil), allChecksOK)
	if r.Verdict.ExitCode != ExitHeld || strings.Contains(r.Verdict.Summary, "SMB and NetBIOS") ||
		!strings.Contains(r.Verdict.Summary, "DNS, DoT and SMB (NetBIOS could not be observed here)") {
		t.Errorf("verdict %+v", r.Verdict)
	}
	allChildren := func(p Probe, id Identity) bool { return id.Who == WhoAccount && isChild(id.Token) }
	r = run(t, deny, except(faithful(deny), allChildren, acRefused, allowed), allChecksOK)
	if s := status(t, r, "children-blocked"); s != NotObservable {
		t.Fatalf("children-blocked %s with no child observable", s)
	}
	if r.Verdict.Status != "not-shown" || r.Verdict.ExitCode != ExitNotHeld || !strings.Contains(r.Verdict.Summary, "children-blocked") {
		t.Errorf("verdict %+v", r.Verdict)
	}
}

// A WSAEACCES whose net event names another vendor's filter is not the policy's block.
func TestBlockByAnotherFilterIsInconclusive(t *testing.T) {
	foreign := &Result{Outcome: OutcomeBlocked, Errno: WSAEACCES, Drop: &Drop{FilterID: 77, Filter: "Block DNS", Provider: "Contoso", Ours: false}}
	onlyDNS := func(p Probe, id Identity) bool { return id.Who == WhoAccount && p.Port != 0 }
	r := run(t, deny, except(faithful(deny), onlyDNS, nil, foreign), allChecksOK)
	c := r.Cell("dns-udp-loopback-v4", Identity{WhoAccount, TokenNormal})
	if c.Verdict != CellInconclusive || !strings.Contains(c.Note, "Contoso") {
		t.Fatalf("cell %+v", c)
	}
	if s := status(t, r, "loopback-at-connect"); s == Confirmed {
		t.Errorf("loopback-at-connect confirmed by another vendor's blocks")
	}
	ours := &Result{Outcome: OutcomeBlocked, Errno: WSAEACCES, Drop: &Drop{FilterID: 78, Ours: true, Rule: "dns-v4"}}
	r = run(t, deny, except(faithful(deny), onlyDNS, nil, ours), allChecksOK)
	if c := r.Cell("dns-udp-loopback-v4", Identity{WhoAccount, TokenNormal}); c.Verdict != CellHeld {
		t.Errorf("a drop by our filter: %s", c.Verdict)
	}
}

func TestSilentUDPDrop(t *testing.T) {
	silent := FromRecord(probeproto.Record{Type: probeproto.RecordAttempt, Kind: probeproto.KindUDPSend, OK: true}, new(bool))
	if silent.Outcome != OutcomeOther || !silent.Silent {
		t.Fatalf("silent drop: %+v", silent)
	}
	h := except(faithful(deny), func(p Probe, id Identity) bool {
		return id == Identity{WhoAccount, TokenNormal} && p.ID == "dns-udp-loopback-v6"
	}, nil, &silent)
	r := run(t, deny, h, allChecksOK)
	if s := status(t, r, "udp-sendto-wsaeacces"); s != Refuted {
		t.Errorf("udp-sendto-wsaeacces %s after a silent drop", s)
	}
	// Not a safety failure: the datagram did not arrive.
	if s := status(t, r, "account-blocked"); s != Confirmed {
		t.Errorf("account-blocked %s", s)
	}
}

func TestFromRecord(t *testing.T) {
	arrived, lost := true, false
	for _, tc := range []struct {
		rec     probeproto.Record
		arrived *bool
		want    Outcome
	}{
		{probeproto.Record{Kind: probeproto.KindTCPConnect, OK: true}, nil, OutcomeAllowed},
		{probeproto.Record{Kind: probeproto.KindTCPConnect, Errno: 10013, Error: "forbidden"}, nil, OutcomeBlocked},
		{probeproto.Record{Kind: probeproto.KindTCPConnect, Errno: 10061}, nil, OutcomeAllowed}, // refused by the port's owner: reached it
		{probeproto.Record{Kind: probeproto.KindTCPConnect, Errno: 10065}, nil, OutcomeOther},
		{probeproto.Record{Kind: probeproto.KindTCPConnect, Timeout: true}, nil, OutcomeOther},
		{probeproto.Record{Kind: probeproto.KindUDPSend, OK: true}, &arrived, OutcomeAllowed},
		{probeproto.Record{Kind: probeproto.KindUDPSend, OK: true}, &lost, OutcomeOther},
		{probeproto.Record{Kind: probeproto.KindUDPSend, OK: true}, nil, OutcomeAllowed},
		{probeproto.Record{Kind: probeproto.KindTCPAccept, Timeout: true}, nil, OutcomeBlocked}, // nothing arrived
		{probeproto.Record{Kind: probeproto.KindTCPConnect, Timeout: true, Error: "i/o timeout"}, nil, OutcomeOther},
	} {
		got := FromRecord(tc.rec, tc.arrived)
		if got.Outcome != tc.want {
			t.Errorf("%+v arrived %v: %s, want %s", tc.rec, tc.arrived, got.Outcome, tc.want)
		}
		if got.Outcome == OutcomeOther && got.Error == "" {
			t.Errorf("%+v: other without an error text", tc.rec)
		}
	}
}

func TestAllowShape(t *testing.T) {
	cfg := Config{Profile: policy.Baseline, UserMatch: policy.MatchAllow}
	// Design §4: the account's restricted and AppContainer children escape.
	escape := except(faithful(cfg), func(p Probe, id Identity) bool {
		return id.Who == WhoAccount && isChild(id.Token) && id.Token != TokenLowIntegrity
	}, nil, allowed)
	r := run(t, cfg, escape, allChecksOK)
	if s := status(t, r, "allow-shape-children-escape"); s != Confirmed {
		t.Errorf("allow-shape-children-escape %s", s)
	}
	if s := status(t, r, "children-blocked"); s != NotObservable {
		t.Errorf("children-blocked %s under allow", s)
	}
	if r.Verdict.ExitCode != ExitHeld || !strings.Contains(r.Verdict.Summary, "not contained") {
		t.Errorf("verdict %+v", r.Verdict)
	}
	// A datagram no listener saw arrive shows no escape.
	unobserved := FromRecord(probeproto.Record{Type: probeproto.RecordAttempt, Kind: probeproto.KindUDPSend, OK: true}, nil)
	unseen := except(faithful(cfg), func(p Probe, id Identity) bool {
		return id.Who == WhoAccount && isChild(id.Token) && id.Token != TokenLowIntegrity
	}, nil, &Result{Outcome: OutcomeOther, Error: "timeout"})
	unseen = except(unseen, func(p Probe, id Identity) bool {
		return id.Who == WhoAccount && isChild(id.Token) && id.Token != TokenLowIntegrity && p.Kind == KindUDPSend
	}, nil, &unobserved)
	if s := status(t, run(t, cfg, unseen, allChecksOK), "allow-shape-children-escape"); s != NotObservable {
		t.Errorf("allow-shape-children-escape %s on datagrams nobody saw arrive", s)
	}
	// The prediction fails: a child is blocked after all (a fact, not a safety failure).
	caught := except(faithful(cfg), func(p Probe, id Identity) bool {
		return id == Identity{WhoAccount, TokenDenyOnly} && p.Family == "smb"
	}, nil, blocked)
	r = run(t, cfg, caught, allChecksOK)
	if s := status(t, r, "allow-shape-children-escape"); s != Refuted {
		t.Errorf("allow-shape-children-escape %s with a child blocked", s)
	}
	if r.Verdict.ExitCode != ExitHeld {
		t.Errorf("a refuted fact fails the run: %+v", r.Verdict)
	}
}

func TestChecksDecide(t *testing.T) {
	bad := append([]Check{}, allChecksOK...)
	bad[1] = Check{ID: CheckVerify, Ran: true, OK: false, Detail: "1 filter missing"}
	r := run(t, deny, faithful(deny), bad)
	if s := status(t, r, "zero-drift"); s != Refuted || r.Verdict.ExitCode != ExitNotHeld {
		t.Errorf("zero-drift %s, verdict %+v", s, r.Verdict)
	}
	r = run(t, deny, faithful(deny), allChecksOK[:1]) // verify never ran
	if s := status(t, r, "zero-drift"); s != NotObservable || r.Verdict.Status != "not-shown" {
		t.Errorf("zero-drift %s, verdict %+v", s, r.Verdict)
	}
}

func TestNothingRunIsNeverHeld(t *testing.T) {
	r := NewReport(deny, "test", time.Unix(0, 0))
	r.Evaluate()
	if r.Verdict.ExitCode == ExitHeld {
		t.Fatalf("an empty run passes: %+v", r.Verdict)
	}
	r.Errors = append(r.Errors, "not elevated")
	r.Evaluate()
	if r.Verdict.ExitCode != ExitError {
		t.Errorf("error run: %+v", r.Verdict)
	}
}

// Under Wine nothing enforces: whatever the cells say, the run never passes and never
// claims a refutation.
func TestWineNeverHolds(t *testing.T) {
	nothingEnforced := func(Probe, Identity) (Result, Result) { return *allowed, *allowed }
	for _, h := range []host{faithful(deny), nothingEnforced} {
		r := NewReport(deny, "test", time.Unix(0, 0))
		r.Host.Wine = true
		for _, c := range allChecksOK {
			r.SetCheck(c)
		}
		for i := range r.Cells {
			p, _ := r.probe(r.Cells[i].Probe)
			r.Cells[i].Control, r.Cells[i].Policy = h(p, r.Cells[i].Identity)
		}
		r.Evaluate()
		if r.Verdict.ExitCode == ExitHeld || r.Verdict.Status != "not-shown" || !strings.Contains(r.Verdict.Summary, "not observed") {
			t.Errorf("wine verdict %+v", r.Verdict)
		}
		for _, hy := range r.Hypotheses {
			if hy.Status != NotObservable {
				t.Errorf("under Wine %s is %s", hy.ID, hy.Status)
			}
		}
	}
}

func TestExpect(t *testing.T) {
	strictProxy := Config{Profile: policy.Strict, UserMatch: policy.MatchDeny, ProxyPorts: []uint16{8080}}
	strictOpen := Config{Profile: policy.Strict, UserMatch: policy.MatchDeny}
	acct := Identity{WhoAccount, TokenNormal}
	find := func(cfg Config, id string) Probe {
		for _, p := range Probes(cfg) {
			if p.ID == id {
				return p
			}
		}
		t.Fatalf("no probe %s for %+v", id, cfg)
		return Probe{}
	}
	for _, tc := range []struct {
		cfg   Config
		probe string
		id    Identity
		want  Expectation
	}{
		{deny, "dns-udp-loopback-v4", acct, ExpectBlocked},
		{deny, "smb-tcp-local-v6", Identity{WhoAccount, TokenLowIntegrity}, ExpectBlocked},
		{deny, "smb-tcp-local-v6", Identity{WhoOther, TokenLowIntegrity}, ExpectAllowed},
		{deny, "other-tcp-local-v4", acct, ExpectAllowed},
		{deny, "icmp-echo-api-loopback-v4", acct, ExpectRecord},
		{deny, "icmp-echo-api-loopback-v4", Identity{WhoOther, TokenNormal}, ExpectAllowed},
		{Config{Profile: policy.Baseline, UserMatch: policy.MatchAllow}, "dns-tcp-loopback-v4", Identity{WhoAccount, TokenAppContainer}, ExpectRecord},
		{Config{Profile: policy.Baseline, UserMatch: policy.MatchAllow}, "dns-tcp-loopback-v4", Identity{WhoAccount, TokenAnonymousImpersonation}, ExpectBlocked},
		{strictOpen, "strict-tcp-local-v4", acct, ExpectBlocked},
		{strictOpen, "loopback-other-tcp-v4", acct, ExpectAllowed},
		{strictProxy, "loopback-other-tcp-v4", acct, ExpectBlocked},
		{strictProxy, "proxy-tcp-loopback-v6", acct, ExpectAllowed},
		{strictProxy, "accept-loopback-v4", acct, ExpectAllowed},
		{strictProxy, "accept-local-v4", acct, ExpectBlocked},
		{strictProxy, "mapped-tcp-v4", acct, ExpectRecord},
		{strictProxy, "dns-tcp-loopback-v4", acct, ExpectBlocked},
	} {
		if got, why := Expect(tc.cfg, find(tc.cfg, tc.probe), tc.id); got != tc.want || why == "" {
			t.Errorf("%s %s as %s: %s (%q), want %s", tc.cfg.Profile, tc.probe, tc.id, got, why, tc.want)
		}
	}
	if p := find(strictProxy, "proxy-tcp-loopback-v4"); p.Port != 8080 {
		t.Errorf("the proxy probe uses port %d, not the configured proxy port", p.Port)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := run(t, deny, faithful(deny), allChecksOK)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != Schema || len(back.Cells) != len(r.Cells) || back.Verdict != r.Verdict || len(back.Hypotheses) != len(r.Hypotheses) {
		t.Errorf("round trip lost data")
	}
	// Every probe is made by at least one identity, and every identity makes a probe.
	made := map[string]bool{}
	ids := map[Identity]bool{}
	for _, c := range r.Cells {
		made[c.Probe], ids[c.Identity] = true, true
	}
	for _, p := range r.Probes {
		if !made[p.ID] {
			t.Errorf("probe %s has no cell", p.ID)
		}
	}
	if len(ids) != len(Identities()) {
		t.Errorf("%d identities in the cells, want %d", len(ids), len(Identities()))
	}
}

// A datagram sendto accepted where no listener of the selftest could be bound (another
// program holds the port) was not seen to arrive: "not blocked" is not observed, so it
// confirms no claim that traffic goes through — only an arrival does.
func TestUnobservedUDPConfirmsNothing(t *testing.T) {
	unobserved := FromRecord(probeproto.Record{Type: probeproto.RecordAttempt, Kind: probeproto.KindUDPSend, OK: true}, nil)
	if unobserved.Outcome != OutcomeAllowed || !unobserved.Unobserved || unobserved.Detail == "" {
		t.Fatalf("no listener: %+v", unobserved)
	}
	c := Cell{Control: Result{Outcome: OutcomeAllowed}, Policy: unobserved, Expect: ExpectAllowed}
	c.judge(true)
	if c.Verdict != CellInconclusive || !strings.Contains(c.Note, "listener") {
		t.Errorf("expected allowed, sendto OK without a listener: %s %q, want inconclusive", c.Verdict, c.Note)
	}
	// The other account's only UDP evidence: every other cell of it is left unclear.
	onlyUDP := func(p Probe, id Identity) bool { return id.Who == WhoOther && p.Kind != KindUDPSend }
	h := except(except(faithful(deny), onlyUDP, nil, &Result{Outcome: OutcomeOther, Error: "timeout"}),
		func(p Probe, id Identity) bool { return id.Who == WhoOther && p.Kind == KindUDPSend }, nil, &unobserved)
	r := run(t, deny, h, allChecksOK)
	if s := status(t, r, "other-account-unaffected"); s == Confirmed {
		t.Errorf("other-account-unaffected confirmed on datagrams nobody saw arrive")
	}
	// An arrival still confirms it.
	arrived := true
	seen := FromRecord(probeproto.Record{Type: probeproto.RecordAttempt, Kind: probeproto.KindUDPSend, OK: true}, &arrived)
	if seen.Unobserved {
		t.Errorf("arrived datagram marked unobserved: %+v", seen)
	}
}
