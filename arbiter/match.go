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
		if f.Token.None {
			return fieldValue{}, false
		}
		return fieldValue{kind: 't', token: &f.Token}, true
	case wfp.FieldALEPackageID:
		if f.Token.None {
			return fieldValue{}, false
		}
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

// matcher evaluates filter conditions for one flow. It holds what is computed once per
// flow (the token's access-check passes) and per filter set (the parsed security
// descriptors), and whether reasons are wanted: without them nothing is formatted.
type matcher struct {
	flow   *Flow
	passes []accessPass
	sds    map[*byte]parsedSD // by the address of a condition's SD bytes; shared, read-only
	why    bool
	// micDenies evaluates the case in which mandatory integrity applied to
	// FWP_ACTRL_MATCH_FILTER: a token below medium integrity is then denied by any SD
	// without a mandatory label (the default label is medium, no-write-up). Undocumented.
	micDenies bool
	// userConds counts the ALE_USER_ID conditions evaluated.
	userConds int
}

type parsedSD struct {
	sd  *account.SecurityDescriptor
	err error
}

func newMatcher(flow *Flow, sds map[*byte]parsedSD, why bool) *matcher {
	return &matcher{flow: flow, passes: flow.Token.passes(), sds: sds, why: why}
}

func (m *matcher) say(format string, a ...any) string {
	if !m.why {
		return ""
	}
	return fmt.Sprintf(format, a...)
}

// matchFilter evaluates the conditions of filt for the flow at layer: conditions on
// different fields are ANDed, conditions on the same field ORed (wfp-facts §1). It
// returns the outcome and, when reasons are wanted, one reason per field.
func (m *matcher) matchFilter(layer wfp.LayerID, filt *wfp.Filter) (outcome, []string) {
	conds := filt.Conditions
	result := yes
	var why []string
	// Fields are taken in the order of their first condition; a field's conditions are
	// gathered by scanning (filters have a handful of conditions, no map needed).
	for i, c := range conds {
		first := true
		for _, p := range conds[:i] {
			if p.Field == c.Field {
				first = false
				break
			}
		}
		if !first {
			continue
		}
		got, line := m.matchField(layer, c.Field, conds[i:])
		if m.why {
			why = append(why, line)
		}
		switch got {
		case no:
			return no, why
		case unknown:
			result = unknown
		}
	}
	return result, why
}

// matchField evaluates the conditions on field among conds (ORed).
func (m *matcher) matchField(layer wfp.LayerID, field wfp.FieldID, conds []wfp.Condition) (outcome, string) {
	name := ""
	if m.why {
		name = strings.TrimPrefix(field.String(), "FWPM_CONDITION_")
	}
	if ok, known := wfp.FieldAvailable(layer, field); known && !ok {
		if !m.why {
			return no, ""
		}
		return no, fmt.Sprintf("%s: not offered at this layer, never matches", name)
	}
	v, ok := m.flow.value(layer, field)
	if !ok {
		if field == wfp.FieldALEUserID && m.flow.Token.None {
			m.userConds++
			if !m.why {
				return unknown, ""
			}
			return unknown, fmt.Sprintf("%s: the classify carries no user token; how the condition evaluates then is not documented", name)
		}
		if !m.why {
			return unknown, ""
		}
		return unknown, fmt.Sprintf("%s: not modelled for this flow", name)
	}
	result := no
	var parts []string
	for _, c := range conds {
		if c.Field != field {
			continue
		}
		got, why := m.matchCondition(v, c)
		if m.why {
			parts = append(parts, why)
		}
		if got == yes {
			if !m.why {
				return yes, ""
			}
			return yes, fmt.Sprintf("%s: %s → match", name, why)
		}
		if got == unknown {
			result = unknown
		}
	}
	if !m.why {
		return result, ""
	}
	verdict := "no match"
	if result == unknown {
		verdict = "cannot tell"
	}
	return result, fmt.Sprintf("%s: %s → %s", name, strings.Join(parts, " or "), verdict)
}

// matchCondition evaluates one condition against a flow value. The reason is formatted
// only when wanted (m.why): formatting is most of the cost on a large host.
func (m *matcher) matchCondition(v fieldValue, c wfp.Condition) (outcome, string) {
	switch v.kind {
	case 't':
		return m.matchToken(c)
	case 's':
		return m.matchSID(v.sid, c)
	}
	if c.Match == wfp.MatchRange {
		if c.Value.Type != wfp.Range || c.Value.Low == nil || c.Value.High == nil {
			return unknown, "malformed range"
		}
		lo, okLo := compare(v, *c.Value.Low)
		hi, okHi := compare(v, *c.Value.High)
		if !okLo || !okHi {
			if !m.why {
				return unknown, ""
			}
			return unknown, fmt.Sprintf("%s in %s: types not comparable", v, c.Value)
		}
		got := boolOutcome(lo >= 0 && hi <= 0)
		if !m.why {
			return got, ""
		}
		return got, fmt.Sprintf("%s in [%s, %s]", v, valueText(*c.Value.Low), valueText(*c.Value.High))
	}
	if c.Value.Type == wfp.V4AddrMask || c.Value.Type == wfp.V6AddrMask {
		in := v.kind == 'a' && c.Value.Prefix.Contains(v.addr)
		var got outcome
		var rel string
		switch c.Match {
		case wfp.MatchEqual, wfp.MatchPrefix:
			got, rel = boolOutcome(in), "in"
		case wfp.MatchNotEqual, wfp.MatchNotPrefix:
			got, rel = boolOutcome(!in), "not in"
		default:
			if !m.why {
				return unknown, ""
			}
			return unknown, fmt.Sprintf("%s with an address mask is not modelled", c.Match)
		}
		if !m.why {
			return got, ""
		}
		return got, fmt.Sprintf("%s %s %s", v, rel, c.Value.Prefix)
	}
	cmp, ok := compare(v, c.Value)
	if !ok {
		if !m.why {
			return unknown, ""
		}
		return unknown, fmt.Sprintf("%s against %s: types not comparable", v, c.Value)
	}
	var op string
	var holds bool
	switch c.Match {
	case wfp.MatchEqual:
		op, holds = "=", cmp == 0
	case wfp.MatchNotEqual:
		op, holds = "≠", cmp != 0
	case wfp.MatchGreater:
		op, holds = ">", cmp > 0
	case wfp.MatchLess:
		op, holds = "<", cmp < 0
	case wfp.MatchGreaterOrEqual:
		op, holds = "≥", cmp >= 0
	case wfp.MatchLessOrEqual:
		op, holds = "≤", cmp <= 0
	default:
		if !m.why {
			return unknown, ""
		}
		return unknown, fmt.Sprintf("match type %s is not modelled", c.Match)
	}
	if !m.why {
		return boolOutcome(holds), ""
	}
	return boolOutcome(holds), fmt.Sprintf("%s %s %s", v, op, valueText(c.Value))
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

// parseSDs parses every security-descriptor condition value of filters once, keyed by
// the address of the value's bytes (a pointer hashes faster than the bytes; filters
// are not modified while an Index exists). Equal descriptors are parsed once.
func parseSDs(filters []*wfp.Filter) map[*byte]parsedSD {
	out := map[*byte]parsedSD{}
	byContent := map[string]parsedSD{}
	for _, f := range filters {
		for _, c := range f.Conditions {
			if c.Value.Type != wfp.SecurityDescriptor || len(c.Value.Bytes) == 0 {
				continue
			}
			p, ok := byContent[string(c.Value.Bytes)]
			if !ok {
				sd, err := account.ParseSD(c.Value.Bytes)
				p = parsedSD{sd, err}
				byContent[string(c.Value.Bytes)] = p
			}
			out[&c.Value.Bytes[0]] = p
		}
	}
	return out
}

// matchToken evaluates an ALE_USER_ID condition: an access check of the token against
// the condition's security descriptor for FWP_ACTRL_MATCH_FILTER; FWP_MATCH_EQUAL is
// true when access is granted (DOC:fwp/permitting-and-blocking-applications-and-users).
// FWP_MATCH_NOT_EQUAL is modelled as true when access is not granted — NtApiDotNet's
// client-side reading; undocumented, since a security descriptor is not a sortable type
// (DOC:…/ne-fwptypes-fwp_match_type; wfp-facts §2).
func (m *matcher) matchToken(c wfp.Condition) (outcome, string) {
	m.userConds++
	if c.Value.Type != wfp.SecurityDescriptor {
		return unknown, m.say("user condition of type %s is not modelled", c.Value.Type)
	}
	var p parsedSD
	ok := false
	if len(c.Value.Bytes) > 0 {
		p, ok = m.sds[&c.Value.Bytes[0]]
	}
	if !ok {
		sd, err := account.ParseSD(c.Value.Bytes)
		p = parsedSD{sd, err}
	}
	if p.err != nil {
		return unknown, m.say("security descriptor cannot be read: %v", p.err)
	}
	var granted bool
	var why []string
	if m.micDenies && m.flow.Token.belowMedium() && p.sd.SACL == nil {
		granted = false
		if m.why {
			why = []string{"assumed: mandatory integrity applies and the SD has no label (default medium, no-write-up) — undocumented"}
		}
	} else {
		granted, why = grantedTo(m.passes, p.sd, m.why)
	}
	detail := ""
	if m.why {
		g := "granted"
		if !granted {
			g = "not granted"
		}
		detail = fmt.Sprintf("access check %s (%s)", g, strings.Join(why, "; "))
	}
	if !m.why && (c.Match == wfp.MatchEqual || c.Match == wfp.MatchNotEqual) {
		return boolOutcome(granted == (c.Match == wfp.MatchEqual)), ""
	}
	switch c.Match {
	case wfp.MatchEqual:
		return boolOutcome(granted), m.say("EQUAL: %s", detail)
	case wfp.MatchNotEqual:
		return boolOutcome(!granted), m.say("NOT_EQUAL (undocumented on a security descriptor): %s", detail)
	}
	return unknown, m.say("match type %s on a security descriptor is not modelled", c.Match)
}

// matchSID evaluates an ALE_PACKAGE_ID condition (FWP_SID).
func (m *matcher) matchSID(s account.SID, c wfp.Condition) (outcome, string) {
	if c.Value.Type != wfp.SID {
		return unknown, m.say("package condition of type %s is not modelled", c.Value.Type)
	}
	want, err := account.SIDFromBytes(c.Value.Bytes)
	if err != nil {
		return unknown, m.say("SID cannot be read: %v", err)
	}
	if !m.why && (c.Match == wfp.MatchEqual || c.Match == wfp.MatchNotEqual) {
		return boolOutcome((s == want) == (c.Match == wfp.MatchEqual)), ""
	}
	switch c.Match {
	case wfp.MatchEqual:
		return boolOutcome(s == want), m.say("%s = %s", s, want)
	case wfp.MatchNotEqual:
		return boolOutcome(s != want), m.say("%s ≠ %s", s, want)
	}
	return unknown, m.say("match type %s on a SID is not modelled", c.Match)
}
