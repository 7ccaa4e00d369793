package reconcile

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// vendor is another WFP user with its own provider and sublayer.
type vendor struct {
	name   string
	pk, sk wfp.GUID
	weight uint16
}

func newVendor(name string, weight uint16) vendor {
	ns := wfp.MustParseGUID("5e5e5e5e-0000-4000-8000-000000000000")
	return vendor{name: name, pk: wfp.NameGUID(ns, name+"/provider"), sk: wfp.NameGUID(ns, name+"/sublayer"), weight: weight}
}

func (v vendor) add(e wfp.Engine) error {
	pk := v.pk
	if err := e.AddProvider(&wfp.Provider{Key: pk, Name: v.name, Flags: wfp.ProviderFlagPersistent}); err != nil {
		return err
	}
	return e.AddSublayer(&wfp.Sublayer{Key: v.sk, Name: v.name + " sublayer", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: v.weight})
}

// filter is a persistent filter of the vendor in its own sublayer; hard sets
// CLEAR_ACTION_RIGHT.
func (v vendor) filter(name string, layer wfp.LayerID, action wfp.ActionType, hard bool, conds ...wfp.Condition) *wfp.Filter {
	pk := v.pk
	flags := wfp.FilterFlagPersistent
	if hard {
		flags |= wfp.FilterFlagClearActionRight
	}
	return &wfp.Filter{Key: wfp.NameGUID(v.pk, name), Name: name, Flags: flags, ProviderKey: &pk, Layer: layer,
		Sublayer: v.sk, Conditions: conds, Action: wfp.Action{Type: action}}
}

func port(p uint16) wfp.Condition {
	return wfp.Condition{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)}
}

func proto(p uint8) wfp.Condition {
	return wfp.Condition{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(p)}
}

func remote(prefix string) wfp.Condition {
	return wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix(prefix))}
}

func onlyUser(t testing.TB, sid string) wfp.Condition {
	t.Helper()
	c, err := policy.UserCondition(sid, policy.MatchAllow)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var appID = wfp.Condition{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteBlob, Bytes: []byte("\\device\\harddiskvolume1\\vpn.exe\x00")}}

var (
	v4connect = wfp.LayerALEAuthConnectV4
	v6connect = wfp.LayerALEAuthConnectV6
	v4bind    = wfp.LayerALEResourceAssignmentV4
)

// wantOverride is what a test expects of one override.
type wantOverride struct {
	problem     Problem
	reason      string
	rule        string // the account's rule it overrides
	flow        string // substring of Flow.Text
	letsThrough bool
}

// checkOverrides compares the override findings of rep (by filter name) with want.
func checkOverrides(t *testing.T, rep *Report, want map[string]wantOverride) {
	t.Helper()
	got := map[string]*Finding{}
	for i, f := range rep.Findings {
		if f.Override != nil {
			got[f.Name] = &rep.Findings[i]
		} else if f.Problem == ProblemOverride {
			t.Errorf("override finding %q without Override", f.Name)
		}
	}
	for name, w := range want {
		f := got[name]
		if f == nil {
			t.Errorf("no override finding for %q; findings: %+v", name, rep.Findings)
			continue
		}
		o := f.Override
		if f.Problem != w.problem || o.Reason != w.reason || o.Block.Rule != w.rule || o.LetsThrough != w.letsThrough || !strings.Contains(o.Flow.Text, w.flow) {
			t.Errorf("%q: problem %s reason %s rule %s letsThrough %v flow %q; want %+v", name, f.Problem, o.Reason, o.Block.Rule, o.LetsThrough, o.Flow.Text, w)
		}
		if o.Filter.Name != name || o.Filter.Key != f.Key || o.Layer == "" || o.Provider == nil || o.Provider.Name == "" || o.Provider.Name == "(provider not found)" {
			t.Errorf("%q: override does not name the filter, its provider and the layer: %+v", name, o)
		}
		for _, s := range []string{o.Provider.Name, o.Provider.Key.String(), o.Layer, o.Flow.Text, o.Block.Name} {
			if !strings.Contains(f.Detail, s) {
				t.Errorf("%q: detail %q does not say %q", name, f.Detail, s)
			}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected override finding for %q: %s", name, got[name].Detail)
		}
	}
}

// TestVerifyOverrides: which foreign filters verify reports as able to override the
// account's blocks, on both layouts: deny (the account's own sublayer, guard permits,
// unconditioned filters) and allow (the shared sublayer, D:(A;;CC;;;SID) on every
// filter). Both sublayers have weight 0xFFFF, so the cases expect the same findings.
func TestVerifyOverrides(t *testing.T) {
	for _, m := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
		t.Run(string(m), func(t *testing.T) { testVerifyOverrides(t, m) })
	}
}

func testVerifyOverrides(t *testing.T, m policy.UserMatch) {
	pa := buildPlan(t, sidA, m)
	tied, lower, wf := newVendor("vpn", 0xFFFF), newVendor("edr", 0x100), newVendor("windows firewall like", 0x8)
	extra, err := policy.Build(policy.Options{SID: sidA, UserMatch: m, Extra: []policy.Rule{{
		ID: "block-intranet", Name: "block the intranet", Layer: v4connect, Action: wfp.ActionBlock,
		Conditions: []wfp.Condition{remote("203.0.113.0/24")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := policy.Build(policy.Options{SID: sidA, Profile: policy.Strict, UserMatch: m})
	if err != nil {
		t.Fatal(err)
	}
	if pa.Sublayer.Key != extra.Sublayer.Key || pa.Sublayer.Key != strict.Sublayer.Key ||
		(pa.Sublayer.Key == policy.SublayerKey) != (m == policy.MatchAllow) {
		t.Fatalf("%s plans' sublayers %s, %s, %s: the cases assume one, the shared one only for allow",
			m, pa.Sublayer.Key, extra.Sublayer.Key, strict.Sublayer.Key)
	}
	ourSublayer := pa.Sublayer.Key
	cases := []struct {
		name     string
		plan     *policy.Plan
		vendors  []vendor
		filters  func(t *testing.T, e wfp.Engine) []*wfp.Filter
		want     map[string]wantOverride
		possible []string // names of the possible overrides
		// alreadyOpen are remote ends that no block of ours stops at connect-v4 for any
		// protocol the flow's other layers let through and any token kind: checked
		// over the installed filters without the case's, so that a foreign permit for
		// them only is rightly not reported.
		alreadyOpen []string
	}{
		{
			name: "hard permit at equal weight overlapping DNS", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("vpn dns", v4connect, wfp.ActionPermit, true, port(53))}
			},
			want: map[string]wantOverride{"vpn dns": {ProblemOverride, OverrideEqualWeight, "dns-v4", "out tcp 10.0.0.1:53 from the account's normal token", true}},
		},
		{
			name: "hard permit at equal weight for UDP DNS over TLS to 2001:db8::/32", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("vpn dot6", v6connect, wfp.ActionPermit, true, proto(policy.ProtoUDP), remote("2001:db8::/32"), port(853))}
			},
			want: map[string]wantOverride{"vpn dot6": {ProblemOverride, OverrideEqualWeight, "dot-v6", "out udp [2001:db8::1]:853", true}},
		},
		{
			name: "hard permits at equal weight that cannot overlap", vendors: []vendor{tied},
			filters: func(t *testing.T, _ wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{
					tied.filter("other port", v4connect, wfp.ActionPermit, true, port(54)),
					tied.filter("tcp at bind", v4bind, wfp.ActionPermit, true, proto(policy.ProtoTCP)),
					tied.filter("udp https", v4connect, wfp.ActionPermit, true, proto(policy.ProtoUDP), port(443)),
					tied.filter("another account's dns", v4connect, wfp.ActionPermit, true, onlyUser(t, sidB), port(53)),
					tied.filter("udp at v6", v6connect, wfp.ActionPermit, true, proto(policy.ProtoUDP), remote("2001:db8::/32"), port(1234)),
				}
			},
		},
		{
			name: "a hard permit whose remote addresses are disjoint from the block's", vendors: []vendor{tied}, plan: extra,
			filters: func(t *testing.T, _ wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("other address", v4connect, wfp.ActionPermit, true, remote("198.51.100.0/24"), port(8080))}
			},
		},
		{
			name: "the same permits do overlap a block on the intranet", vendors: []vendor{tied}, plan: extra,
			filters: func(t *testing.T, _ wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("intranet web", v4connect, wfp.ActionPermit, true, remote("203.0.113.0/25"), port(8080))}
			},
			want: map[string]wantOverride{"intranet web": {ProblemOverride, OverrideEqualWeight, "block-intranet", "tcp 203.0.113.1:8080", true}},
		},
		{
			name: "soft permit at equal weight: the block overrides it", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("soft dns", v4connect, wfp.ActionPermit, false, port(53))}
			},
		},
		{
			name: "hard permit in a lower sublayer: evaluated after our final block", vendors: []vendor{lower},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{lower.filter("edr dns", v4connect, wfp.ActionPermit, true, port(53))}
			},
		},
		{
			name: "ICMP permitted at connect only: the bind block still stops it", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("ping connect", v4connect, wfp.ActionPermit, true, proto(policy.ProtoICMP))}
			},
		},
		{
			name: "ICMP permitted at bind and connect", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{
					tied.filter("ping connect", v4connect, wfp.ActionPermit, true, proto(policy.ProtoICMP)),
					tied.filter("ping bind", v4bind, wfp.ActionPermit, true, proto(policy.ProtoICMP)),
				}
			},
			want: map[string]wantOverride{
				"ping connect": {ProblemOverride, OverrideEqualWeight, "icmp-connect-v4", "out icmp 10.0.0.1:0", true},
				"ping bind":    {ProblemOverride, OverrideEqualWeight, "icmp-bind-v4", "out icmp 10.0.0.1:0", true},
			},
		},
		{
			name: "foreign permit and block inside our sublayer above our blocks", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				p := tied.filter("permit in our sublayer", v4connect, wfp.ActionPermit, false, port(445))
				b := tied.filter("block in our sublayer", v4connect, wfp.ActionBlock, false, port(53))
				low := tied.filter("permit below our blocks", v4connect, wfp.ActionPermit, false, port(139))
				for _, f := range []*wfp.Filter{p, b, low} {
					f.Sublayer, f.Flags = ourSublayer, 0 // not persistent: it may sit in our persistent sublayer
				}
				p.Weight, b.Weight, low.Weight = wfp.U8(15), wfp.U8(15), wfp.U64(0)
				return []*wfp.Filter{p, b, low}
			},
			want: map[string]wantOverride{
				"permit in our sublayer": {ProblemForeign, OverrideInSublayer, "smb-v4", "out tcp 10.0.0.1:445", true},
				"block in our sublayer":  {ProblemForeign, OverrideInSublayer, "dns-v4", "out tcp 10.0.0.1:53", false},
			},
		},
		{
			name: "a hard permit with an application condition is only possible", vendors: []vendor{tied},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("vpn.exe dns", v4connect, wfp.ActionPermit, true, appID, port(53))}
			},
			possible: []string{"vpn.exe dns"},
		},
		{
			name: "strict: hard permits for loopback, all TCP and all inbound", vendors: []vendor{tied}, plan: strict,
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter {
				return []*wfp.Filter{
					// Loopback is open to the account anyway, except the blocked ports
					// the strict profile keeps closed on loopback too: DNS is one.
					tied.filter("loopback", v4connect, wfp.ActionPermit, true, remote("127.0.0.0/8")),
					tied.filter("all tcp", v4connect, wfp.ActionPermit, true, proto(policy.ProtoTCP)),
					tied.filter("all inbound", wfp.LayerALEAuthRecvAcceptV4, wfp.ActionPermit, true),
					// A permit for loopback port 8080 only is no override on either
					// layout: the strict loopback permits are scoped like the blocks
					// below them, so every token a block of ours stops at 127.0.0.1:8080
					// is permitted there by our own loopback permit first. Deny: blocks
					// and loopback permits are both unconditioned below the guard, so
					// the account's normal token and its deny-only, restricted and
					// AppContainer children reach the permit. Allow: both carry
					// D:(A;;CC;;;SID), so the children match neither (the allow shape's
					// known gap, not an override) and the normal token hits the permit.
					// (Before issue 9 the deny shape put NOT_EQUAL on the blocks and
					// allow-shaped permits, so the children were blocked and this
					// filter opened loopback for them.) alreadyOpen checks it.
					tied.filter("loopback 8080", v4connect, wfp.ActionPermit, true, remote("127.0.0.1/32"), port(8080)),
				}
			},
			want: map[string]wantOverride{
				"loopback":    {ProblemOverride, OverrideEqualWeight, "dns-v4", "out tcp 127.0.0.1:53 from the account's normal token", true},
				"all tcp":     {ProblemOverride, OverrideEqualWeight, "strict-block-connect-v4", "out tcp 10.0.0.1:443", true},
				"all inbound": {ProblemOverride, OverrideEqualWeight, "strict-block-accept-v4", "in tcp 10.0.0.1:443", true},
			},
			alreadyOpen: []string{"127.0.0.1:8080"},
		},
		{
			name: "Windows-Firewall-like filters in a lower sublayer", vendors: []vendor{wf},
			filters: func(*testing.T, wfp.Engine) []*wfp.Filter { return firewallLike(wf, 300) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := pa
			if tc.plan != nil {
				plan = tc.plan
			}
			w := newWorld(t)
			w.install(t, plan)
			var added []*wfp.Filter
			w.mutate(t, func(e wfp.Engine) error {
				for _, v := range tc.vendors {
					if err := v.add(e); err != nil {
						return err
					}
				}
				added = tc.filters(t, e)
				for _, f := range added {
					if _, err := e.AddFilter(f); err != nil {
						return fmt.Errorf("add %q: %w", f.Name, err)
					}
				}
				return nil
			})
			rep, err := Verify(w.session(t), plan)
			if err != nil {
				t.Fatal(err)
			}
			checkOverrides(t, rep, tc.want)
			inSublayer := 0
			for _, f := range added {
				if f.Sublayer == ourSublayer {
					inSublayer++
				}
			}
			if want := len(tc.want); rep.Compliant != (want == 0 && inSublayer == 0) || len(rep.Findings) != max(want, inSublayer) {
				t.Errorf("compliant %v with %d findings, want %d: %+v", rep.Compliant, len(rep.Findings), max(want, inSublayer), rep.Findings)
			}
			for _, r := range tc.alreadyOpen {
				checkAlreadyOpen(t, w.session(t), plan, added, netip.MustParseAddrPort(r))
			}
			var possible []string
			for _, o := range rep.PossibleOverrides {
				possible = append(possible, o.Filter.Name)
				if len(o.Assumed) == 0 || !slices.Contains(o.Assumed, "ALE_APP_ID") {
					t.Errorf("possible override %q does not say what it assumed: %v", o.Filter.Name, o.Assumed)
				}
			}
			if !slices.Equal(possible, tc.possible) {
				t.Errorf("possible overrides %v, want %v", possible, tc.possible)
			}
		})
	}
}

// checkAlreadyOpen fails t when, over e's filters without added, one of plan's blocks
// decides a TCP or UDP connect to remote at ALE_AUTH_CONNECT for a token kind of the
// plan's account: then a foreign permit for remote would override it.
func checkAlreadyOpen(t *testing.T, e wfp.Engine, plan *policy.Plan, added []*wfp.Filter, remote netip.AddrPort) {
	t.Helper()
	all, err := e.Filters(nil)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := e.Sublayers(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ours []*wfp.Filter
	for _, f := range all {
		if !slices.ContainsFunc(added, func(a *wfp.Filter) bool { return a.Key == f.Key }) {
			ours = append(ours, f)
		}
	}
	sid, err := account.ParseSID(plan.SID)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range arbiter.TokenKinds {
		tok, err := arbiter.TokenFor(kind, sid)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []uint8{policy.ProtoTCP, policy.ProtoUDP} {
			fl := arbiter.Flow{Protocol: p, Remote: remote, Token: tok}
			d, err := arbiter.Evaluate(arbiter.Set{Filters: ours, Sublayers: subs}, fl)
			if err != nil {
				t.Fatal(err)
			}
			ld, _ := layerOf(d, v4connect)
			if ld.Action == arbiter.Block && ld.Filter != nil && wfp.SameProvider(ld.Filter.ProviderKey, &plan.Provider.Key) {
				t.Errorf("%s from the %s token is blocked at connect by %q: a permit for it would override that block", fl.String(), kind, ld.Filter.Name)
			}
		}
	}
}

// firewallLike returns n filters shaped like a host firewall's: in v's sublayer, at the
// ALE layers, hard and soft permits and blocks, most on an application.
func firewallLike(v vendor, n int) []*wfp.Filter {
	layers := []wfp.LayerID{wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthRecvAcceptV4,
		wfp.LayerALEAuthRecvAcceptV6, wfp.LayerALEResourceAssignmentV4, wfp.LayerALEAuthListenV4}
	var out []*wfp.Filter
	for i := range n {
		action, hard := wfp.ActionPermit, i%3 == 0
		if i%4 == 1 {
			action, hard = wfp.ActionBlock, false
		}
		var conds []wfp.Condition
		if i%5 != 0 {
			conds = append(conds, wfp.Condition{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual,
				Value: wfp.Value{Type: wfp.ByteBlob, Bytes: fmt.Appendf(nil, "\\device\\app%d.exe\x00", i)}})
		}
		layer := layers[i%len(layers)]
		if layer != wfp.LayerALEResourceAssignmentV4 && layer != wfp.LayerALEAuthListenV4 {
			conds = append(conds, port(uint16(i%100)))
		}
		out = append(out, v.filter(fmt.Sprintf("%s rule %d", v.name, i), layer, action, hard, conds...))
	}
	return out
}

// newLayout builds, by hand, the per-account layout of issue 9 for sid on e: the
// account's own sublayer at 0xFFFF holding soft guard permits (everyone but the
// account) and the baseline blocks with no user condition, hard. It returns the plan
// describing it (what overrides reads of a plan: SID, provider, filters).
func newLayout(t *testing.T, e wfp.Engine, sid string) *policy.Plan {
	t.Helper()
	pk := policy.ProviderKey
	sk := wfp.NameGUID(pk, "sublayer/"+sid)
	if _, err := e.Provider(pk); err != nil {
		if err := e.AddProvider(policy.Provider()); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.AddSublayer(&wfp.Sublayer{Key: sk, Name: "wfpsandbox " + sid, Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk,
		Weight: 0xFFFF, Data: policy.Owner{SID: sid, Rule: "sublayer"}.Encode()}); err != nil {
		t.Fatal(err)
	}
	s, err := account.ParseSID(sid)
	if err != nil {
		t.Fatal(err)
	}
	sddl := fmt.Sprintf("D:(D;;CC;;;%s)(A;;CC;;;WD)(A;;CC;;;S-1-5-7)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;S-1-5-33)", s) // AN = S-1-5-7
	gsd, err := account.ParseSDDL(sddl)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := gsd.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	plan := &policy.Plan{SID: sid, Provider: policy.Provider()}
	for _, g := range []struct {
		id    string
		layer wfp.LayerID
	}{{"guard-connect-v4", v4connect}, {"guard-connect-v6", v6connect}, {"guard-bind-v4", v4bind}, {"guard-bind-v6", wfp.LayerALEResourceAssignmentV6}} {
		plan.Filters = append(plan.Filters, &wfp.Filter{Key: policy.FilterKey(sid, g.id), Name: "guard " + g.id + " " + sid,
			Flags: wfp.FilterFlagPersistent, ProviderKey: &pk, ProviderData: policy.Owner{SID: sid, Rule: g.id}.Encode(),
			Layer: g.layer, Sublayer: sk, Weight: wfp.U8(15), Action: wfp.Action{Type: wfp.ActionPermit},
			Conditions: []wfp.Condition{{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(gb)}}})
	}
	for _, r := range policy.BaselineRules() {
		plan.Filters = append(plan.Filters, &wfp.Filter{Key: policy.FilterKey(sid, r.ID), Name: r.Name + " " + sid,
			Flags: policy.FilterFlags, ProviderKey: &pk, ProviderData: policy.Owner{SID: sid, Rule: r.ID}.Encode(),
			Layer: r.Layer, Sublayer: sk, Conditions: r.Conditions, Action: wfp.Action{Type: r.Action}})
	}
	for _, f := range plan.Filters {
		if _, err := e.AddFilter(f); err != nil {
			t.Fatalf("add %q: %v", f.Name, err)
		}
	}
	return plan
}

// TestOverridesNewLayout: the same questions on the per-account layout. Our sublayers,
// the guards (soft permits) and another account's sublayer at the same weight are never
// findings; a foreign hard permit at 0xFFFF overlapping DNS is, for every token kind.
func TestOverridesNewLayout(t *testing.T) {
	tied, wf := newVendor("vpn", 0xFFFF), newVendor("windows firewall like", 0x8)
	cases := []struct {
		name    string
		filters func(t *testing.T) []*wfp.Filter
		want    map[string]wantOverride
	}{
		{name: "ours only", filters: func(*testing.T) []*wfp.Filter { return nil }},
		{
			name: "hard permit at equal weight overlapping DNS",
			filters: func(*testing.T) []*wfp.Filter {
				return []*wfp.Filter{tied.filter("vpn dns", v4connect, wfp.ActionPermit, true, port(53))}
			},
			want: map[string]wantOverride{"vpn dns": {ProblemOverride, OverrideEqualWeight, "dns-v4", "out tcp 10.0.0.1:53 from the account's normal token", true}},
		},
		{
			name: "hard permits that cannot overlap",
			filters: func(t *testing.T) []*wfp.Filter {
				return []*wfp.Filter{
					tied.filter("other port", v4connect, wfp.ActionPermit, true, port(54)),
					tied.filter("another account's dns", v4connect, wfp.ActionPermit, true, onlyUser(t, sidB), port(53)),
					tied.filter("soft dns", v4connect, wfp.ActionPermit, false, port(53)),
				}
			},
		},
		{
			name: "a foreign permit inside the account's sublayer, below the guard, above the blocks",
			filters: func(*testing.T) []*wfp.Filter {
				f := tied.filter("permit in A's sublayer", v4connect, wfp.ActionPermit, false, port(53))
				f.Sublayer, f.Flags, f.Weight = wfp.NameGUID(policy.ProviderKey, "sublayer/"+sidA), 0, wfp.U8(14)
				return []*wfp.Filter{f}
			},
			want: map[string]wantOverride{"permit in A's sublayer": {ProblemOverride, OverrideInSublayer, "dns-v4", "out tcp 10.0.0.1:53", true}},
		},
		{
			name:    "Windows-Firewall-like filters in a lower sublayer",
			filters: func(*testing.T) []*wfp.Filter { return firewallLike(wf, 300) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var plan *policy.Plan
			w.mutate(t, func(e wfp.Engine) error {
				plan = newLayout(t, e, sidA)
				newLayout(t, e, sidB) // B's guard is a soft permit at 0xFFFF matching A
				for _, v := range []vendor{tied, wf} {
					if err := v.add(e); err != nil {
						return err
					}
				}
				for _, f := range tc.filters(t) {
					if _, err := e.AddFilter(f); err != nil {
						return fmt.Errorf("add %q: %w", f.Name, err)
					}
				}
				return nil
			})
			e := w.session(t)
			all, err := e.Filters(nil)
			if err != nil {
				t.Fatal(err)
			}
			rep := &Report{Findings: []Finding{}}
			if err := effectiveInto(e, plan, all, rep); err != nil {
				t.Fatal(err)
			}
			checkOverrides(t, rep, tc.want)
			if len(rep.Findings) != len(tc.want) || len(rep.PossibleOverrides) != 0 {
				t.Errorf("%d findings and %d possible overrides, want %d and 0: %+v", len(rep.Findings), len(rep.PossibleOverrides), len(tc.want), rep.Findings)
			}
			for _, f := range rep.Findings {
				if got := f.Override.Tokens; !slices.Equal(got, []string{"normal", "deny-only", "restricted", "appcontainer"}) {
					t.Errorf("%q: token kinds %v, want all four (the blocks have no user condition, the guard spares none of the account's tokens)", f.Name, got)
				}
			}
		})
	}
}

// TestOverridesEarlierSublayer: with our sublayer below another's (weight 0x8000 under
// 0x9000), that sublayer's hard permit is evaluated first and wins; its soft permit is
// overridden by our block; a hard permit in a sublayer below ours comes too late. On
// both layouts: the account's own sublayer (deny) and the shared one (allow).
func TestOverridesEarlierSublayer(t *testing.T) {
	for _, m := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
		t.Run(string(m), func(t *testing.T) { testOverridesEarlierSublayer(t, m) })
	}
}

func testOverridesEarlierSublayer(t *testing.T, m policy.UserMatch) {
	plan := clonePlan(buildPlan(t, sidA, m))
	plan.Sublayer.Weight = 0x8000
	top, above, below := newVendor("top", 0xA000), newVendor("above", 0x9000), newVendor("below", 0x7000)
	w := newWorld(t)
	w.install(t, plan)
	w.mutate(t, func(e wfp.Engine) error {
		for _, v := range []vendor{top, above, below} {
			if err := v.add(e); err != nil {
				return err
			}
		}
		for _, f := range []*wfp.Filter{
			above.filter("hard 445", v4connect, wfp.ActionPermit, true, port(445)),
			above.filter("soft 53", v4connect, wfp.ActionPermit, false, port(53)),
			below.filter("hard 139", v4connect, wfp.ActionPermit, true, port(139)),
			// Above them all, TCP to 853 is blocked: the permit for 853 still lets UDP
			// through, and the witness must find it.
			top.filter("no tcp 853", v4connect, wfp.ActionBlock, false, proto(policy.ProtoTCP), port(853)),
			above.filter("hard 853", v4connect, wfp.ActionPermit, true, port(853)),
		} {
			if _, err := e.AddFilter(f); err != nil {
				return err
			}
		}
		return nil
	})
	rep, err := Verify(w.session(t), plan)
	if err != nil {
		t.Fatal(err)
	}
	checkOverrides(t, rep, map[string]wantOverride{
		"hard 445": {ProblemOverride, OverrideEarlierSublayer, "smb-v4", "out tcp 10.0.0.1:445", true},
		"hard 853": {ProblemOverride, OverrideEarlierSublayer, "dot-v4", "out udp 10.0.0.1:853", true},
	})
	if len(rep.Findings) != 2 {
		t.Errorf("%d findings, want 2: %+v", len(rep.Findings), rep.Findings)
	}
}

// TestFirstAmongEquals: re-weighting keeps the order of different weights and puts the
// chosen sublayers above the others of their weight, and only them.
func TestFirstAmongEquals(t *testing.T) {
	k := func(i int) wfp.GUID { return wfp.NameGUID(policy.ProviderKey, fmt.Sprint("s", i)) }
	subs := []*wfp.Sublayer{{Key: k(0), Weight: 0xFFFF}, {Key: k(1), Weight: 0xFFFF}, {Key: k(2), Weight: 0x8000}, {Key: k(3), Weight: 0}, {Key: k(4), Weight: 0xFFFF}}
	out := firstAmongEquals(subs, func(s *wfp.Sublayer) bool { return s.Key == k(1) })
	w := map[wfp.GUID]uint16{}
	for _, s := range out {
		w[s.Key] = s.Weight
	}
	if !(w[k(1)] > w[k(0)] && w[k(0)] == w[k(4)] && w[k(0)] > w[k(2)] && w[k(2)] > w[k(3)]) {
		t.Errorf("weights %v", w)
	}
	if subs[1].Weight != 0xFFFF {
		t.Error("the input was modified")
	}
}
