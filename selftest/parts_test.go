package selftest

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

const testSID = "S-1-5-21-1000-1000-1000-1001"

func TestDynamicPlan(t *testing.T) {
	for _, m := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
		plan, err := policy.Build(policy.Options{SID: testSID, Profile: policy.Strict, UserMatch: m})
		if err != nil {
			t.Fatal(err)
		}
		dyn, err := DynamicPlan(plan)
		if err != nil {
			t.Fatal(err)
		}
		real := map[wfp.GUID]bool{policy.ProviderKey: true, policy.SublayerKey: true, plan.Sublayer.Key: true}
		for _, f := range plan.Filters {
			real[f.Key] = true
		}
		if real[dyn.Provider.Key] || real[dyn.Sublayer.Key] || dyn.Provider.Flags&wfp.ProviderFlagPersistent != 0 || dyn.Sublayer.Flags&wfp.SublayerFlagPersistent != 0 {
			t.Errorf("%s: provider %+v sublayer %+v reuse a real key or stay persistent", m, dyn.Provider, dyn.Sublayer)
		}
		if *dyn.Sublayer.ProviderKey != ProviderKey || len(dyn.Filters) != len(plan.Filters) {
			t.Fatalf("%s: sublayer provider %s, %d filters", m, dyn.Sublayer.ProviderKey, len(dyn.Filters))
		}
		keys := map[wfp.GUID]bool{}
		for i, f := range dyn.Filters {
			o := plan.Filters[i]
			if real[f.Key] || keys[f.Key] || f.Flags&wfp.FilterFlagPersistent != 0 || *f.ProviderKey != ProviderKey || f.Sublayer != dyn.Sublayer.Key {
				t.Errorf("%s: filter %s: key %s flags %s provider %s sublayer %s", m, f.Name, f.Key, f.Flags, f.ProviderKey, f.Sublayer)
			}
			keys[f.Key] = true
			// The policy itself is unchanged: same layer, action, weight, conditions,
			// hard/soft, ownership tag.
			if f.Layer != o.Layer || f.Action != o.Action || !f.Weight.Equal(o.Weight) || len(f.Conditions) != len(o.Conditions) ||
				f.Flags != o.Flags&^wfp.FilterFlagPersistent || string(f.ProviderData) != string(o.ProviderData) {
				t.Errorf("%s: filter %s changed beyond keys and persistence", m, f.Name)
			}
		}
		if plan.Filters[0].Flags&wfp.FilterFlagPersistent == 0 || *plan.Filters[0].ProviderKey != policy.ProviderKey {
			t.Errorf("DynamicPlan modified the plan it was given")
		}
	}
}

func TestAttempts(t *testing.T) {
	cfg := Config{Profile: policy.Strict, UserMatch: policy.MatchDeny}
	addrs := Addresses{LocalV4: netip.MustParseAddr("192.168.7.9")} // no IPv6 address
	as, skipped := Attempts(Probes(cfg), Identity{WhoAccount, TokenNormal}, addrs, "k")
	byName := map[string]probeproto.Attempt{}
	for _, a := range as {
		byName[a.Name] = a
	}
	if a := byName["dns-udp-loopback-v6"]; a.Network != "udp6" || a.Target != "[::1]:53" {
		t.Errorf("dns-udp-loopback-v6: %+v", a)
	}
	if a := byName["smb-tcp-local-v4"]; a.Network != "tcp4" || a.Target != "192.168.7.9:445" {
		t.Errorf("smb-tcp-local-v4: %+v", a)
	}
	if a := byName["mapped-tcp-v4"]; a.Network != "tcp6" || a.Target != "[::ffff:127.0.0.1]:47301" {
		t.Errorf("mapped-tcp-v4: %+v", a)
	}
	if a := byName["icmp-raw-loopback-v6"]; a.Network != "ip6:58" || a.Target != "::1" {
		t.Errorf("icmp-raw-loopback-v6: %+v", a)
	}
	if a := byName["wfp-read-filter"]; a.Key != "k" {
		t.Errorf("wfp-read: %+v", a)
	}
	if _, ok := byName["smb-kernel-loopback-v4"]; ok {
		t.Errorf("the account makes the admin-only SMB probe")
	}
	if a := byName["accept-local-v4"]; a.Kind != probeproto.KindTCPAccept || a.Target != "192.168.7.9:47303" {
		t.Errorf("accept-local-v4: %+v", a)
	}
	// No IPv6 address: the 8 baseline attempts and the strict one to local-v6 are skipped.
	if !strings.Contains(skipped["dns-tcp-local-v6"], "no local-v6") || len(skipped) != 9 {
		t.Errorf("skipped %v", skipped)
	}
	for _, a := range as {
		if _, ok := skipped[a.Name]; ok {
			t.Errorf("%s both attempted and skipped", a.Name)
		}
	}
}

func TestShapeProblem(t *testing.T) {
	ok := &probeproto.Identity{User: testSID, As: probeproto.AsPlain}
	if p := ShapeProblem(ok, TokenNormal, testSID, true); p != "" {
		t.Errorf("plain: %s", p)
	}
	for _, tc := range []struct {
		id   probeproto.Identity
		tok  TokenKind
		want string
	}{
		{probeproto.Identity{User: "S-1-5-18", As: probeproto.AsPlain}, TokenNormal, "want " + testSID},
		{probeproto.Identity{User: testSID, As: probeproto.AsPlain, Elevated: true}, TokenNormal, "elevated"},
		{probeproto.Identity{User: testSID, As: probeproto.AsRestrictedDenyOnly}, TokenDenyOnly, "not deny-only"},
		{probeproto.Identity{User: testSID, As: probeproto.AsRestrictedSIDs, Restricted: true, RestrictingSIDs: []string{testSID}}, TokenRestrictingSIDs, "include the user"},
		{probeproto.Identity{User: testSID, As: probeproto.AsAppContainerNoCaps}, TokenAppContainerNoCaps, "not an AppContainer"},
		{probeproto.Identity{User: testSID, As: probeproto.AsLowIntegrity, Integrity: "S-1-16-8192"}, TokenLowIntegrity, "want low"},
		{probeproto.Identity{User: testSID, As: probeproto.AsAnonymousImpersonation, ThreadUser: testSID}, TokenAnonymousImpersonation, "not ANONYMOUS"},
		{probeproto.Identity{User: testSID, As: probeproto.AsAppContainer, AppContainer: true}, TokenLowIntegrity, "reports shape"},
	} {
		if p := ShapeProblem(&tc.id, tc.tok, testSID, true); !strings.Contains(p, tc.want) {
			t.Errorf("%+v as %s: %q, want %q", tc.id, tc.tok, p, tc.want)
		}
	}
	good := probeproto.Identity{User: testSID, As: probeproto.AsAnonymousImpersonation, ThreadUser: "S-1-5-7"}
	if p := ShapeProblem(&good, TokenAnonymousImpersonation, testSID, true); p != "" {
		t.Errorf("anonymous: %s", p)
	}
}

func TestRecordFillsCells(t *testing.T) {
	r := NewReport(deny, "test", time.Unix(0, 0))
	id := Identity{WhoAccount, TokenNormal}
	recs := []probeproto.Record{
		{Type: probeproto.RecordIdentity},
		{Type: probeproto.RecordAttempt, Attempt: "dns-udp-loopback-v4", Kind: probeproto.KindUDPSend, OK: true},
		{Type: probeproto.RecordAttempt, Attempt: "dns-tcp-loopback-v4", Kind: probeproto.KindTCPConnect, Errno: 10013},
	}
	lost := false
	r.Record(PhasePolicy, id, recs, func(a string) *bool {
		if a == "dns-udp-loopback-v4" {
			return &lost
		}
		return nil
	}, "")
	if c := r.Cell("dns-udp-loopback-v4", id); c.Policy.Outcome != OutcomeOther || !c.Policy.Silent || c.Control.Outcome != OutcomeNotRun {
		t.Errorf("udp cell %+v", c)
	}
	if c := r.Cell("dns-tcp-loopback-v4", id); c.Policy.Outcome != OutcomeBlocked {
		t.Errorf("tcp cell %+v", c)
	}
	if c := r.Cell("smb-tcp-loopback-v4", id); c.Policy.Outcome != OutcomeNotRun {
		t.Errorf("a cell without a record: %+v", c)
	}
	if c := r.Cell("dns-tcp-loopback-v4", Identity{WhoOther, TokenNormal}); c.Policy.Outcome != OutcomeNotRun {
		t.Errorf("another identity's cell was filled: %+v", c)
	}
	r.Record(PhaseControl, id, nil, nil, "CreateProcessWithLogonW: access denied")
	if c := r.Cell("dns-tcp-loopback-v4", id); c.Control.Outcome != OutcomeNotRun || !strings.Contains(c.Control.Error, "access denied") {
		t.Errorf("failed run: %+v", c.Control)
	}
}

func TestListeners(t *testing.T) {
	// Free loopback ports for a TCP and a UDP listener.
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no IPv4 loopback here: %v", err)
	}
	tcpTarget := tl.Addr().String()
	tl.Close()
	ul, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udpTarget := ul.LocalAddr().String()
	ul.Close()
	own := func(a netip.Addr) bool { return a.IsLoopback() }
	attempts := []probeproto.Attempt{
		{Name: "t", Kind: probeproto.KindTCPConnect, Network: "tcp4", Target: tcpTarget},
		{Name: "u", Kind: probeproto.KindUDPSend, Network: "udp4", Target: udpTarget},
	}
	l, err := Listen(attempts, own)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp4", tcpTarget)
	if err != nil {
		t.Fatalf("connect to the listener: %v", err)
	}
	c.Close()
	if got := l.Arrived("run1", attempts[1], 100*time.Millisecond); got == nil || *got {
		t.Fatalf("arrived before anything was sent: %v", got)
	}
	u, err := net.Dial("udp4", udpTarget)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(probeproto.UDPPayload("run1", "u")); err != nil {
		t.Fatal(err)
	}
	u.Close()
	if got := l.Arrived("run1", attempts[1], 2*time.Second); got == nil || !*got {
		t.Errorf("datagram not seen: %v", got)
	}
	if got := l.Arrived("run2", attempts[1], 50*time.Millisecond); got == nil || *got {
		t.Errorf("another run's marker counted: %v", got)
	}
	if got := l.Arrived("run1", attempts[0], 0); got != nil {
		t.Errorf("TCP attempts have no arrival: %v", *got)
	}
	// Every kind of target is checked: ICMP's bare address, UNC hosts, WFP reads (none).
	if err := OnlyOwnTargets([]probeproto.Attempt{{Name: "i", Kind: probeproto.KindRawICMP, Target: "::1"}, {Name: "w", Kind: probeproto.KindWFPRead}}, own); err != nil {
		t.Errorf("own targets: %v", err)
	}
	if err := OnlyOwnTargets([]probeproto.Attempt{{Name: "s", Kind: probeproto.KindSMBKernel, Target: "198.51.100.7"}}, own); err == nil {
		t.Errorf("a foreign SMB host passes")
	}
	// A target that is not this host's is refused before anything is opened.
	if _, err := Listen([]probeproto.Attempt{{Name: "x", Kind: probeproto.KindTCPConnect, Network: "tcp4", Target: "192.0.2.1:53"}}, own); err == nil ||
		!strings.Contains(err.Error(), "not an address of this host") {
		t.Errorf("foreign target: %v", err)
	}
}

func TestDropFromEvent(t *testing.T) {
	id := uint64(42)
	if d := DropFromEvent(events.Event{}, nil); d != nil {
		t.Errorf("an event without a filter ID: %+v", d)
	}
	e := events.Event{FilterID: &id, Filter: &events.FilterRef{Name: "block DNS", ProviderKey: ProviderKey.String(), Provider: "wfpsandbox selftest", Rule: "dns-v4"}}
	ours := func(k string) bool { return k == ProviderKey.String() }
	if d := DropFromEvent(e, ours); d == nil || !d.Ours || d.Rule != "dns-v4" || d.FilterID != 42 {
		t.Errorf("our drop: %+v", d)
	}
	e.Filter.ProviderKey = "{00000000-0000-0000-0000-000000000001}"
	if d := DropFromEvent(e, ours); d == nil || d.Ours {
		t.Errorf("another provider's drop counted as ours: %+v", d)
	}
}

func TestAttribute(t *testing.T) {
	r := NewReport(deny, "test", time.Unix(0, 0))
	r.Host.Addresses = Addresses{LocalV4: netip.MustParseAddr("10.0.0.5")}
	acct := Identity{WhoAccount, TokenNormal}
	child := Identity{WhoAccount, TokenDenyOnly}
	for _, id := range []Identity{acct, child} {
		for _, p := range []string{"dns-udp-loopback-v4", "smb-tcp-local-v4", "dot-tcp-loopback-v6"} {
			c := r.Cell(p, id)
			c.Control = Result{Outcome: OutcomeAllowed}
			c.Policy = Result{Outcome: OutcomeBlocked, Errno: WSAEACCES}
		}
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	wins := []RunWindow{{acct, t0, t0.Add(10 * time.Second)}, {child, t0.Add(20 * time.Second), t0.Add(30 * time.Second)}}
	port := func(p uint16) *uint16 { return &p }
	fid := func(id uint64) *uint64 { return &id }
	ourRef := &events.FilterRef{Name: "block SMB", ProviderKey: ProviderKey.String(), Rule: "smb-v4"}
	evs := []events.Event{
		// The account's SMB drop by our filter, inside its window.
		{Type: "CLASSIFY_DROP", Time: t0.Add(3 * time.Second), Protocol: "tcp", RemoteIP: "10.0.0.5", RemotePort: port(445), FilterID: fid(7), Filter: ourRef},
		// The child's DNS drop by another vendor's filter.
		{Type: "CLASSIFY_DROP", Time: t0.Add(25 * time.Second), Protocol: "udp", RemoteIP: "127.0.0.1", RemotePort: port(53), FilterID: fid(9),
			Filter: &events.FilterRef{Name: "Contoso DNS", Provider: "Contoso", ProviderKey: "{11111111-0000-0000-0000-000000000000}"}},
		// Right target, wrong port; and right target but outside every window.
		{Type: "CLASSIFY_DROP", Time: t0.Add(4 * time.Second), Protocol: "tcp", RemoteIP: "::1", RemotePort: port(80), FilterID: fid(8), Filter: ourRef},
		{Type: "CLASSIFY_DROP", Time: t0.Add(15 * time.Second), Protocol: "tcp", RemoteIP: "::1", RemotePort: port(853), FilterID: fid(8), Filter: ourRef},
	}
	ours := func(k string) bool { return k == ProviderKey.String() }
	if n := r.Attribute(wins, evs, ours); n != 2 {
		t.Errorf("%d cells attributed, want 2", n)
	}
	if d := r.Cell("smb-tcp-local-v4", acct).Policy.Drop; d == nil || !d.Ours || d.FilterID != 7 {
		t.Errorf("account SMB drop %+v", d)
	}
	if d := r.Cell("smb-tcp-local-v4", child).Policy.Drop; d != nil {
		t.Errorf("the account's event was given to the child's run: %+v", d)
	}
	if d := r.Cell("dns-udp-loopback-v4", child).Policy.Drop; d == nil || d.Ours {
		t.Errorf("child DNS drop %+v", d)
	}
	if d := r.Cell("dot-tcp-loopback-v6", acct).Policy.Drop; d != nil {
		t.Errorf("an event outside the window or for another port matched: %+v", d)
	}
	r.Evaluate()
	if v := r.Cell("dns-udp-loopback-v4", child).Verdict; v != CellInconclusive {
		t.Errorf("a block by another vendor's filter: %s", v)
	}
	if v := r.Cell("smb-tcp-local-v4", acct).Verdict; v != CellHeld {
		t.Errorf("a block by our filter: %s", v)
	}
}
