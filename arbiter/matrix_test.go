package arbiter_test

import (
	"fmt"
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

func plan(t testing.TB, opts policy.Options) *policy.Plan {
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

// accountKinds are the tokens the sandbox account can make of its own token without
// privilege: a restricted copy (user SID deny-only, or restricting SIDs; "a restricted
// version of the caller's primary token", DOC:secauthz/restricted-tokens), an
// AppContainer child, a copy with a lower integrity level.
var accountKinds = []arbiter.TokenKind{arbiter.TokenNormal, arbiter.TokenDenyOnly, arbiter.TokenRestricted, arbiter.TokenAppContainer, arbiter.TokenLow}

// blockedWhenRuleApplies is the documented outcome of each shape for each token kind
// of the sandbox account (design §4, issue 9): true means the account's blocks apply.
//   - deny (the guard construction): the guard grants everyone but the account; its deny
//     ACE hits the user SID whether enabled or deny-only, and the normal pass of a
//     restricted or AppContainer check; the integrity level is not part of the check
//     (Token) — so every account token reaches the blocks;
//   - allow: D:(A;;CC;;;SID) grants only an enabled user SID in every pass: the
//     deny-only, restricted and AppContainer children escape (the documented escape).
func blockedWhenRuleApplies(shape policy.UserMatch, kind arbiter.TokenKind) bool {
	if shape == policy.MatchDeny {
		return true
	}
	return kind == arbiter.TokenNormal || kind == arbiter.TokenLow
}

// matrixFlow is a flow with the rule that blocks it for the sandbox account per
// profile ("" = none: the flow stays open, or a loopback permit opens it).
type matrixFlow struct {
	dir              arbiter.Direction
	proto            uint8
	remote           string
	baseline, strict string
	why              string
}

// matrixFlows follow from policy.BaselineRules and policy.StrictRules' docs: the
// baseline blocks ICMP, DNS 53, DoT 853, SMB 445 and NetBIOS 139; strict adds a
// catch-all block at connect and accept below loopback permits, and keeps the baseline
// blocks above them.
var matrixFlows = []matrixFlow{
	{arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", "dns-v4", "dns-v4", "remote port 53, any protocol"},
	{arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:53", "dns-v4", "dns-v4", "TCP 53 too: no protocol condition"},
	{arbiter.Outbound, arbiter.ProtoUDP, "[2001:4860:4860::8888]:53", "dns-v6", "dns-v6", "v6 twin"},
	{arbiter.Outbound, arbiter.ProtoTCP, "1.1.1.1:853", "dot-v4", "dot-v4", "DNS over TLS"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[2606:4700::1111]:853", "dot-v6", "dot-v6", "DNS over TLS, v6"},
	{arbiter.Outbound, arbiter.ProtoTCP, "10.0.0.5:445", "smb-v4", "smb-v4", "SMB"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[fd00::5]:139", "netbios-v6", "netbios-v6", "NetBIOS session, v6"},
	{arbiter.Outbound, arbiter.ProtoICMP, "8.8.8.8", "icmp-bind-v4", "icmp-bind-v4", "ICMP: blocked first at RESOURCE_ASSIGNMENT"},
	{arbiter.Outbound, arbiter.ProtoICMPv6, "2001:4860:4860::8888", "icmp-bind-v6", "icmp-bind-v6", "ICMPv6 at RESOURCE_ASSIGNMENT"},
	{arbiter.Outbound, arbiter.ProtoUDP, "[::ffff:8.8.8.8]:53", "dns-v6", "dns-v6", "a mapped address is a V6 flow"},
	{arbiter.Outbound, arbiter.ProtoTCP, "93.184.216.34:443", "", "strict-block-connect-v4", "HTTPS: open in the baseline, caught by strict"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[2606:2800:220:1::1]:443", "", "strict-block-connect-v6", "HTTPS, v6"},
	{arbiter.Outbound, arbiter.ProtoTCP, "127.0.0.1:8080", "", "", "loopback: strict permits it"},
	{arbiter.Outbound, arbiter.ProtoTCP, "[::1]:8080", "", "", "loopback v6"},
	{arbiter.Inbound, arbiter.ProtoTCP, "10.0.0.9:5000", "", "strict-block-accept-v4", "the baseline has no accept filters"},
	{arbiter.Inbound, arbiter.ProtoTCP, "127.0.0.1:5000", "", "", "strict permits accepts from loopback"},
}

func (f matrixFlow) rule(p policy.Profile) string {
	if p == policy.Strict {
		return f.strict
	}
	return f.baseline
}

// ownedBy reports whether f is one of set's filters.
func ownedBy(set arbiter.Set, f *wfp.Filter) bool {
	for _, g := range set.Filters {
		if g.Key == f.Key {
			return true
		}
	}
	return false
}

// TestMatrix: every token kind × account (the sandbox account, another) × shape (deny,
// allow) × profile (baseline, strict) × flow, against the account's layout:
//   - the account and every token it can make without privilege are blocked exactly
//     where a rule applies under deny; under allow only its normal and low tokens are
//     (the documented escape of the allow shape);
//   - another account's tokens of every kind are never blocked by the sandbox account's
//     filters (the low token under the documented assumption, with a caution);
//   - the anonymous token is never blocked (the guard grants AN), with a caution;
//   - a classify without a user token: ALE_USER_ID cannot be evaluated; under deny the
//     guard then does not match and the blocks apply (the named unknown, with its
//     caution); under allow the blocks' own user condition does not match.
func TestMatrix(t *testing.T) {
	for _, shape := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
		for _, profile := range []policy.Profile{policy.Baseline, policy.Strict} {
			set := layout(t, sandboxSID, profile, shape)
			ix := arbiter.NewIndex(set)
			for _, kind := range arbiter.AllTokenKinds {
				for _, acct := range []string{sandboxSID, otherSID} {
					for _, fl := range matrixFlows {
						name := fmt.Sprintf("%s/%s/%s/%s/%s/%s %s", shape, profile, kind, acct[len(acct)-4:], fl.dir, arbiter.ProtoName(fl.proto), fl.remote)
						tok := token(t, kind, acct)
						d, err := ix.Evaluate(flow(t, fl.dir, fl.proto, fl.remote, tok), arbiter.Options{})
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						var applies bool
						switch kind {
						case arbiter.TokenAnonymous:
							applies = false
						case arbiter.TokenNone:
							applies = shape == policy.MatchDeny
						default:
							applies = acct == sandboxSID && blockedWhenRuleApplies(shape, kind)
						}
						rule := fl.rule(profile)
						wantBlock := applies && rule != ""
						if (d.Action == arbiter.Block) != wantBlock {
							t.Errorf("%s: %s, want block=%v (%s)\n%s", name, d.Action, wantBlock, fl.why, d.Text())
							continue
						}
						if wantBlock && (d.Filter == nil || d.Filter.Key != policy.FilterKey(sandboxSID, rule)) {
							t.Errorf("%s: decided by %v, want rule %s\n%s", name, d.Filter, rule, d.Text())
						}
						if !wantBlock && d.Filter != nil && d.Filter.Action.Type == wfp.ActionBlock {
							t.Errorf("%s: permit named the block %q\n%s", name, d.Filter.Name, d.Text())
						}
						cautions := strings.Join(d.Cautions, "\n")
						// The baseline has no accept filters: no user condition is
						// evaluated there, so nothing rests on the token.
						if profile == policy.Baseline && fl.dir == arbiter.Inbound {
							if len(d.Cautions)+len(d.NotEvaluated) != 0 {
								t.Errorf("%s: cautions %q / NotEvaluated %v where no filter applies", name, d.Cautions, d.NotEvaluated)
							}
							continue
						}
						if kind == arbiter.TokenNone {
							// Under deny the guard has only the user condition, so it is
							// always reported; under allow only when the rest matched.
							if len(d.NotEvaluated) == 0 && (shape == policy.MatchDeny || wantBlock) || !strings.Contains(cautions, "carries no user token") {
								t.Errorf("%s: no-token flow without its caution / NotEvaluated %v\n%s", name, d.NotEvaluated, d.Text())
							}
							continue
						}
						if len(d.NotEvaluated) != 0 {
							t.Errorf("%s: NotEvaluated = %v: our own filters must be fully modelled", name, d.NotEvaluated)
						}
						if kind == arbiter.TokenLow && !strings.Contains(cautions, "mandatory integrity") {
							t.Errorf("%s: low token without the integrity caution\n%s", name, d.Text())
						}
						if kind == arbiter.TokenAnonymous && !strings.Contains(cautions, "anonymous logon token") {
							t.Errorf("%s: anonymous token without its caution\n%s", name, d.Text())
						}
						if strings.Contains(cautions, "order of equal-weight sublayers") {
							t.Errorf("%s: an order caution on a host with one sublayer\n%s", name, d.Text())
						}
					}
				}
			}
		}
	}
}

// TestLowTokenIntegrityAlternative: the caution of a low token says what happens if
// mandatory integrity did apply to MATCH: the guard's access check would fail, so
// another account's low-integrity process would be blocked by the sandbox account's
// filters — the decision rests on the undocumented point, and says so.
func TestLowTokenIntegrityAlternative(t *testing.T) {
	set := layout(t, sandboxSID, policy.Baseline, policy.MatchDeny)
	d, err := arbiter.Evaluate(set, flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", token(t, arbiter.TokenLow, otherSID)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Permit || len(d.Cautions) != 1 || !strings.Contains(d.Cautions[0], "the result would be block at FWPM_LAYER_ALE_AUTH_CONNECT_V4") {
		t.Fatalf("%s, cautions %q; want permit with the alternative block named\n%s", d.Action, d.Cautions, d.Text())
	}
	// The account's own low token is blocked either way.
	d, err = arbiter.Evaluate(set, flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", token(t, arbiter.TokenLow, sandboxSID)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Block || len(d.Cautions) != 1 || !strings.Contains(d.Cautions[0], "the result would be the same") {
		t.Fatalf("%s, cautions %q", d.Action, d.Cautions)
	}
}

// TestTwoAccounts: two accounts on one host never affect each other — two deny accounts
// (issue 9's per-account sublayers), and also any mix of shapes and profiles: for every
// token kind of each account, configuration pair and flow, the decision on the shared host
// is the one on a host with only that account's filters (block, and the same deciding
// rule) or a permit by no block; a block is always by the flow's own account's filter;
// and no order caution is raised although both sublayers have weight 0xFFFF.
func TestTwoAccounts(t *testing.T) {
	a, b := sandboxSID, otherSID
	type cfg struct {
		p policy.Profile
		m policy.UserMatch
	}
	var cfgs []cfg
	for _, p := range []policy.Profile{policy.Baseline, policy.Strict} {
		for _, m := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
			cfgs = append(cfgs, cfg{p, m})
		}
	}
	for _, ca := range cfgs {
		for _, cb := range cfgs {
			pa, pb := fmt.Sprintf("%s-%s", ca.p, ca.m), fmt.Sprintf("%s-%s", cb.p, cb.m)
			la, lb := layout(t, a, ca.p, ca.m), layout(t, b, cb.p, cb.m)
			host := arbiter.NewIndex(union(la, lb))
			alone := map[string]*arbiter.Index{a: arbiter.NewIndex(la), b: arbiter.NewIndex(lb)}
			own := map[string]arbiter.Set{a: la, b: lb}
			for _, acct := range []string{a, b} {
				for _, kind := range accountKinds {
					for _, fl := range matrixFlows {
						name := fmt.Sprintf("%s+%s/%s/%s/%s %s", pa, pb, acct[len(acct)-4:], kind, arbiter.ProtoName(fl.proto), fl.remote)
						f := flow(t, fl.dir, fl.proto, fl.remote, token(t, kind, acct))
						got, err := host.Evaluate(f, arbiter.Options{})
						if err != nil {
							t.Fatal(err)
						}
						want, err := alone[acct].Evaluate(f, arbiter.Options{})
						if err != nil {
							t.Fatal(err)
						}
						if got.Action != want.Action {
							t.Errorf("%s: %s on the shared host, %s alone\n%s", name, got.Action, want.Action, got.Text())
							continue
						}
						if got.Action == arbiter.Block && (got.Filter.Key != want.Filter.Key || !ownedBy(own[acct], got.Filter)) {
							t.Errorf("%s: blocked by %q, alone by %q", name, got.Filter.Name, want.Filter.Name)
						}
						if strings.Contains(strings.Join(got.Cautions, "\n"), "order of equal-weight sublayers") {
							t.Errorf("%s: order caution between our own sublayers\n%s", name, got.Text())
						}
					}
				}
			}
		}
	}
}

// TestDenyShapeFailClosed pins the documented cost of the deny shape: another
// account's restricted token whose restricting SIDs hold none of Everyone, ALL APP
// PACKAGES, ALL RESTRICTED APP PACKAGES, RESTRICTED, WRITE RESTRICTED is blocked too.
func TestDenyShapeFailClosed(t *testing.T) {
	set := layout(t, sandboxSID, policy.Baseline, policy.MatchDeny)
	tok := token(t, arbiter.TokenNormal, otherSID)
	tok.Restricting = []account.SID{mustSID(t, "S-1-5-5-0-4242")} // only a logon SID
	d, err := arbiter.Evaluate(set, flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", tok))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Block {
		t.Fatalf("decision %s, want block (restricting pass not granted → the guard does not match)\n%s", d.Action, d.Text())
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
	set := layout(t, sandboxSID, policy.Baseline, policy.MatchDeny)
	d, err := arbiter.Evaluate(set, flow(t, arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:443", token(t, arbiter.TokenNormal, sandboxSID)))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(d.Trace, "\n")
	for _, f := range set.Filters {
		if f.Layer == wfp.LayerALEAuthConnectV4 && !strings.Contains(text, f.Name) {
			t.Errorf("trace does not mention %q:\n%s", f.Name, text)
		}
	}
	for _, want := range []string{denySublayerKey(sandboxSID).String(), "IP_REMOTE_PORT: 443 = 53 → no match", "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4"} {
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
	set := layout(t, sandboxSID, policy.Baseline, policy.MatchDeny)
	for _, tc := range []struct {
		sid   string
		block bool
	}{{otherSID, false}, {sandboxSID, true}} {
		tok := token(t, arbiter.TokenAppContainer, tc.sid)
		tok.LPAC = true
		d, err := arbiter.Evaluate(set, flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", tok))
		if err != nil {
			t.Fatal(err)
		}
		if (d.Action == arbiter.Block) != tc.block {
			t.Errorf("LPAC of %s: %s, want block=%v\n%s", tc.sid, d.Action, tc.block, d.Text())
		}
	}
}
