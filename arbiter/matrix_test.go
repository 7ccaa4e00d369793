package arbiter_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

const (
	sandboxSID = "S-1-5-21-3623811015-3361044348-30300820-1013"
	otherSID   = "S-1-5-21-3623811015-3361044348-30300820-1001"
)

func mustSID(t *testing.T, s string) account.SID {
	t.Helper()
	sid, err := account.ParseSID(s)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func plan(t *testing.T, opts policy.Options) *policy.Plan {
	t.Helper()
	if opts.SID == "" {
		opts.SID = sandboxSID
	}
	p, err := policy.Build(opts)
	if err != nil {
		t.Fatalf("policy.Build(%+v): %v", opts, err)
	}
	return p
}

func flow(t *testing.T, dir arbiter.Direction, proto uint8, remote string, tok arbiter.Token) arbiter.Flow {
	t.Helper()
	ap, err := arbiter.ParseRemote(remote, proto)
	if err != nil {
		t.Fatal(err)
	}
	return arbiter.Flow{Direction: dir, Protocol: proto, Remote: ap, Token: tok}
}

func token(t *testing.T, kind arbiter.TokenKind, sid string) arbiter.Token {
	t.Helper()
	tok, err := arbiter.TokenFor(kind, mustSID(t, sid))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// userMatched is the documented outcome of the ALE_USER_ID condition (policy.MatchAllow,
// policy.MatchDeny; design §4) for each account × token kind: true means the
// condition matches, so the account's block filters apply to the flow.
var userMatched = []struct {
	account string
	kind    arbiter.TokenKind
	shape   policy.UserMatch
	match   bool
	why     string
}{
	{sandboxSID, arbiter.TokenNormal, policy.MatchAllow, true, "allow ACE grants the enabled user SID → EQUAL true"},
	{sandboxSID, arbiter.TokenDenyOnly, policy.MatchAllow, false, "ESCAPE: a deny-only user SID never matches an allow ACE"},
	{sandboxSID, arbiter.TokenRestricted, policy.MatchAllow, false, "ESCAPE: restricting SIDs (RESTRICTED, Everyone) are not granted by D:(A;;CC;;;SID)"},
	{sandboxSID, arbiter.TokenAppContainer, policy.MatchAllow, false, "ESCAPE: the package pass (package SID, ALL APP PACKAGES) is not granted"},
	{otherSID, arbiter.TokenNormal, policy.MatchAllow, false, "no ACE for another account"},
	{otherSID, arbiter.TokenDenyOnly, policy.MatchAllow, false, "no ACE for another account"},
	{otherSID, arbiter.TokenRestricted, policy.MatchAllow, false, "no ACE for another account"},
	{otherSID, arbiter.TokenAppContainer, policy.MatchAllow, false, "no ACE for another account"},
	{sandboxSID, arbiter.TokenNormal, policy.MatchDeny, true, "deny ACE hits the user SID → not granted → NOT_EQUAL true"},
	{sandboxSID, arbiter.TokenDenyOnly, policy.MatchDeny, true, "CLOSED: deny ACEs hit deny-only SIDs too"},
	{sandboxSID, arbiter.TokenRestricted, policy.MatchDeny, true, "CLOSED: the normal pass is denied by the deny ACE"},
	{sandboxSID, arbiter.TokenAppContainer, policy.MatchDeny, true, "CLOSED: the normal pass is denied by the deny ACE"},
	{otherSID, arbiter.TokenNormal, policy.MatchDeny, false, "Everyone ACE grants → NOT_EQUAL false"},
	{otherSID, arbiter.TokenDenyOnly, policy.MatchDeny, false, "Everyone (enabled group) grants"},
	{otherSID, arbiter.TokenRestricted, policy.MatchDeny, false, "Everyone grants both passes (Everyone and RESTRICTED are restricting SIDs)"},
	{otherSID, arbiter.TokenAppContainer, policy.MatchDeny, false, "Everyone grants the normal pass, ALL APP PACKAGES the package pass"},
}

// baselineFlows lists flows with the baseline rule that blocks them when the user
// condition matches ("" = no baseline rule applies), from policy.BaselineRules' doc.
var baselineFlows = []struct {
	dir    arbiter.Direction
	proto  uint8
	remote string
	rule   string
	why    string
}{
	{arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", "dns-v4", "remote port 53, any protocol"},
	{arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:53", "dns-v4", "TCP 53 too: no protocol condition"},
	{arbiter.Outbound, arbiter.ProtoUDP, "[2001:4860:4860::8888]:53", "dns-v6", "v6 twin"},
	{arbiter.Outbound, arbiter.ProtoTCP, "1.1.1.1:853", "dot-v4", "DNS over TLS"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[2606:4700::1111]:853", "dot-v6", "DNS over TLS, v6"},
	{arbiter.Outbound, arbiter.ProtoTCP, "10.0.0.5:445", "smb-v4", "SMB"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[fd00::5]:445", "smb-v6", "SMB, v6"},
	{arbiter.Outbound, arbiter.ProtoTCP, "10.0.0.5:139", "netbios-v4", "NetBIOS session"},
	{arbiter.Outbound, arbiter.ProtoICMP, "8.8.8.8", "icmp-bind-v4", "ICMP: blocked first at RESOURCE_ASSIGNMENT (evaluated before AUTH_CONNECT)"},
	{arbiter.Outbound, arbiter.ProtoICMPv6, "2001:4860:4860::8888", "icmp-bind-v6", "ICMPv6 at RESOURCE_ASSIGNMENT"},
	{arbiter.Outbound, arbiter.ProtoUDP, "[::ffff:8.8.8.8]:53", "dns-v6", "a mapped address is a V6 flow; the port rule has no address condition"},
	{arbiter.Outbound, arbiter.ProtoTCP, "93.184.216.34:443", "", "HTTPS: the baseline leaves it open"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[2606:2800:220:1::1]:443", "", "HTTPS, v6"},
	{arbiter.Outbound, arbiter.ProtoUDP, "10.0.0.1:123", "", "NTP: not a baseline port"},
	{arbiter.Inbound, arbiter.ProtoTCP, "10.0.0.9:53", "", "the baseline has no accept filters, even for port 53"},
}

// TestBaselineMatrix evaluates every baseline flow for every account × token kind ×
// user-match shape: blocked exactly when a baseline rule applies to the flow and the
// user condition matches (userMatched).
func TestBaselineMatrix(t *testing.T) {
	plans := map[policy.UserMatch]*policy.Plan{
		policy.MatchAllow: plan(t, policy.Options{UserMatch: policy.MatchAllow}),
		policy.MatchDeny:  plan(t, policy.Options{UserMatch: policy.MatchDeny}),
	}
	for _, u := range userMatched {
		for _, fl := range baselineFlows {
			name := strings.Join([]string{string(u.shape), u.account[len(u.account)-4:], string(u.kind), fl.dir.String(), arbiter.ProtoName(fl.proto), fl.remote}, "/")
			t.Run(name, func(t *testing.T) {
				p := plans[u.shape]
				d, err := arbiter.Evaluate(arbiter.FromPlan(p), flow(t, fl.dir, fl.proto, fl.remote, token(t, u.kind, u.account)))
				if err != nil {
					t.Fatal(err)
				}
				wantBlock := fl.rule != "" && u.match
				if (d.Action == arbiter.Block) != wantBlock {
					t.Fatalf("decision %s, want block=%v (user: %s; flow: %s)\n%s", d.Action, wantBlock, u.why, fl.why, d.Text())
				}
				if wantBlock {
					if d.Filter == nil || d.Filter.Key != policy.FilterKey(p.SID, fl.rule) {
						t.Fatalf("deciding filter %v, want rule %s\n%s", d.Filter, fl.rule, d.Text())
					}
				} else if d.Filter != nil && !isGuardOf(d.Filter, p.SID) {
					// Under deny the account's sublayer holds guard permits (soft): a
					// flow they match is permitted by one; nothing else permits.
					t.Fatalf("a permit with deciding filter %q: the baseline has no permits but the deny layout's guards\n%s", d.Filter.Name, d.Text())
				}
				if len(d.NotEvaluated) != 0 {
					t.Errorf("NotEvaluated = %v: our own filters must be fully modelled", d.NotEvaluated)
				}
			})
		}
	}
}

// TestDenyShapeFailClosed pins the documented cost of the deny shape: another
// account's restricted token whose restricting SIDs hold none of Everyone, ALL APP
// PACKAGES, ALL RESTRICTED APP PACKAGES, RESTRICTED, WRITE RESTRICTED is blocked too.
func TestDenyShapeFailClosed(t *testing.T) {
	p := plan(t, policy.Options{UserMatch: policy.MatchDeny})
	tok := token(t, arbiter.TokenNormal, otherSID)
	tok.Restricting = []account.SID{mustSID(t, "S-1-5-5-0-4242")} // only a logon SID
	d, err := arbiter.Evaluate(arbiter.FromPlan(p), flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", tok))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Block {
		t.Fatalf("decision %s, want block (restricting pass not granted → the guard does not match → the blocks apply)\n%s", d.Action, d.Text())
	}
	// The same token under the allow shape: no ACE for the account → never blocked.
	d, err = arbiter.Evaluate(arbiter.FromPlan(plan(t, policy.Options{UserMatch: policy.MatchAllow})), flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", tok))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Permit {
		t.Fatalf("allow shape: decision %s, want permit\n%s", d.Action, d.Text())
	}
}

// TestTraceNamesEveryFilter checks that the trace is an account of the evaluation: it
// names the sublayer and every filter of the layer with the reason.
func TestTraceNamesEveryFilter(t *testing.T) {
	p := plan(t, policy.Options{})
	d, err := arbiter.Evaluate(arbiter.FromPlan(p), flow(t, arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:443", token(t, arbiter.TokenNormal, sandboxSID)))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(d.Trace, "\n")
	for _, f := range p.Filters {
		if f.Layer == wfp.LayerALEAuthConnectV4 && !strings.Contains(text, f.Name) {
			t.Errorf("trace does not mention %q:\n%s", f.Name, text)
		}
	}
	for _, want := range []string{p.Sublayer.Key.String(), "IP_REMOTE_PORT: 443 = 53 → no match", "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4"} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
}

// TestMappedAddressClassification documents the choice made in Flow: ::ffff:a.b.c.d
// is evaluated at the V6 layers with the 16-byte address.
func TestMappedAddressClassification(t *testing.T) {
	f := flow(t, arbiter.Outbound, arbiter.ProtoTCP, "[::ffff:8.8.8.8]:443", token(t, arbiter.TokenNormal, sandboxSID))
	if !f.IsV6() {
		t.Fatal("a mapped address must be a V6 flow")
	}
	if got := f.Layers(); got[len(got)-1] != wfp.LayerALEAuthConnectV6 {
		t.Fatalf("layers %v", got)
	}
	if f.Remote.Addr() != netip.MustParseAddr("::ffff:8.8.8.8") {
		t.Fatalf("address was unmapped: %s", f.Remote.Addr())
	}
}

// TestDenyShapeLPAC: another account's less-privileged AppContainer is not in ALL APP
// PACKAGES but is in ALL RESTRICTED APP PACKAGES (S-1-15-2-2), which the deny shape
// allows, so it is not blocked; the account's own LPAC child is denied by the deny ACE.
func TestDenyShapeLPAC(t *testing.T) {
	p := plan(t, policy.Options{UserMatch: policy.MatchDeny})
	for _, tc := range []struct {
		sid   string
		block bool
	}{{otherSID, false}, {sandboxSID, true}} {
		tok := token(t, arbiter.TokenAppContainer, tc.sid)
		tok.LPAC = true
		d, err := arbiter.Evaluate(arbiter.FromPlan(p), flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", tok))
		if err != nil {
			t.Fatal(err)
		}
		if (d.Action == arbiter.Block) != tc.block {
			t.Errorf("LPAC of %s: %s, want block=%v\n%s", tc.sid, d.Action, tc.block, d.Text())
		}
	}
}

// isGuardOf reports whether f is one of sid's guard permits (the deny layout).
func isGuardOf(f *wfp.Filter, sid string) bool {
	o, err := policy.ParseOwner(f.ProviderData)
	return err == nil && o.SID == sid && strings.HasPrefix(o.Rule, "guard-") && f.Action.Type == wfp.ActionPermit
}
