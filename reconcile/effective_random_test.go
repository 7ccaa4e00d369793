package reconcile

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestOverridesAgainstExhaustiveSearch: for random foreign filters, whenever an
// exhaustive search over a grid of flows and token kinds finds one that the filter
// lets through past one of the account's blocks (blocked by the account's policy at
// the filter's layer without it; permitted, and decided at that layer by it, with it),
// the analysis reports the filter: its witness construction does not miss what a
// search finds. The account's sublayer sits at 0x8000 so that sublayers above, tied
// and below all occur; a random foreign block may sit above everything. It runs on both
// layouts (deny: the account's own sublayer with guard permits and unconditioned
// filters; allow: the shared sublayer with D:(A;;CC;;;SID) on every filter), for the
// baseline and the strict profile (whose soft loopback permits sit between the blocks).
//
// The random conditions use only the match types Microsoft's FWP_MATCH_TYPE reference
// allows for their value types (fwptypes.h,
// https://learn.microsoft.com/windows/win32/api/fwptypes/ne-fwptypes-fwp_match_type),
// which the contract engine enforces at add (wfp/memengine/matchtypes.go): EQUAL for
// every type; NOT_EQUAL, GREATER, LESS and RANGE only for sortable ones (integers:
// protocol, port, an IPv4 address as FWP_UINT32). An address mask takes only EQUAL
// there, so "not in the prefix" (NOT_EQUAL on a mask before) is written as the two
// FWP_UINT32 ranges around it, ORed (conditions on one field are ORed, wfp-facts §1):
// the same set of flows.
func TestOverridesAgainstExhaustiveSearch(t *testing.T) {
	for _, tc := range []struct {
		m       policy.UserMatch
		profile policy.Profile
		minimum int // of 100 cases, at least this many have an override
	}{
		{policy.MatchDeny, policy.Baseline, 8},
		{policy.MatchAllow, policy.Baseline, 8},
		{policy.MatchDeny, policy.Strict, 8},
		{policy.MatchAllow, policy.Strict, 8},
	} {
		t.Run(string(tc.m)+"/"+string(tc.profile), func(t *testing.T) {
			p, err := policy.Build(policy.Options{SID: sidA, Profile: tc.profile, UserMatch: tc.m})
			if err != nil {
				t.Fatal(err)
			}
			testOverridesAgainstExhaustiveSearch(t, p, tc.minimum)
		})
	}
}

// addrRange is the FWP_UINT32 range of the IPv4 prefix p.
func addrRange(p netip.Prefix) (lo, hi uint32) {
	b := p.Masked().Addr().As4()
	lo = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return lo, lo | (1<<(32-p.Bits()) - 1)
}

func testOverridesAgainstExhaustiveSearch(t *testing.T, built *policy.Plan, minimum int) {
	plan := clonePlan(built)
	plan.Sublayer.Weight = 0x8000
	r := rand.New(rand.NewPCG(7, 11))
	ns := wfp.MustParseGUID("5e5e5e5e-0000-4000-8000-0000000000ff")
	pk := wfp.NameGUID(ns, "provider")
	subAt := func(w uint16) *wfp.Sublayer {
		return &wfp.Sublayer{Key: wfp.NameGUID(ns, string(rune(w))), Name: "s", ProviderKey: &pk, Weight: w}
	}
	sid, _ := account.ParseSID(sidA)
	var tokens []arbiter.Token
	for _, k := range arbiter.TokenKinds {
		tok, _ := arbiter.TokenFor(k, sid)
		tokens = append(tokens, tok)
	}
	protos := []uint8{policy.ProtoTCP, policy.ProtoUDP, policy.ProtoICMP, 47}
	ports := []uint16{0, 53, 139, 443, 445, 853, 8080}
	addrs := []string{"10.0.0.1", "127.0.0.1", "203.0.113.5"}
	layers := []wfp.LayerID{v4connect, v4connect, v4bind}
	randConds := func(layer wfp.LayerID) []wfp.Condition {
		var cs []wfp.Condition
		if r.IntN(2) == 0 {
			cs = append(cs, wfp.Condition{Field: wfp.FieldIPProtocol, Match: []wfp.MatchType{wfp.MatchEqual, wfp.MatchNotEqual}[r.IntN(2)], Value: wfp.U8(protos[r.IntN(len(protos))])})
		}
		if layer != v4bind && r.IntN(2) == 0 {
			m := []wfp.MatchType{wfp.MatchEqual, wfp.MatchNotEqual, wfp.MatchGreater, wfp.MatchLess}[r.IntN(4)]
			cs = append(cs, wfp.Condition{Field: wfp.FieldIPRemotePort, Match: m, Value: wfp.U16(ports[r.IntN(len(ports))])})
		}
		if layer != v4bind && r.IntN(3) == 0 {
			p := netip.MustParsePrefix([]string{"10.0.0.0/8", "127.0.0.0/8", "203.0.113.0/24"}[r.IntN(3)])
			lo, hi := addrRange(p)
			field := wfp.FieldIPRemoteAddress
			switch r.IntN(4) {
			case 0: // in the prefix, as a mask
				cs = append(cs, wfp.Condition{Field: field, Match: wfp.MatchEqual, Value: wfp.AddrMask(p)})
			case 1: // in the prefix, as a range
				cs = append(cs, wfp.Condition{Field: field, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U32(lo), wfp.U32(hi))})
			case 2: // not in the prefix: the ranges below and above it
				cs = append(cs,
					wfp.Condition{Field: field, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U32(0), wfp.U32(lo-1))},
					wfp.Condition{Field: field, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U32(hi+1), wfp.U32(0xFFFFFFFF))})
			case 3: // not the prefix's first host (10.0.0.1, 127.0.0.1, 203.0.113.1)
				cs = append(cs, wfp.Condition{Field: field, Match: wfp.MatchNotEqual, Value: wfp.U32(lo + 1)})
			}
		}
		if r.IntN(4) == 0 {
			cs = append(cs, onlyUser(t, []string{sidA, sidB}[r.IntN(2)]))
		}
		return cs
	}
	found := 0
	for i := range 100 {
		w := newWorld(t)
		w.install(t, plan)
		var f *wfp.Filter
		w.mutate(t, func(e wfp.Engine) error {
			if err := e.AddProvider(&wfp.Provider{Key: pk, Name: "random", Flags: wfp.ProviderFlagPersistent}); err != nil {
				return err
			}
			fw := []uint16{0x8800, 0x8000, 0x7000}[r.IntN(3)]
			fs, top := subAt(fw), subAt(0x9000)
			for _, s := range []*wfp.Sublayer{fs, top} {
				s.Flags = wfp.SublayerFlagPersistent
				if err := e.AddSublayer(s); err != nil {
					return err
				}
			}
			layer := layers[r.IntN(len(layers))]
			flags := wfp.FilterFlagPersistent
			if r.IntN(4) != 0 {
				flags |= wfp.FilterFlagClearActionRight
			}
			f = &wfp.Filter{Key: wfp.NameGUID(ns, "f"), Name: "f", Flags: flags, ProviderKey: &pk, Layer: layer, Sublayer: fs.Key,
				Conditions: randConds(layer), Action: wfp.Action{Type: wfp.ActionPermit}}
			if _, err := e.AddFilter(f); err != nil {
				return err
			}
			if r.IntN(2) == 0 {
				gl := layers[r.IntN(len(layers))]
				g := &wfp.Filter{Key: wfp.NameGUID(ns, "g"), Name: "g", Flags: wfp.FilterFlagPersistent, ProviderKey: &pk, Layer: gl, Sublayer: top.Key,
					Conditions: randConds(gl), Action: wfp.Action{Type: wfp.ActionBlock}}
				if _, err := e.AddFilter(g); err != nil {
					return err
				}
			}
			return nil
		})
		e := w.session(t)
		all, _ := e.Filters(nil)
		subs, _ := e.Sublayers(nil)
		var fi *wfp.Filter
		for _, x := range all {
			if x.Key == f.Key {
				fi = x
			}
		}
		// The exhaustive search, with f's sublayer first among equal weights.
		ordered := firstAmongEquals(subs, func(s *wfp.Sublayer) bool { return s.Key == fi.Sublayer })
		var without []*wfp.Filter
		for _, x := range all {
			if x != fi {
				without = append(without, x)
			}
		}
		truth := ""
	search:
		for _, tok := range tokens {
			for _, p := range protos {
				for _, port := range ports {
					for _, a := range addrs {
						fl := arbiter.Flow{Protocol: p, Remote: netip.AddrPortFrom(netip.MustParseAddr(a), port), Token: tok}
						dw, err1 := arbiter.Evaluate(arbiter.Set{Filters: without, Sublayers: ordered}, fl)
						d, err2 := arbiter.Evaluate(arbiter.Set{Filters: all, Sublayers: ordered}, fl)
						if err1 != nil || err2 != nil {
							continue
						}
						base, _ := layerOf(dw, fi.Layer)
						got, _ := layerOf(d, fi.Layer)
						if base.Action == arbiter.Block && base.Filter != nil && wfp.SameProvider(base.Filter.ProviderKey, &plan.Provider.Key) &&
							d.Action == arbiter.Permit && got.Filter == fi {
							truth = fl.String()
							break search
						}
					}
				}
			}
		}
		rep, err := Verify(e, plan)
		if err != nil {
			t.Fatal(err)
		}
		reported := false
		for _, fd := range rep.Findings {
			if fd.Key != fi.Key || fd.Override == nil {
				continue
			}
			reported = true
			// The reported witness, evaluated over every installed filter (the analysis
			// prunes what it evaluates), must meet the same test.
			o := fd.Override
			p, err := arbiter.ParseProto(o.Flow.Protocol)
			if err != nil {
				p = 47
			}
			fl := arbiter.Flow{Protocol: p, Remote: netip.MustParseAddrPort(o.Flow.Remote)}
			for k, kind := range arbiter.TokenKinds {
				if string(kind) == o.Flow.Token {
					fl.Token = tokens[k]
				}
			}
			dw, err1 := arbiter.Evaluate(arbiter.Set{Filters: without, Sublayers: ordered}, fl)
			d, err2 := arbiter.Evaluate(arbiter.Set{Filters: all, Sublayers: ordered}, fl)
			base, _ := layerOf(dw, fi.Layer)
			got, _ := layerOf(d, fi.Layer)
			if err1 != nil || err2 != nil || base.Action != arbiter.Block || d.Action != arbiter.Permit || got.Filter != fi {
				t.Errorf("case %d: reported witness %s is not an override over all filters: without %s, with %s by %v", i, o.Flow.Text, base.Action, d.Action, got.Filter)
			}
		}
		if truth != "" && !reported {
			t.Errorf("case %d: the search finds %s let through by %+v (flags %s, sublayer weight %#x), verify reports nothing: %+v",
				i, truth, fi.Conditions, fi.Flags, subsWeight(subs, fi.Sublayer), rep.Findings)
		}
		if truth != "" {
			found++
		}
	}
	t.Logf("%d of 100 random cases have an override", found)
	if found < minimum {
		t.Fatalf("only %d of 100 random cases have an override (want %d): the test does not exercise the analysis", found, minimum)
	}
}

func subsWeight(subs []*wfp.Sublayer, k wfp.GUID) uint16 {
	for _, s := range subs {
		if s.Key == k {
			return s.Weight
		}
	}
	return 0
}
