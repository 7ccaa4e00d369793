package arbiter_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

var (
	thirdProvider = wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-000000000001")
	thirdSublayer = wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-000000000002")
	lowSublayer   = wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-000000000003")
)

func sublayer(key wfp.GUID, name string, weight uint16) *wfp.Sublayer {
	return &wfp.Sublayer{Key: key, Name: name, Weight: weight}
}

// filter builds a filter of another provider with no user condition (it applies to
// every account).
func filter(name string, sub wfp.GUID, layer wfp.LayerID, act wfp.ActionType, flags wfp.FilterFlags, weight wfp.Value, conds ...wfp.Condition) *wfp.Filter {
	pk := thirdProvider
	return &wfp.Filter{
		Key: wfp.NameGUID(thirdProvider, name), Name: name, ProviderKey: &pk, Layer: layer, Sublayer: sub,
		Action: wfp.Action{Type: act}, Flags: flags, Weight: weight, Conditions: conds,
	}
}

func port(p uint16) wfp.Condition {
	return wfp.Condition{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)}
}

func evaluate(t *testing.T, set arbiter.Set, proto uint8, remote string) arbiter.Decision {
	t.Helper()
	d, err := arbiter.Evaluate(set, flow(t, arbiter.Outbound, proto, remote, token(t, arbiter.TokenNormal, sandboxSID)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestThirdPartyPermits puts our baseline (sublayer weight 0xFFFF in the plan; lowered
// here where a higher sublayer is needed) against permits of another provider.
func TestThirdPartyPermits(t *testing.T) {
	p := plan(t, policy.Options{})
	ours := func(weight uint16) arbiter.Set {
		s := p.Sublayer.Clone()
		s.Weight = weight
		return arbiter.Set{Filters: append([]*wfp.Filter(nil), p.Filters...), Sublayers: []*wfp.Sublayer{s}}
	}
	dnsV4 := policy.FilterKey(p.SID, "dns-v4")
	tests := []struct {
		name      string
		ourWeight uint16
		theirs    *wfp.Sublayer
		filter    *wfp.Filter
		wantBlock bool
		wantKey   wfp.GUID
		why       string
	}{
		{"hard permit in a higher sublayer", 0x8000, sublayer(thirdSublayer, "vpn", 0x9000),
			filter("vpn hard permit 53", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(53)),
			false, wfp.NameGUID(thirdProvider, "vpn hard permit 53"),
			"a hard permit evaluated first cannot be overridden by a block of a later sublayer (only a callout veto)"},
		{"soft permit in a higher sublayer", 0x8000, sublayer(thirdSublayer, "app", 0x9000),
			filter("app soft permit 53", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, 0, wfp.Value{}, port(53)),
			true, dnsV4, "block overrides a soft permit"},
		{"hard permit in a lower sublayer", 0x8000, sublayer(lowSublayer, "low", 0x1000),
			filter("low hard permit 53", lowSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(53)),
			true, dnsV4, "our block comes first and is final"},
		{"hard permit with no conditions, higher sublayer", 0x8000, sublayer(thirdSublayer, "any", 0x9000),
			filter("permit everything", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}),
			false, wfp.NameGUID(thirdProvider, "permit everything"), "zero conditions match everything"},
		{"hard permit in a higher sublayer for another port", 0x8000, sublayer(thirdSublayer, "vpn", 0x9000),
			filter("vpn hard permit 443", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(443)),
			true, dnsV4, "the permit does not match, so our sublayer decides"},
		{"hard permit at another layer", 0x8000, sublayer(thirdSublayer, "vpn", 0x9000),
			filter("vpn hard permit v6", thirdSublayer, wfp.LayerALEAuthConnectV6, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(53)),
			true, dnsV4, "no cross-layer arbitration"},
		{"block in a higher sublayer", 0x8000, sublayer(thirdSublayer, "fw", 0x9000),
			filter("fw block 53", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionBlock, 0, wfp.Value{}, port(53)),
			true, wfp.NameGUID(thirdProvider, "fw block 53"), "the first block is final"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := ours(tt.ourWeight)
			set.Sublayers = append(set.Sublayers, tt.theirs)
			set.Filters = append(set.Filters, tt.filter)
			d := evaluate(t, set, arbiter.ProtoUDP, "8.8.8.8:53")
			if (d.Action == arbiter.Block) != tt.wantBlock || d.Filter == nil || d.Filter.Key != tt.wantKey {
				t.Fatalf("got %s by %v; want block=%v by %s (%s)\n%s", d.Action, d.Filter, tt.wantBlock, tt.wantKey, tt.why, d.Text())
			}
		})
	}
}

// TestSameWeightSublayers: with the plan's own weight 0xFFFF a third-party sublayer can
// at most tie; WFP does not document the order of equal weights, and the trace says so.
func TestSameWeightSublayers(t *testing.T) {
	p := plan(t, policy.Options{UserMatch: policy.MatchAllow}) // the shared sublayer 32626bf6-…
	set := arbiter.FromPlan(p)
	set.Sublayers = append(set.Sublayers, sublayer(thirdSublayer, "tie", 0xFFFF))
	set.Filters = append(set.Filters, filter("tie permit", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(53)))
	d := evaluate(t, set, arbiter.ProtoUDP, "8.8.8.8:53")
	if !strings.Contains(strings.Join(d.Trace, "\n"), "WFP does not document their order") {
		t.Fatalf("trace does not flag the tie:\n%s", d.Text())
	}
	// In key order ours (32626bf6-…) comes first and blocks; in the other order the
	// hard permit comes first and wins: the decision depends on the tie.
	if len(d.Cautions) != 1 || !strings.Contains(d.Cautions[0], `permit by "tie permit"`) {
		t.Fatalf("cautions %q, want the other order's permit", d.Cautions)
	}
	// A tie whose other order gives the same result raises no caution.
	set.Filters[len(set.Filters)-1] = filter("tie permit 443", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(443))
	if d := evaluate(t, set, arbiter.ProtoUDP, "8.8.8.8:53"); len(d.Cautions) != 0 {
		t.Fatalf("cautions %q for a tie that does not matter", d.Cautions)
	}
}

// TestWeights pins filter ordering inside one sublayer (wfp-facts §1): FWP_UINT64 as
// is, FWP_UINT8 n in [n<<60, (n+1)<<60), FWP_EMPTY in range 0, EffectiveWeight when the
// filter comes from an engine.
func TestWeights(t *testing.T) {
	sub := sublayer(thirdSublayer, "s", 0x100)
	L := wfp.LayerALEAuthConnectV4
	tests := []struct {
		name    string
		filters []*wfp.Filter
		want    string // name of the deciding filter
		why     string
	}{
		{"uint8 range 1 above empty", []*wfp.Filter{
			filter("empty block", thirdSublayer, L, wfp.ActionBlock, 0, wfp.Value{}),
			filter("r1 permit", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U8(1)),
		}, "r1 permit", "range 1 starts at 1<<60, above all of range 0"},
		{"uint64 above a lower uint8 range", []*wfp.Filter{
			filter("r2 permit", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U8(2)),
			filter("w3 block", thirdSublayer, L, wfp.ActionBlock, 0, wfp.U64(3<<60)),
		}, "w3 block", "3<<60 is above every weight of range 2"},
		{"uint64 below a higher uint8 range", []*wfp.Filter{
			filter("w1 block", thirdSublayer, L, wfp.ActionBlock, 0, wfp.U64(1<<60)),
			filter("r2 permit", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U8(2)),
		}, "r2 permit", "range 2 starts at 2<<60"},
		{"uint64 order", []*wfp.Filter{
			filter("w5 permit", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U64(5)),
			filter("w6 block", thirdSublayer, L, wfp.ActionBlock, 0, wfp.U64(6)),
		}, "w6 block", "higher weight first"},
		{"effective weight wins over the requested one", []*wfp.Filter{
			{Key: wfp.NameGUID(thirdProvider, "e"), Name: "engine block", Layer: L, Sublayer: thirdSublayer, Action: wfp.Action{Type: wfp.ActionBlock}, Weight: wfp.U8(0), ID: 7, EffectiveWeight: 9 << 60},
			filter("r8 permit", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U8(8)),
		}, "engine block", "an engine's EffectiveWeight 9<<60 beats range 8"},
		{"first match decides, lower filters hidden", []*wfp.Filter{
			filter("r3 permit 443", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U8(3), port(443)),
			filter("r2 block 53", thirdSublayer, L, wfp.ActionBlock, 0, wfp.U8(2), port(53)),
			filter("r1 permit", thirdSublayer, L, wfp.ActionPermit, 0, wfp.U8(1)),
		}, "r2 block 53", "the range-3 permit does not match; the range-2 block does and hides the range-1 permit"},
		{"callout filters are not evaluated", []*wfp.Filter{
			filter("callout", thirdSublayer, L, wfp.ActionCalloutTerminating, 0, wfp.U8(5)),
			filter("r1 block", thirdSublayer, L, wfp.ActionBlock, 0, wfp.U8(1)),
		}, "r1 block", "callouts are skipped and reported"},
		{"disabled filters are skipped", []*wfp.Filter{
			filter("disabled permit", thirdSublayer, L, wfp.ActionPermit, wfp.FilterFlagDisabled, wfp.U8(5)),
			filter("r1 block", thirdSublayer, L, wfp.ActionBlock, 0, wfp.U8(1)),
		}, "r1 block", "FWPM_FILTER_FLAG_DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluate(t, arbiter.Set{Filters: tt.filters, Sublayers: []*wfp.Sublayer{sub}}, arbiter.ProtoUDP, "8.8.8.8:53")
			if d.Filter == nil || d.Filter.Name != tt.want {
				t.Fatalf("decided by %v, want %q (%s)\n%s", d.Filter, tt.want, tt.why, d.Text())
			}
		})
	}
}

// TestAutoWeightCaution: when two filters of different actions share an auto-weight
// range, their order is up to BFE; the trace must say the result could differ.
func TestAutoWeightCaution(t *testing.T) {
	L := wfp.LayerALEAuthConnectV4
	set := arbiter.Set{Sublayers: []*wfp.Sublayer{sublayer(thirdSublayer, "s", 1)}, Filters: []*wfp.Filter{
		filter("permit 53", thirdSublayer, L, wfp.ActionPermit, 0, wfp.Value{}, port(53)),
		filter("block 53", thirdSublayer, L, wfp.ActionBlock, 0, wfp.Value{}, port(53)),
	}}
	d := evaluate(t, set, arbiter.ProtoUDP, "8.8.8.8:53")
	if !strings.Contains(strings.Join(d.Trace, "\n"), "caution:") {
		t.Fatalf("no caution in trace:\n%s", d.Text())
	}
}

// TestConditions pins the condition semantics: AND across fields, OR within a field,
// and the match types on numbers and addresses.
func TestConditions(t *testing.T) {
	L := wfp.LayerALEAuthConnectV4
	L6 := wfp.LayerALEAuthConnectV6
	addr := func(s string) wfp.Condition {
		return wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix(s))}
	}
	proto := func(p uint8) wfp.Condition {
		return wfp.Condition{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(p)}
	}
	v4num := wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.U32(0x08080808)}
	v6bytes := netip.MustParseAddr("2001:db8::1").As16()
	tests := []struct {
		name   string
		layer  wfp.LayerID
		conds  []wfp.Condition
		proto  uint8
		remote string
		match  bool
		why    string
	}{
		{"AND: both hold", L, []wfp.Condition{proto(17), port(53)}, arbiter.ProtoUDP, "8.8.8.8:53", true, "protocol and port match"},
		{"AND: one fails", L, []wfp.Condition{proto(6), port(53)}, arbiter.ProtoUDP, "8.8.8.8:53", false, "protocol differs"},
		{"OR within a field", L, []wfp.Condition{port(80), port(53)}, arbiter.ProtoUDP, "8.8.8.8:53", true, "53 is one of the ports"},
		{"OR within, AND across", L, []wfp.Condition{port(80), port(53), addr("10.0.0.0/8")}, arbiter.ProtoUDP, "8.8.8.8:53", false, "address outside 10/8"},
		{"address mask", L, []wfp.Condition{addr("8.8.0.0/16")}, arbiter.ProtoUDP, "8.8.8.8:53", true, "inside /16"},
		{"not equal", L, []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchNotEqual, Value: wfp.U16(53)}}, arbiter.ProtoUDP, "8.8.8.8:53", false, "53 = 53"},
		{"range", L, []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(50), wfp.U16(60))}}, arbiter.ProtoUDP, "8.8.8.8:53", true, "50 ≤ 53 ≤ 60"},
		{"range, outside", L, []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(54), wfp.U16(60))}}, arbiter.ProtoUDP, "8.8.8.8:53", false, "53 < 54"},
		{"greater", L, []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchGreater, Value: wfp.U16(1023)}}, arbiter.ProtoUDP, "8.8.8.8:53", false, "53 is not > 1023"},
		{"v4 address as FWP_UINT32", L, []wfp.Condition{v4num}, arbiter.ProtoUDP, "8.8.8.8:53", true, "0x08080808 is 8.8.8.8"},
		{"v6 address as 16 bytes", L6, []wfp.Condition{{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteArray16, Bytes: v6bytes[:]}}}, arbiter.ProtoUDP, "[2001:db8::1]:53", true, "same 16 bytes"},
		{"mapped address vs ::1/128", L6, []wfp.Condition{addr("::1/128")}, arbiter.ProtoTCP, "[::ffff:127.0.0.1]:80", false, "::ffff:127.0.0.1 is not ::1"},
		{"mapped address vs ::ffff:0:0/96", L6, []wfp.Condition{addr("::ffff:0.0.0.0/96")}, arbiter.ProtoTCP, "[::ffff:8.8.8.8]:80", true, "inside the mapped range"},
		{"ICMP code is the remote port", L, []wfp.Condition{proto(1), port(0)}, arbiter.ProtoICMP, "8.8.8.8", true, "echo code 0"},
	}
	sub := sublayer(thirdSublayer, "s", 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := arbiter.Set{Sublayers: []*wfp.Sublayer{sub}, Filters: []*wfp.Filter{filter("f", thirdSublayer, tt.layer, wfp.ActionBlock, 0, wfp.Value{}, tt.conds...)}}
			d := evaluate(t, set, tt.proto, tt.remote)
			if (d.Action == arbiter.Block) != tt.match {
				t.Fatalf("matched = %v, want %v (%s)\n%s", d.Action == arbiter.Block, tt.match, tt.why, d.Text())
			}
		})
	}
}

// TestUnmodelledConditions: a filter on a field a Flow does not carry is reported and
// treated as not matching.
func TestUnmodelledConditions(t *testing.T) {
	set := arbiter.Set{Sublayers: []*wfp.Sublayer{sublayer(thirdSublayer, "s", 1)}, Filters: []*wfp.Filter{
		filter("app permit", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.U8(2),
			wfp.Condition{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteBlob, Bytes: []byte("x")}}),
		filter("callout", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionCalloutTerminating, 0, wfp.U8(3)),
	}}
	d := evaluate(t, set, arbiter.ProtoTCP, "8.8.8.8:443")
	if d.Action != arbiter.Permit || d.Filter != nil || len(d.NotEvaluated) != 2 {
		t.Fatalf("got %s by %v, NotEvaluated %v; want permit, no filter, 2 not evaluated\n%s", d.Action, d.Filter, d.NotEvaluated, d.Text())
	}
}

// TestPackageID: ALE_PACKAGE_ID is the AppContainer package SID, or the NULL SID S-1-0-0
// for a process outside any AppContainer.
func TestPackageID(t *testing.T) {
	pkg := arbiter.ExamplePackageSID
	null := mustSID(t, "S-1-0-0")
	cond := func(m wfp.MatchType, b []byte) wfp.Condition {
		return wfp.Condition{Field: wfp.FieldALEPackageID, Match: m, Value: wfp.Value{Type: wfp.SID, Bytes: b}}
	}
	tests := []struct {
		name  string
		kind  arbiter.TokenKind
		cond  wfp.Condition
		match bool
	}{
		{"appcontainer = its package", arbiter.TokenAppContainer, cond(wfp.MatchEqual, pkg.Bytes()), true},
		{"normal = its package", arbiter.TokenNormal, cond(wfp.MatchEqual, pkg.Bytes()), false},
		{"normal = NULL SID", arbiter.TokenNormal, cond(wfp.MatchEqual, null.Bytes()), true},
		{"appcontainer ≠ NULL SID", arbiter.TokenAppContainer, cond(wfp.MatchNotEqual, null.Bytes()), true},
	}
	for _, tt := range tests {
		set := arbiter.Set{Sublayers: []*wfp.Sublayer{sublayer(thirdSublayer, "s", 1)},
			Filters: []*wfp.Filter{filter("pkg", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionBlock, 0, wfp.Value{}, tt.cond)}}
		d, err := arbiter.Evaluate(set, flow(t, arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:443", token(t, tt.kind, sandboxSID)))
		if err != nil {
			t.Fatal(err)
		}
		if (d.Action == arbiter.Block) != tt.match {
			t.Errorf("%s: matched = %v, want %v\n%s", tt.name, d.Action == arbiter.Block, tt.match, d.Text())
		}
	}
}

// TestLocalFields: IP_LOCAL_ADDRESS / IP_LOCAL_PORT are evaluated when the flow knows
// them and reported otherwise; at RESOURCE_ASSIGNMENT remote fields are never offered.
func TestLocalFields(t *testing.T) {
	sub := sublayer(thirdSublayer, "s", 1)
	local := filter("local 8080", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionBlock, 0, wfp.Value{},
		wfp.Condition{Field: wfp.FieldIPLocalPort, Match: wfp.MatchEqual, Value: wfp.U16(8080)})
	fl := flow(t, arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:443", token(t, arbiter.TokenNormal, sandboxSID))
	d, err := arbiter.Evaluate(arbiter.Set{Sublayers: []*wfp.Sublayer{sub}, Filters: []*wfp.Filter{local}}, fl)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Permit || len(d.NotEvaluated) != 1 {
		t.Fatalf("unknown local port: %s, NotEvaluated %v", d.Action, d.NotEvaluated)
	}
	fl.Local = netip.MustParseAddrPort("192.0.2.10:8080")
	if d, _ = arbiter.Evaluate(arbiter.Set{Sublayers: []*wfp.Sublayer{sub}, Filters: []*wfp.Filter{local}}, fl); d.Action != arbiter.Block || len(d.NotEvaluated) != 0 {
		t.Fatalf("known local port: %s, NotEvaluated %v", d.Action, d.NotEvaluated)
	}
	fl.Local = netip.MustParseAddrPort("[2001:db8::1]:8080")
	if _, err := arbiter.Evaluate(arbiter.Set{}, fl); err == nil {
		t.Fatal("a v6 local address with a v4 remote was accepted")
	}
	remoteAtBind := filter("remote at bind", thirdSublayer, wfp.LayerALEResourceAssignmentV4, wfp.ActionBlock, 0, wfp.Value{}, port(443))
	fl.Local = netip.AddrPort{}
	if d, _ = arbiter.Evaluate(arbiter.Set{Sublayers: []*wfp.Sublayer{sub}, Filters: []*wfp.Filter{remoteAtBind}}, fl); d.Action != arbiter.Permit || len(d.NotEvaluated) != 0 {
		t.Fatalf("remote port at RESOURCE_ASSIGNMENT: %s, NotEvaluated %v\n%s", d.Action, d.NotEvaluated, d.Text())
	}
}

// TestMappedCaution: when the V4 classification of a ::ffff: address would decide
// differently, the decision carries a caution; when it would not, none.
func TestMappedCaution(t *testing.T) {
	sub := sublayer(thirdSublayer, "s", 1)
	v4only := filter("block 8.8.8.8", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionBlock, 0, wfp.Value{},
		wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("8.8.8.8/32"))})
	set := arbiter.Set{Sublayers: []*wfp.Sublayer{sub}, Filters: []*wfp.Filter{v4only}}
	d := evaluate(t, set, arbiter.ProtoTCP, "[::ffff:8.8.8.8]:443")
	if d.Action != arbiter.Permit || len(d.Cautions) != 1 || !strings.Contains(d.Cautions[0], "the result is block") {
		t.Fatalf("V6 classification: %s, cautions %q", d.Action, d.Cautions)
	}
	if d := evaluate(t, set, arbiter.ProtoTCP, "[::ffff:9.9.9.9]:443"); len(d.Cautions) != 0 {
		t.Fatalf("cautions %q where both classifications permit", d.Cautions)
	}
}
