package arbiter

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Overlap is the result of Witnesses: flows that match every filter given, for one
// token, at one layer.
type Overlap struct {
	// Flows are concrete flows that satisfy every condition the model decides, at most
	// the number asked for, the most ordinary first (TCP before UDP before ICMP,
	// 10.0.0.1 / fd00::1 and port 443 when they are allowed). Empty when the filters
	// provably cannot match one flow together.
	Flows []Flow
	// Undecided are the fields of conditions the model cannot decide (fields a Flow
	// does not carry — application ID, interface, flags, … — or value and match types
	// it does not model). They were counted as "may match": the overlap is
	// conservative on them. Empty when the overlap is exact.
	Undecided []wfp.FieldID
	// TokenOnly is true when Flows is empty only because of the ALE_USER_ID or
	// ALE_PACKAGE_ID conditions: another token may still overlap. When Flows is
	// empty and TokenOnly false, no token can.
	TokenOnly bool
}

// Witnesses decides whether one flow can match all of filters at layer for a process
// running with token, and constructs up to maxFlows such flows.
//
// Filter conditions are ANDed across fields and ORed within a field (wfp-facts §1,
// DOC:fwp/filter-arbitration; FWPM_FILTER0 filterCondition:
// https://learn.microsoft.com/en-us/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter0).
// So for every field the set of values each filter accepts is computed — the union of
// its conditions on that field — and the sets of all filters intersected:
//
//   - IP_PROTOCOL, IP_REMOTE_PORT, IP_LOCAL_PORT: integer ranges (EQUAL, NOT_EQUAL,
//     GREATER/LESS(_OR_EQUAL), RANGE on FWP_UINT8/16/32/64);
//   - IP_REMOTE_ADDRESS, IP_LOCAL_ADDRESS: address ranges (FWP_UINT32 IPv4 and
//     FWP_BYTE_ARRAY16_TYPE IPv6 values, FWP_V4/V6_ADDR_MASK prefixes with EQUAL,
//     PREFIX, NOT_EQUAL, NOT_PREFIX, and RANGE), an IPv4 layer taking IPv4 values and
//     an IPv6 layer 16-byte ones, as Evaluate matches them;
//   - ALE_USER_ID and ALE_PACKAGE_ID are not sets: they are evaluated for token, with
//     the access check Evaluate uses (Token.MatchFilterGranted);
//   - a field not offered at layer (wfp.FieldAvailable) never matches;
//   - any other field, value type or match type is Undecided ("may match").
//
// ICMP follows Flow: the local port of an ICMP flow is its type, an echo request, so an
// ICMP witness exists only when the local-port set holds it. Protocol 1 is not taken at
// an IPv6 layer nor 58 at an IPv4 one (Flow.Validate refuses them).
//
// Witnesses only matches conditions; whether a flow reaches the filters (weights,
// sublayers, other filters) is for Evaluate. It returns an error for a layer Flow is
// never classified at (only ALE_RESOURCE_ASSIGNMENT, ALE_AUTH_CONNECT and
// ALE_AUTH_RECV_ACCEPT, V4 and V6, are).
func Witnesses(layer wfp.LayerID, token Token, maxFlows int, filters ...*wfp.Filter) (Overlap, error) {
	dir, ok := layerDirection(layer)
	if !ok {
		return Overlap{}, fmt.Errorf("witness: layer %s is not one explain evaluates", layer)
	}
	v6 := wfp.LayerIsV6(layer)
	sets := map[wfp.FieldID]spans{}
	for _, f := range setFields {
		sets[f] = fullSpans(fieldMax(f, v6))
	}
	// Flow.Validate: ICMP only on V4, ICMPv6 only on V6.
	if v6 {
		sets[wfp.FieldIPProtocol] = sets[wfp.FieldIPProtocol].minus(uint64(ProtoICMP))
	} else {
		sets[wfp.FieldIPProtocol] = sets[wfp.FieldIPProtocol].minus(uint64(ProtoICMPv6))
	}
	constrained := map[wfp.FieldID]bool{}
	undecided := map[wfp.FieldID]bool{}
	type group struct {
		field wfp.FieldID
		conds []wfp.Condition
	}
	var tokenGroups []group // evaluated last: an access check costs more than a range
	for _, filt := range filters {
		var order []wfp.FieldID
		groups := map[wfp.FieldID][]wfp.Condition{}
		for _, c := range filt.Conditions {
			if _, seen := groups[c.Field]; !seen {
				order = append(order, c.Field)
			}
			groups[c.Field] = append(groups[c.Field], c)
		}
		for _, field := range order {
			if avail, known := wfp.FieldAvailable(layer, field); known && !avail {
				return Overlap{}, nil // never matches at this layer
			}
			conds := groups[field]
			if field == wfp.FieldALEUserID || field == wfp.FieldALEPackageID {
				tokenGroups = append(tokenGroups, group{field, conds})
				continue
			}
			if _, isSet := sets[field]; !isSet {
				undecided[field] = true
				continue
			}
			u, ok := unionOf(field, conds, v6)
			if !ok {
				undecided[field] = true
				continue
			}
			sets[field] = sets[field].intersect(u)
			constrained[field] = true
		}
	}
	for _, s := range sets {
		if len(s) == 0 {
			return Overlap{}, nil
		}
	}
	for _, g := range tokenGroups {
		switch tokenField(token, g.field, g.conds) {
		case vNo:
			return Overlap{TokenOnly: true}, nil
		case vUnknown:
			undecided[g.field] = true
		}
	}
	ov := Overlap{}
	for f := range undecided {
		ov.Undecided = append(ov.Undecided, f)
	}
	slices.SortFunc(ov.Undecided, func(a, b wfp.FieldID) int { return cmp.Compare(a.String(), b.String()) })

	icmpType := uint64(witnessEchoV4)
	if v6 {
		icmpType = witnessEchoV6
	}
	defaultRemote, defaultLocal := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	if v6 {
		defaultRemote, defaultLocal = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	}
	protos := candidates(sets[wfp.FieldIPProtocol], false, num(ProtoTCP), num(ProtoUDP), num(ProtoICMP), num(ProtoICMPv6))
	raddrs := candidates(sets[wfp.FieldIPRemoteAddress], true, addrNum(defaultRemote))
	laddrs := candidates(sets[wfp.FieldIPLocalAddress], true, addrNum(defaultLocal))
	lports := candidates(sets[wfp.FieldIPLocalPort], false, num(uint16(49152)))
	// Flows per protocol, then taken in turn (the first of each protocol, then the
	// second, …), so that a few flows cover every protocol the filters allow.
	var perProto [][]Flow
	for _, p := range protos {
		isICMP := p.lo == uint64(ProtoICMP) || p.lo == uint64(ProtoICMPv6)
		lp := lports
		rports := candidates(sets[wfp.FieldIPRemotePort], false, num(uint16(443)))
		if isICMP {
			// IP_REMOTE_PORT is the ICMP code, IP_LOCAL_PORT the type (fwpmu.h
			// FWPM_CONDITION_ICMP_CODE, FWPM_CONDITION_ICMP_TYPE): code 0 when allowed,
			// and the type of an echo request, which is what a Flow carries.
			rports = candidates(sets[wfp.FieldIPRemotePort], false, num(uint16(0)))
			if !sets[wfp.FieldIPLocalPort].contains(u128{lo: icmpType}) {
				continue
			}
			lp = []u128{{lo: icmpType}}
		}
		var flows []Flow
		for _, ra := range raddrs {
			for _, rp := range rports {
				for _, la := range laddrs {
					for _, lpt := range lp {
						// Local address and port only when a filter constrains them:
						// otherwise the flow leaves them unknown, as explain does.
						fl := Flow{Direction: dir, Protocol: uint8(p.lo), Token: token,
							Remote: netip.AddrPortFrom(numAddr(ra, v6), uint16(rp.lo))}
						if constrained[wfp.FieldIPLocalAddress] || constrained[wfp.FieldIPLocalPort] && !isICMP {
							fl.Local = netip.AddrPortFrom(numAddr(la, v6), uint16(lpt.lo))
						}
						if !slices.ContainsFunc(flows, func(x Flow) bool { return x.Remote == fl.Remote && x.Local == fl.Local }) {
							flows = append(flows, fl)
						}
					}
				}
			}
		}
		perProto = append(perProto, flows)
	}
	for i := 0; len(ov.Flows) < maxFlows; i++ {
		added := false
		for _, flows := range perProto {
			if i < len(flows) && len(ov.Flows) < maxFlows {
				ov.Flows = append(ov.Flows, flows[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return ov, nil
}

// This file uses only what arbiter exports (Token.MatchFilterGranted, Flow, the Proto
// constants) and keeps its own small helpers, so that it stands apart from the
// evaluator's internals.

// verdict is a condition's result for a token: WFP knows only yes and no; vUnknown
// means the condition is not modelled.
type verdict uint8

const (
	vNo verdict = iota
	vYes
	vUnknown
)

func verdictOf(b bool) verdict {
	if b {
		return vYes
	}
	return vNo
}

// witnessNullSID is S-1-0-0, the ALE_PACKAGE_ID of a process outside an AppContainer.
var witnessNullSID = func() account.SID {
	s, err := account.ParseSID("S-1-0-0")
	if err != nil {
		panic(err)
	}
	return s
}()

// ICMP types of the echo requests a Flow carries as its IP_LOCAL_PORT (ICMP_TYPE):
// 8 for ICMP, 128 for ICMPv6 (RFC 792, RFC 4443).
const (
	witnessEchoV4 = 8
	witnessEchoV6 = 128
)

// setFields are the fields Witnesses treats as value sets.
var setFields = []wfp.FieldID{wfp.FieldIPProtocol, wfp.FieldIPRemotePort, wfp.FieldIPLocalPort, wfp.FieldIPRemoteAddress, wfp.FieldIPLocalAddress}

// layerDirection is the direction of the flows classified at layer (Flow.Layers).
func layerDirection(l wfp.LayerID) (Direction, bool) {
	switch l {
	case wfp.LayerALEResourceAssignmentV4, wfp.LayerALEResourceAssignmentV6, wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV6:
		return Outbound, true
	case wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEAuthRecvAcceptV6:
		return Inbound, true
	}
	return 0, false
}

func fieldMax(f wfp.FieldID, v6 bool) u128 {
	switch f {
	case wfp.FieldIPProtocol:
		return u128{lo: math.MaxUint8}
	case wfp.FieldIPRemotePort, wfp.FieldIPLocalPort:
		return u128{lo: math.MaxUint16}
	}
	if v6 {
		return u128{hi: math.MaxUint64, lo: math.MaxUint64}
	}
	return u128{lo: math.MaxUint32}
}

// tokenField evaluates the ALE_USER_ID or ALE_PACKAGE_ID conditions of one filter for
// token: ORed, as Evaluate does (an access check per FWP_SECURITY_DESCRIPTOR_TYPE
// condition; the package SID, S-1-0-0 outside an AppContainer, per FWP_SID one).
func tokenField(t Token, field wfp.FieldID, conds []wfp.Condition) verdict {
	result := vNo
	for _, c := range conds {
		var got verdict
		if field == wfp.FieldALEUserID {
			got = userCondition(t, c)
		} else {
			got = packageCondition(t, c)
		}
		if got == vYes {
			return vYes
		}
		if got == vUnknown {
			result = vUnknown
		}
	}
	return result
}

func userCondition(t Token, c wfp.Condition) verdict {
	if c.Value.Type != wfp.SecurityDescriptor {
		return vUnknown
	}
	sd, err := account.ParseSD(c.Value.Bytes)
	if err != nil {
		return vUnknown
	}
	granted, _ := t.MatchFilterGranted(sd)
	switch c.Match {
	case wfp.MatchEqual:
		return verdictOf(granted)
	case wfp.MatchNotEqual: // read as Evaluate reads it (wfp-facts §2; undocumented for an SD)
		return verdictOf(!granted)
	}
	return vUnknown
}

func packageCondition(t Token, c wfp.Condition) verdict {
	if c.Value.Type != wfp.SID {
		return vUnknown
	}
	want, err := account.SIDFromBytes(c.Value.Bytes)
	if err != nil {
		return vUnknown
	}
	have := witnessNullSID
	if t.AppContainer != nil {
		have = *t.AppContainer
	}
	switch c.Match {
	case wfp.MatchEqual:
		return verdictOf(have == want)
	case wfp.MatchNotEqual:
		return verdictOf(have != want)
	}
	return vUnknown
}

// unionOf is the set of values one filter's conditions on field accept (ORed); ok is
// false when one of them is not modelled.
func unionOf(field wfp.FieldID, conds []wfp.Condition, v6 bool) (spans, bool) {
	top := fieldMax(field, v6)
	isAddr := field == wfp.FieldIPRemoteAddress || field == wfp.FieldIPLocalAddress
	var u spans
	for _, c := range conds {
		s, ok := conditionSet(c, top, isAddr, v6)
		if !ok {
			return nil, false
		}
		u = u.union(s)
	}
	return u, true
}

// conditionSet is the set of values one condition accepts, the way matchCondition
// decides it.
func conditionSet(c wfp.Condition, top u128, isAddr, v6 bool) (spans, bool) {
	if c.Match == wfp.MatchRange {
		if c.Value.Type != wfp.Range || c.Value.Low == nil || c.Value.High == nil {
			return nil, false
		}
		lo, okLo := scalar(*c.Value.Low, isAddr, v6)
		hi, okHi := scalar(*c.Value.High, isAddr, v6)
		if !okLo || !okHi {
			return nil, false
		}
		return spans{{lo, hi}}.intersect(fullSpans(top)), true
	}
	if c.Value.Type == wfp.V4AddrMask || c.Value.Type == wfp.V6AddrMask {
		if !isAddr {
			return nil, false
		}
		var in spans // empty when the prefix is of the other family: it contains nothing here
		if p := c.Value.Prefix; p.IsValid() && p.Addr().Is4() != v6 {
			p = p.Masked()
			first := addrNum(p.Addr())
			bits := 32
			if v6 {
				bits = 128
			}
			in = spans{{first, first.or(hostMask(bits - p.Bits()))}}
		}
		switch c.Match {
		case wfp.MatchEqual, wfp.MatchPrefix:
			return in, true
		case wfp.MatchNotEqual, wfp.MatchNotPrefix:
			return in.complement(top), true
		}
		return nil, false
	}
	v, ok := scalar(c.Value, isAddr, v6)
	if !ok {
		return nil, false
	}
	var s spans
	switch c.Match {
	case wfp.MatchEqual:
		s = spans{{v, v}}
	case wfp.MatchNotEqual:
		s = spans{{v, v}}.complement(top)
	case wfp.MatchGreater:
		if v.cmp(top) < 0 {
			s = spans{{v.inc(), top}}
		}
	case wfp.MatchGreaterOrEqual:
		s = spans{{v, top}}
	case wfp.MatchLess:
		if !v.isZero() {
			s = spans{{u128{}, v.dec()}}
		}
	case wfp.MatchLessOrEqual:
		s = spans{{u128{}, v}}
	default:
		return nil, false
	}
	return s.intersect(fullSpans(top)), true
}

// scalar converts a condition value the way compare orders it: numbers as numbers; an
// IPv4 address is FWP_UINT32, an IPv6 one FWP_BYTE_ARRAY16_TYPE.
func scalar(v wfp.Value, isAddr, v6 bool) (u128, bool) {
	switch v.Type {
	case wfp.Uint8, wfp.Uint16, wfp.Uint32, wfp.Uint64:
		if isAddr && (v6 || v.Type != wfp.Uint32) {
			return u128{}, false
		}
		return u128{lo: v.Uint}, true
	case wfp.ByteArray16:
		if !isAddr || !v6 || len(v.Bytes) != 16 {
			return u128{}, false
		}
		return addrNum(netip.AddrFrom16([16]byte(v.Bytes))), true
	}
	return u128{}, false
}

// candidates are up to three values of s: the preferred ones it holds, in order, then
// the lowest value of each span (the one after it with skipFirst, so that an address
// witness is not a prefix's network address).
func candidates(s spans, skipFirst bool, preferred ...u128) []u128 {
	var out []u128
	add := func(v u128) {
		if len(out) < 3 && s.contains(v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, p := range preferred {
		add(p)
	}
	for _, sp := range s {
		if skipFirst && sp.lo != sp.hi {
			add(sp.lo.inc())
		} else {
			add(sp.lo)
		}
	}
	return out
}

func num[T uint8 | uint16 | uint64](v T) u128 { return u128{lo: uint64(v)} }

// u128 is an unsigned 128-bit number: a port, a protocol or an address.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) isZero() bool { return a == u128{} }

func (a u128) inc() u128 {
	if a.lo == math.MaxUint64 {
		return u128{hi: a.hi + 1}
	}
	return u128{hi: a.hi, lo: a.lo + 1}
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{hi: a.hi - 1, lo: math.MaxUint64}
	}
	return u128{hi: a.hi, lo: a.lo - 1}
}

func (a u128) or(b u128) u128 { return u128{a.hi | b.hi, a.lo | b.lo} }

// hostMask has the low n bits set.
func hostMask(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{lo: 1<<uint(n) - 1}
	case n < 128:
		return u128{hi: 1<<uint(n-64) - 1, lo: math.MaxUint64}
	}
	return u128{hi: math.MaxUint64, lo: math.MaxUint64}
}

func addrNum(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var n u128
	for i := 0; i < 8; i++ {
		n.hi = n.hi<<8 | uint64(b[i])
		n.lo = n.lo<<8 | uint64(b[8+i])
	}
	return n
}

func numAddr(n u128, v6 bool) netip.Addr {
	if !v6 {
		v := uint32(n.lo)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[7-i] = byte(n.hi >> (8 * i))
		b[15-i] = byte(n.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// span is the closed range [lo, hi]; spans are sorted, disjoint and not adjacent.
type span struct{ lo, hi u128 }

type spans []span

func fullSpans(top u128) spans { return spans{{u128{}, top}} }

func (s spans) contains(v u128) bool {
	for _, sp := range s {
		if sp.lo.cmp(v) <= 0 && v.cmp(sp.hi) <= 0 {
			return true
		}
	}
	return false
}

func (s spans) minus(v uint64) spans {
	return s.intersect(spans{{u128{lo: v}, u128{lo: v}}}.complement(u128{hi: math.MaxUint64, lo: math.MaxUint64}))
}

func (s spans) union(t spans) spans {
	all := append(slices.Clone(s), t...)
	slices.SortFunc(all, func(a, b span) int { return a.lo.cmp(b.lo) })
	var out spans
	for _, sp := range all {
		if n := len(out); n > 0 && (out[n-1].hi.cmp(sp.lo) >= 0 || out[n-1].hi.inc() == sp.lo) {
			if sp.hi.cmp(out[n-1].hi) > 0 {
				out[n-1].hi = sp.hi
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}

func (s spans) intersect(t spans) spans {
	var out spans
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		lo, hi := s[i].lo, s[i].hi
		if t[j].lo.cmp(lo) > 0 {
			lo = t[j].lo
		}
		if t[j].hi.cmp(hi) < 0 {
			hi = t[j].hi
		}
		if lo.cmp(hi) <= 0 {
			out = append(out, span{lo, hi})
		}
		if s[i].hi.cmp(t[j].hi) < 0 {
			i++
		} else {
			j++
		}
	}
	return out
}

// complement is [0, top] minus s.
func (s spans) complement(top u128) spans {
	var out spans
	next := u128{}
	atEnd := false
	for _, sp := range s {
		if sp.lo.cmp(top) > 0 {
			break
		}
		if sp.lo.cmp(next) > 0 {
			out = append(out, span{next, sp.lo.dec()})
		}
		if sp.hi.cmp(top) >= 0 {
			atEnd = true
			break
		}
		next = sp.hi.inc()
	}
	if !atEnd {
		out = append(out, span{next, top})
	}
	return out
}
