package arbiter

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// These tests use only arbiter's exported API (Evaluate as the reference matcher).

var witnessUser = func() account.SID {
	s, err := account.ParseSID("S-1-5-21-1111111111-2222222222-3333333333-1001")
	if err != nil {
		panic(err)
	}
	return s
}()

// matches asks Evaluate whether f matches flow at layer: f, made a block alone in a
// sublayer, decides the layer exactly when it matches.
func matches(t *testing.T, flow Flow, layer wfp.LayerID, f *wfp.Filter) bool {
	t.Helper()
	c := f.Clone()
	c.Action, c.Layer, c.Flags = wfp.Action{Type: wfp.ActionBlock}, layer, 0
	d, err := Evaluate(Set{Filters: []*wfp.Filter{c}}, flow)
	if err != nil {
		t.Fatalf("Evaluate %s: %v", flow, err)
	}
	for _, ld := range d.Layers {
		if ld.Layer == layer {
			return ld.Action == Block && ld.Filter == c
		}
	}
	t.Fatalf("flow %s is not evaluated at %s", flow, layer)
	return false
}

func cond(field wfp.FieldID, m wfp.MatchType, v wfp.Value) wfp.Condition {
	return wfp.Condition{Field: field, Match: m, Value: v}
}

func filterAt(layer wfp.LayerID, conds ...wfp.Condition) *wfp.Filter {
	return &wfp.Filter{Layer: layer, Conditions: conds, Action: wfp.Action{Type: wfp.ActionPermit}}
}

func userSD(t *testing.T, sddl string) wfp.Value {
	t.Helper()
	sd, err := account.ParseSDDL(sddl)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sd.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return wfp.SD(b)
}

// matchesAll checks a witness with the arbiter's own matcher: every filter must match.
func matchesAll(t *testing.T, flow Flow, layer wfp.LayerID, fs ...*wfp.Filter) {
	t.Helper()
	if err := flow.Validate(); err != nil {
		t.Fatalf("witness %s is not a valid flow: %v", flow, err)
	}
	for i, f := range fs {
		if !matches(t, flow, layer, f) {
			t.Fatalf("witness %s does not match filter %d: %+v", flow, i, f.Conditions)
		}
	}
}

func TestWitnessesExamples(t *testing.T) {
	v4c, v6c, bind4 := wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV6, wfp.LayerALEResourceAssignmentV4
	tok, err := TokenFor(TokenNormal, witnessUser)
	if err != nil {
		t.Fatal(err)
	}
	dns := filterAt(v4c, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(53)))
	tests := []struct {
		name    string
		layer   wfp.LayerID
		filters []*wfp.Filter
		want    bool
		proto   uint8  // of the first witness, when want
		remote  string // of the first witness, when want and not ""
	}{
		{"same port", v4c, []*wfp.Filter{dns, filterAt(v4c, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(53)))}, true, ProtoTCP, "10.0.0.1:53"},
		{"other port", v4c, []*wfp.Filter{dns, filterAt(v4c, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(54)))}, false, 0, ""},
		{"port range holding 53", v4c, []*wfp.Filter{dns, filterAt(v4c, cond(wfp.FieldIPRemotePort, wfp.MatchRange, wfp.RangeOf(wfp.U16(50), wfp.U16(60))))}, true, ProtoTCP, "10.0.0.1:53"},
		{"port >= 54", v4c, []*wfp.Filter{dns, filterAt(v4c, cond(wfp.FieldIPRemotePort, wfp.MatchGreaterOrEqual, wfp.U16(54)))}, false, 0, ""},
		{"UDP only", v4c, []*wfp.Filter{dns, filterAt(v4c, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoUDP)))}, true, ProtoUDP, "10.0.0.1:53"},
		{"protocol 1 or 17 ORed", v4c, []*wfp.Filter{dns, filterAt(v4c,
			cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoICMP)), cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoUDP)))}, true, ProtoUDP, ""},
		{"ICMP against a TCP-only filter", v4c, []*wfp.Filter{
			filterAt(v4c, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoICMP))),
			filterAt(v4c, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoTCP)))}, false, 0, ""},
		{"remote address disjoint", v4c, []*wfp.Filter{
			filterAt(v4c, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.AddrMask(netip.MustParsePrefix("127.0.0.0/8")))),
			filterAt(v4c, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.AddrMask(netip.MustParsePrefix("10.0.0.0/8"))))}, false, 0, ""},
		{"not loopback vs 127.0.0.1", v4c, []*wfp.Filter{
			filterAt(v4c, cond(wfp.FieldIPRemoteAddress, wfp.MatchNotPrefix, wfp.AddrMask(netip.MustParsePrefix("127.0.0.0/8")))),
			filterAt(v4c, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.U32(0x7f000001)))}, false, 0, ""},
		{"address as FWP_UINT32 inside a prefix", v4c, []*wfp.Filter{
			filterAt(v4c, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.AddrMask(netip.MustParsePrefix("192.168.0.0/16")))),
			filterAt(v4c, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.U32(0xc0a80505)))}, true, ProtoTCP, "192.168.5.5:443"},
		{"v6 range", v6c, []*wfp.Filter{
			filterAt(v6c, cond(wfp.FieldIPRemoteAddress, wfp.MatchRange, wfp.RangeOf(
				wfp.Value{Type: wfp.ByteArray16, Bytes: netip.MustParseAddr("2001:db8::10").AsSlice()},
				wfp.Value{Type: wfp.ByteArray16, Bytes: netip.MustParseAddr("2001:db8::20").AsSlice()}))),
			filterAt(v6c, cond(wfp.FieldIPRemoteAddress, wfp.MatchGreater, wfp.Value{Type: wfp.ByteArray16, Bytes: netip.MustParseAddr("2001:db8::1f").AsSlice()}))},
			true, ProtoTCP, "[2001:db8::20]:443"},
		{"remote port at bind is never offered", bind4, []*wfp.Filter{
			filterAt(bind4), filterAt(bind4, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(53)))}, false, 0, ""},
		{"another account only", v4c, []*wfp.Filter{dns, filterAt(v4c,
			cond(wfp.FieldALEUserID, wfp.MatchEqual, userSD(t, "D:(A;;CC;;;S-1-5-21-1111111111-2222222222-3333333333-1002)")))}, false, 0, ""},
		{"this account", v4c, []*wfp.Filter{dns, filterAt(v4c,
			cond(wfp.FieldALEUserID, wfp.MatchEqual, userSD(t, "D:(A;;CC;;;S-1-5-21-1111111111-2222222222-3333333333-1001)")))}, true, ProtoTCP, "10.0.0.1:53"},
		{"ICMP echo type excluded by local port", v4c, []*wfp.Filter{
			filterAt(v4c, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoICMP))),
			filterAt(v4c, cond(wfp.FieldIPLocalPort, wfp.MatchEqual, wfp.U16(0)))}, false, 0, ""},
		{"ICMP with echo type", v4c, []*wfp.Filter{
			filterAt(v4c, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoICMP))),
			filterAt(v4c, cond(wfp.FieldIPLocalPort, wfp.MatchEqual, wfp.U16(8)))}, true, ProtoICMP, "10.0.0.1:0"},
		{"ICMPv6 at a V4 layer", v4c, []*wfp.Filter{filterAt(v4c, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(ProtoICMPv6)))}, false, 0, ""},
		{"local port forces a local address", v4c, []*wfp.Filter{dns, filterAt(v4c, cond(wfp.FieldIPLocalPort, wfp.MatchGreater, wfp.U16(60000)))}, true, ProtoTCP, "10.0.0.1:53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ov, err := Witnesses(tt.layer, tok, 4, tt.filters...)
			if err != nil {
				t.Fatal(err)
			}
			if ov.TokenOnly != (tt.name == "another account only") {
				t.Errorf("TokenOnly %v", ov.TokenOnly)
			}
			if got := len(ov.Flows) > 0; got != tt.want {
				t.Fatalf("overlap %v, want %v (flows %v)", got, tt.want, ov.Flows)
			}
			if len(ov.Undecided) > 0 {
				t.Errorf("undecided %v, want none", ov.Undecided)
			}
			for _, fl := range ov.Flows {
				matchesAll(t, fl, tt.layer, tt.filters...)
			}
			if !tt.want {
				return
			}
			first := ov.Flows[0]
			if first.Protocol != tt.proto {
				t.Errorf("first witness %s: protocol %d, want %d", first, first.Protocol, tt.proto)
			}
			if tt.remote != "" && first.Remote.String() != tt.remote {
				t.Errorf("first witness %s: remote %s, want %s", first, first.Remote, tt.remote)
			}
		})
	}
}

// TestWitnessesUndecided: a condition on a field a Flow does not carry is "may match",
// reported, and does not stop the other fields from being intersected.
func TestWitnessesUndecided(t *testing.T) {
	tok, _ := TokenFor(TokenNormal, witnessUser)
	l := wfp.LayerALEAuthConnectV4
	appID := cond(wfp.FieldALEAppID, wfp.MatchEqual, wfp.Value{Type: wfp.ByteBlob, Bytes: []byte("x\x00")})
	ov, err := Witnesses(l, tok, 4, filterAt(l, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(53))), filterAt(l, appID))
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Flows) == 0 || !slices.Equal(ov.Undecided, []wfp.FieldID{wfp.FieldALEAppID}) {
		t.Fatalf("flows %v undecided %v, want flows and ALE_APP_ID", ov.Flows, ov.Undecided)
	}
	ov, _ = Witnesses(l, tok, 4, filterAt(l, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(53))),
		filterAt(l, appID, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(54))))
	if len(ov.Flows) != 0 {
		t.Fatalf("disjoint ports with an undecided field: flows %v", ov.Flows)
	}
	if _, err := Witnesses(wfp.LayerALEAuthListenV4, tok, 1); err == nil {
		t.Error("a layer explain does not evaluate: no error")
	}
}

// TestWitnessesAgainstBruteForce compares the set algebra with Evaluate on random
// conditions over protocol and remote port: when Witnesses finds no flow, no value in a
// domain covering every boundary matches both filters; every witness matches both.
func TestWitnessesAgainstBruteForce(t *testing.T) {
	tok, _ := TokenFor(TokenNormal, witnessUser)
	l := wfp.LayerALEAuthConnectV4
	r := rand.New(rand.NewPCG(1, 2))
	matchTypes := []wfp.MatchType{wfp.MatchEqual, wfp.MatchNotEqual, wfp.MatchGreater, wfp.MatchLess, wfp.MatchGreaterOrEqual, wfp.MatchLessOrEqual, wfp.MatchRange}
	randCond := func(field wfp.FieldID, maxV uint64, mk func(uint64) wfp.Value) wfp.Condition {
		m := matchTypes[r.IntN(len(matchTypes))]
		if m == wfp.MatchRange {
			a, b := r.Uint64N(maxV), r.Uint64N(maxV)
			return cond(field, m, wfp.RangeOf(mk(min(a, b)), mk(max(a, b))))
		}
		return cond(field, m, mk(r.Uint64N(maxV)))
	}
	// Condition values are below 8 (protocols) and 12 (ports): every value above
	// behaves like 9 (13), and the maximum covers the edge of NOT_EQUAL and GREATER.
	randFilter := func() *wfp.Filter {
		f := filterAt(l)
		for range r.IntN(3) {
			f.Conditions = append(f.Conditions, randCond(wfp.FieldIPProtocol, 8, func(v uint64) wfp.Value { return wfp.U8(uint8(v)) }))
		}
		for range r.IntN(3) {
			f.Conditions = append(f.Conditions, randCond(wfp.FieldIPRemotePort, 12, func(v uint64) wfp.Value { return wfp.U16(uint16(v)) }))
		}
		return f
	}
	var ports []uint16
	for p := range 14 {
		ports = append(ports, uint16(p))
	}
	ports = append(ports, 443, 65535)
	var protos []uint8
	for p := range 10 {
		protos = append(protos, uint8(p))
	}
	protos = append(protos, ProtoTCP, ProtoUDP, 255)
	const cases = 300
	overlaps := 0
	for i := range cases {
		a, b := randFilter(), randFilter()
		ov, err := Witnesses(l, tok, 2, a, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, fl := range ov.Flows {
			matchesAll(t, fl, l, a, b)
		}
		found := false
	search:
		for _, proto := range protos {
			for _, port := range ports {
				fl := Flow{Protocol: proto, Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port), Token: tok}
				if matches(t, fl, l, a) && matches(t, fl, l, b) {
					found = true
					break search
				}
			}
		}
		if found != (len(ov.Flows) > 0) {
			t.Fatalf("case %d: brute force overlap %v, Witnesses %v\na: %+v\nb: %+v", i, found, ov.Flows, a.Conditions, b.Conditions)
		}
		if found {
			overlaps++
		}
	}
	if overlaps == 0 || overlaps == cases {
		t.Fatalf("%d of %d random pairs overlap: the test does not exercise both outcomes", overlaps, cases)
	}
}
