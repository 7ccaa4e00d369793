package arbiter

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// outcome is the result of matching a condition or a filter: WFP knows only yes and
// no; unknown means the arbiter does not model what the condition reads.
type outcome uint8

const (
	no outcome = iota
	yes
	unknown
)

// nullSID is S-1-0-0, the ALE_PACKAGE_ID of a process that is not in an AppContainer.
var nullSID = mustParse("S-1-0-0")

// fieldValue is the value a flow supplies for one condition field at one layer.
type fieldValue struct {
	kind  byte // 'n' number, 'a' address, 't' token, 's' SID
	num   uint64
	addr  netip.Addr
	token *Token
	sid   account.SID
}

func (v fieldValue) String() string {
	switch v.kind {
	case 'n':
		return fmt.Sprint(v.num)
	case 'a':
		return v.addr.String()
	case 't':
		return "token of " + v.token.User.String()
	case 's':
		return v.sid.String()
	}
	return "?"
}

// value returns what the flow supplies for field at layer; ok is false when the
// arbiter does not model the field or the flow does not know its value.
func (f *Flow) value(layer wfp.LayerID, field wfp.FieldID) (fieldValue, bool) {
	remote := layer != wfp.LayerALEResourceAssignmentV4 && layer != wfp.LayerALEResourceAssignmentV6
	icmpType, isICMP := f.icmpType()
	switch field {
	case wfp.FieldALEUserID:
		return fieldValue{kind: 't', token: &f.Token}, true
	case wfp.FieldALEPackageID:
		if f.Token.AppContainer != nil {
			return fieldValue{kind: 's', sid: *f.Token.AppContainer}, true
		}
		return fieldValue{kind: 's', sid: nullSID}, true
	case wfp.FieldIPProtocol:
		return fieldValue{kind: 'n', num: uint64(f.Protocol)}, true
	case wfp.FieldIPRemoteAddress:
		if remote {
			return fieldValue{kind: 'a', addr: f.Remote.Addr()}, true
		}
	case wfp.FieldIPRemotePort:
		if remote {
			return fieldValue{kind: 'n', num: uint64(f.Remote.Port())}, true
		}
	case wfp.FieldIPLocalAddress:
		if f.Local.Addr().IsValid() {
			return fieldValue{kind: 'a', addr: f.Local.Addr()}, true
		}
	case wfp.FieldIPLocalPort:
		if isICMP {
			return fieldValue{kind: 'n', num: uint64(icmpType)}, true
		}
		if f.Local.Addr().IsValid() {
			return fieldValue{kind: 'n', num: uint64(f.Local.Port())}, true
		}
	}
	return fieldValue{}, false
}

// matchFilter evaluates the conditions of filt for the flow at layer: conditions on
// different fields are ANDed, conditions on the same field ORed (wfp-facts §1). It
// returns the outcome and one reason per field.
func (f *Flow) matchFilter(layer wfp.LayerID, filt *wfp.Filter) (outcome, []string) {
	var order []wfp.FieldID
	groups := map[wfp.FieldID][]wfp.Condition{}
	for _, c := range filt.Conditions {
		if _, seen := groups[c.Field]; !seen {
			order = append(order, c.Field)
		}
		groups[c.Field] = append(groups[c.Field], c)
	}
	result := yes
	var why []string
	for _, field := range order {
		got, line := f.matchField(layer, field, groups[field])
		why = append(why, line)
		switch {
		case got == no:
			return no, why
		case got == unknown:
			result = unknown
		}
	}
	return result, why
}

func (f *Flow) matchField(layer wfp.LayerID, field wfp.FieldID, conds []wfp.Condition) (outcome, string) {
	name := strings.TrimPrefix(field.String(), "FWPM_CONDITION_")
	if ok, known := wfp.FieldAvailable(layer, field); known && !ok {
		return no, fmt.Sprintf("%s: not offered at this layer, never matches", name)
	}
	v, ok := f.value(layer, field)
	if !ok {
		return unknown, fmt.Sprintf("%s: not modelled for this flow", name)
	}
	result := no
	var parts []string
	for _, c := range conds {
		got, why := matchCondition(v, c)
		parts = append(parts, why)
		if got == yes {
			return yes, fmt.Sprintf("%s: %s → match", name, why)
		}
		if got == unknown {
			result = unknown
		}
	}
	verdict := "no match"
	if result == unknown {
		verdict = "cannot tell"
	}
	return result, fmt.Sprintf("%s: %s → %s", name, strings.Join(parts, " or "), verdict)
}

// matchCondition evaluates one condition against a flow value.
func matchCondition(v fieldValue, c wfp.Condition) (outcome, string) {
	switch v.kind {
	case 't':
		return matchToken(*v.token, c)
	case 's':
		return matchSID(v.sid, c)
	}
	if c.Match == wfp.MatchRange {
		if c.Value.Type != wfp.Range || c.Value.Low == nil || c.Value.High == nil {
			return unknown, "malformed range"
		}
		lo, okLo := compare(v, *c.Value.Low)
		hi, okHi := compare(v, *c.Value.High)
		if !okLo || !okHi {
			return unknown, fmt.Sprintf("%s in %s: types not comparable", v, c.Value)
		}
		return boolOutcome(lo >= 0 && hi <= 0), fmt.Sprintf("%s in [%s, %s]", v, valueText(*c.Value.Low), valueText(*c.Value.High))
	}
	if c.Value.Type == wfp.V4AddrMask || c.Value.Type == wfp.V6AddrMask {
		in := v.kind == 'a' && c.Value.Prefix.Contains(v.addr)
		switch c.Match {
		case wfp.MatchEqual, wfp.MatchPrefix:
			return boolOutcome(in), fmt.Sprintf("%s in %s", v, c.Value.Prefix)
		case wfp.MatchNotEqual, wfp.MatchNotPrefix:
			return boolOutcome(!in), fmt.Sprintf("%s not in %s", v, c.Value.Prefix)
		}
		return unknown, fmt.Sprintf("%s with an address mask is not modelled", c.Match)
	}
	cmp, ok := compare(v, c.Value)
	if !ok {
		return unknown, fmt.Sprintf("%s against %s: types not comparable", v, c.Value)
	}
	rel := map[wfp.MatchType]struct {
		op string
		ok bool
	}{
		wfp.MatchEqual: {"=", cmp == 0}, wfp.MatchNotEqual: {"≠", cmp != 0},
		wfp.MatchGreater: {">", cmp > 0}, wfp.MatchLess: {"<", cmp < 0},
		wfp.MatchGreaterOrEqual: {"≥", cmp >= 0}, wfp.MatchLessOrEqual: {"≤", cmp <= 0},
	}
	r, known := rel[c.Match]
	if !known {
		return unknown, fmt.Sprintf("match type %s is not modelled", c.Match)
	}
	return boolOutcome(r.ok), fmt.Sprintf("%s %s %s", v, r.op, valueText(c.Value))
}

func boolOutcome(b bool) outcome {
	if b {
		return yes
	}
	return no
}

// compare orders a flow value against a condition value: numbers numerically, an
// IPv4 address against FWP_UINT32 (the address as a number), any address against
// FWP_BYTE_ARRAY16_TYPE byte by byte (an IPv4 address never equals 16 bytes).
func compare(v fieldValue, c wfp.Value) (int, bool) {
	switch c.Type {
	case wfp.Uint8, wfp.Uint16, wfp.Uint32, wfp.Uint64:
		n := v.num
		if v.kind == 'a' {
			if !v.addr.Is4() || c.Type != wfp.Uint32 {
				return 0, false
			}
			b := v.addr.As4()
			n = uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		}
		switch {
		case n < c.Uint:
			return -1, true
		case n > c.Uint:
			return 1, true
		}
		return 0, true
	case wfp.ByteArray16:
		if v.kind != 'a' || v.addr.Is4() || len(c.Bytes) != 16 {
			return 0, false
		}
		b := v.addr.As16()
		return bytes.Compare(b[:], c.Bytes), true
	}
	return 0, false
}

func valueText(v wfp.Value) string {
	switch v.Type {
	case wfp.Uint8, wfp.Uint16, wfp.Uint32, wfp.Uint64:
		return fmt.Sprint(v.Uint)
	case wfp.ByteArray16:
		if len(v.Bytes) == 16 {
			return netip.AddrFrom16([16]byte(v.Bytes)).String()
		}
	}
	return v.String()
}

// matchToken evaluates an ALE_USER_ID condition: an access check of the token against
// the condition's security descriptor for FWP_ACTRL_MATCH_FILTER; FWP_MATCH_EQUAL is
// true when access is granted, FWP_MATCH_NOT_EQUAL when it is not (wfp-facts §2).
func matchToken(t Token, c wfp.Condition) (outcome, string) {
	if c.Value.Type != wfp.SecurityDescriptor {
		return unknown, fmt.Sprintf("user condition of type %s is not modelled", c.Value.Type)
	}
	sd, err := account.ParseSD(c.Value.Bytes)
	if err != nil {
		return unknown, fmt.Sprintf("security descriptor cannot be read: %v", err)
	}
	granted, why := t.MatchFilterGranted(sd)
	g := "granted"
	if !granted {
		g = "not granted"
	}
	detail := fmt.Sprintf("access check %s (%s)", g, strings.Join(why, "; "))
	switch c.Match {
	case wfp.MatchEqual:
		return boolOutcome(granted), "EQUAL: " + detail
	case wfp.MatchNotEqual:
		return boolOutcome(!granted), "NOT_EQUAL: " + detail
	}
	return unknown, fmt.Sprintf("match type %s on a security descriptor is not modelled", c.Match)
}

// matchSID evaluates an ALE_PACKAGE_ID condition (FWP_SID).
func matchSID(s account.SID, c wfp.Condition) (outcome, string) {
	if c.Value.Type != wfp.SID {
		return unknown, fmt.Sprintf("package condition of type %s is not modelled", c.Value.Type)
	}
	want, err := account.SIDFromBytes(c.Value.Bytes)
	if err != nil {
		return unknown, fmt.Sprintf("SID cannot be read: %v", err)
	}
	switch c.Match {
	case wfp.MatchEqual:
		return boolOutcome(s == want), fmt.Sprintf("%s = %s", s, want)
	case wfp.MatchNotEqual:
		return boolOutcome(s != want), fmt.Sprintf("%s ≠ %s", s, want)
	}
	return unknown, fmt.Sprintf("match type %s on a SID is not modelled", c.Match)
}
