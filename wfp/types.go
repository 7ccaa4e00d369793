package wfp

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// DataType is FWP_DATA_TYPE: the type held by a Value.
type DataType uint32

// FWP_DATA_TYPE values (fwptypes.h).
const (
	Empty                  DataType = 0     // FWP_EMPTY
	Uint8                  DataType = 1     // FWP_UINT8
	Uint16                 DataType = 2     // FWP_UINT16
	Uint32                 DataType = 3     // FWP_UINT32
	Uint64                 DataType = 4     // FWP_UINT64
	Int8                   DataType = 5     // FWP_INT8
	Int16                  DataType = 6     // FWP_INT16
	Int32                  DataType = 7     // FWP_INT32
	Int64                  DataType = 8     // FWP_INT64
	Float                  DataType = 9     // FWP_FLOAT
	Double                 DataType = 10    // FWP_DOUBLE
	ByteArray16            DataType = 11    // FWP_BYTE_ARRAY16_TYPE
	ByteBlob               DataType = 12    // FWP_BYTE_BLOB_TYPE
	SID                    DataType = 13    // FWP_SID
	SecurityDescriptor     DataType = 14    // FWP_SECURITY_DESCRIPTOR_TYPE
	TokenInformation       DataType = 15    // FWP_TOKEN_INFORMATION_TYPE
	TokenAccessInformation DataType = 16    // FWP_TOKEN_ACCESS_INFORMATION_TYPE
	UnicodeString          DataType = 17    // FWP_UNICODE_STRING_TYPE
	ByteArray6             DataType = 18    // FWP_BYTE_ARRAY6_TYPE
	V4AddrMask             DataType = 0x100 // FWP_V4_ADDR_MASK
	V6AddrMask             DataType = 0x101 // FWP_V6_ADDR_MASK
	Range                  DataType = 0x102 // FWP_RANGE_TYPE
)

var dataTypeNames = map[DataType]string{
	Empty: "FWP_EMPTY", Uint8: "FWP_UINT8", Uint16: "FWP_UINT16", Uint32: "FWP_UINT32",
	Uint64: "FWP_UINT64", Int8: "FWP_INT8", Int16: "FWP_INT16", Int32: "FWP_INT32",
	Int64: "FWP_INT64", Float: "FWP_FLOAT", Double: "FWP_DOUBLE",
	ByteArray16: "FWP_BYTE_ARRAY16_TYPE", ByteBlob: "FWP_BYTE_BLOB_TYPE", SID: "FWP_SID",
	SecurityDescriptor: "FWP_SECURITY_DESCRIPTOR_TYPE", TokenInformation: "FWP_TOKEN_INFORMATION_TYPE",
	TokenAccessInformation: "FWP_TOKEN_ACCESS_INFORMATION_TYPE", UnicodeString: "FWP_UNICODE_STRING_TYPE",
	ByteArray6: "FWP_BYTE_ARRAY6_TYPE", V4AddrMask: "FWP_V4_ADDR_MASK", V6AddrMask: "FWP_V6_ADDR_MASK",
	Range: "FWP_RANGE_TYPE",
}

func (t DataType) String() string {
	if n, ok := dataTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("FWP_DATA_TYPE(%d)", uint32(t))
}

// ParseDataType accepts an SDK name such as "FWP_UINT16".
func ParseDataType(s string) (DataType, error) {
	for t, n := range dataTypeNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown FWP data type %q", s)
}

// MatchType is FWP_MATCH_TYPE.
type MatchType uint32

// FWP_MATCH_TYPE values (fwptypes.h).
const (
	MatchEqual                MatchType = 0  // FWP_MATCH_EQUAL
	MatchGreater              MatchType = 1  // FWP_MATCH_GREATER
	MatchLess                 MatchType = 2  // FWP_MATCH_LESS
	MatchGreaterOrEqual       MatchType = 3  // FWP_MATCH_GREATER_OR_EQUAL
	MatchLessOrEqual          MatchType = 4  // FWP_MATCH_LESS_OR_EQUAL
	MatchRange                MatchType = 5  // FWP_MATCH_RANGE
	MatchFlagsAllSet          MatchType = 6  // FWP_MATCH_FLAGS_ALL_SET
	MatchFlagsAnySet          MatchType = 7  // FWP_MATCH_FLAGS_ANY_SET
	MatchFlagsNoneSet         MatchType = 8  // FWP_MATCH_FLAGS_NONE_SET
	MatchEqualCaseInsensitive MatchType = 9  // FWP_MATCH_EQUAL_CASE_INSENSITIVE
	MatchNotEqual             MatchType = 10 // FWP_MATCH_NOT_EQUAL
	MatchPrefix               MatchType = 11 // FWP_MATCH_PREFIX
	MatchNotPrefix            MatchType = 12 // FWP_MATCH_NOT_PREFIX
)

var matchTypeNames = map[MatchType]string{
	MatchEqual: "FWP_MATCH_EQUAL", MatchGreater: "FWP_MATCH_GREATER", MatchLess: "FWP_MATCH_LESS",
	MatchGreaterOrEqual: "FWP_MATCH_GREATER_OR_EQUAL", MatchLessOrEqual: "FWP_MATCH_LESS_OR_EQUAL",
	MatchRange: "FWP_MATCH_RANGE", MatchFlagsAllSet: "FWP_MATCH_FLAGS_ALL_SET",
	MatchFlagsAnySet: "FWP_MATCH_FLAGS_ANY_SET", MatchFlagsNoneSet: "FWP_MATCH_FLAGS_NONE_SET",
	MatchEqualCaseInsensitive: "FWP_MATCH_EQUAL_CASE_INSENSITIVE", MatchNotEqual: "FWP_MATCH_NOT_EQUAL",
	MatchPrefix: "FWP_MATCH_PREFIX", MatchNotPrefix: "FWP_MATCH_NOT_PREFIX",
}

func (m MatchType) String() string {
	if n, ok := matchTypeNames[m]; ok {
		return n
	}
	return fmt.Sprintf("FWP_MATCH_TYPE(%d)", uint32(m))
}

// ParseMatchType accepts an SDK name such as "FWP_MATCH_EQUAL".
func ParseMatchType(s string) (MatchType, error) {
	for t, n := range matchTypeNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown FWP match type %q", s)
}

// ActionType is FWP_ACTION_TYPE.
type ActionType uint32

// Action type flags and values (fwptypes.h).
const (
	ActionFlagTerminating    ActionType = 0x1000
	ActionFlagNonTerminating ActionType = 0x2000
	ActionFlagCallout        ActionType = 0x4000

	ActionBlock              ActionType = 0x1 | ActionFlagTerminating                     // FWP_ACTION_BLOCK
	ActionPermit             ActionType = 0x2 | ActionFlagTerminating                     // FWP_ACTION_PERMIT
	ActionCalloutTerminating ActionType = 0x3 | ActionFlagCallout | ActionFlagTerminating // FWP_ACTION_CALLOUT_TERMINATING
	ActionCalloutInspection  ActionType = 0x4 | ActionFlagCallout | ActionFlagNonTerminating
	ActionCalloutUnknown     ActionType = 0x5 | ActionFlagCallout
	ActionContinue           ActionType = 0x6 | ActionFlagNonTerminating // FWP_ACTION_CONTINUE
	ActionNone               ActionType = 0x7
	ActionNoneNoMatch        ActionType = 0x8
)

var actionNames = map[ActionType]string{
	ActionBlock: "FWP_ACTION_BLOCK", ActionPermit: "FWP_ACTION_PERMIT",
	ActionCalloutTerminating: "FWP_ACTION_CALLOUT_TERMINATING", ActionCalloutInspection: "FWP_ACTION_CALLOUT_INSPECTION",
	ActionCalloutUnknown: "FWP_ACTION_CALLOUT_UNKNOWN", ActionContinue: "FWP_ACTION_CONTINUE",
	ActionNone: "FWP_ACTION_NONE", ActionNoneNoMatch: "FWP_ACTION_NONE_NO_MATCH",
}

func (a ActionType) String() string {
	if n, ok := actionNames[a]; ok {
		return n
	}
	return fmt.Sprintf("FWP_ACTION_TYPE(%#x)", uint32(a))
}

// ParseActionType accepts an SDK name such as "FWP_ACTION_BLOCK".
func ParseActionType(s string) (ActionType, error) {
	for t, n := range actionNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown FWP action type %q", s)
}

// Action is FWPM_ACTION0. CalloutKey is meaningful only for callout actions.
type Action struct {
	Type       ActionType
	CalloutKey GUID
}

// ProviderFlags are FWPM_PROVIDER_FLAG_* bits.
type ProviderFlags uint32

// Provider flags (fwpmtypes.h).
const (
	ProviderFlagPersistent ProviderFlags = 0x1  // FWPM_PROVIDER_FLAG_PERSISTENT
	ProviderFlagDisabled   ProviderFlags = 0x10 // FWPM_PROVIDER_FLAG_DISABLED (output only)
)

// SublayerFlags are FWPM_SUBLAYER_FLAG_* bits.
type SublayerFlags uint32

// Sublayer flags (fwpmtypes.h).
const SublayerFlagPersistent SublayerFlags = 0x1 // FWPM_SUBLAYER_FLAG_PERSISTENT

// FilterFlags are FWPM_FILTER_FLAG_* bits.
type FilterFlags uint32

// Filter flags (fwpmtypes.h).
const (
	FilterFlagPersistent                  FilterFlags = 0x1  // FWPM_FILTER_FLAG_PERSISTENT
	FilterFlagBoottime                    FilterFlags = 0x2  // FWPM_FILTER_FLAG_BOOTTIME
	FilterFlagHasProviderContext          FilterFlags = 0x4  // FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT
	FilterFlagClearActionRight            FilterFlags = 0x8  // FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT
	FilterFlagPermitIfCalloutUnregistered FilterFlags = 0x10 // FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED
	FilterFlagDisabled                    FilterFlags = 0x20 // FWPM_FILTER_FLAG_DISABLED (output only)
	FilterFlagIndexed                     FilterFlags = 0x40 // FWPM_FILTER_FLAG_INDEXED
)

var filterFlagNames = []struct {
	f    FilterFlags
	name string
}{
	{FilterFlagPersistent, "FWPM_FILTER_FLAG_PERSISTENT"},
	{FilterFlagBoottime, "FWPM_FILTER_FLAG_BOOTTIME"},
	{FilterFlagHasProviderContext, "FWPM_FILTER_FLAG_HAS_PROVIDER_CONTEXT"},
	{FilterFlagClearActionRight, "FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT"},
	{FilterFlagPermitIfCalloutUnregistered, "FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED"},
	{FilterFlagDisabled, "FWPM_FILTER_FLAG_DISABLED"},
	{FilterFlagIndexed, "FWPM_FILTER_FLAG_INDEXED"},
}

// Names returns the SDK names of the set bits, with any unknown bits as a hex number.
func (f FilterFlags) Names() []string {
	names := []string{}
	rest := f
	for _, n := range filterFlagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
			rest &^= n.f
		}
	}
	if rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint32(rest)))
	}
	return names
}

func (f FilterFlags) String() string {
	if f == 0 {
		return "0"
	}
	return strings.Join(f.Names(), "|")
}

// Value is FWP_VALUE0 / FWP_CONDITION_VALUE0 in Go form. Which field is meaningful
// depends on Type:
//   - Uint8, Uint16, Uint32, Uint64 (and the signed types, two's complement): Uint;
//   - ByteArray16, ByteArray6, ByteBlob, SID, SecurityDescriptor, UnicodeString (UTF-16LE
//     with terminator, as WFP stores it): Bytes;
//   - V4AddrMask, V6AddrMask: Prefix;
//   - Range: Low and High.
type Value struct {
	Type   DataType
	Uint   uint64
	Bytes  []byte
	Prefix netip.Prefix
	Low    *Value
	High   *Value
}

// U8 returns an FWP_UINT8 value.
func U8(v uint8) Value { return Value{Type: Uint8, Uint: uint64(v)} }

// U16 returns an FWP_UINT16 value.
func U16(v uint16) Value { return Value{Type: Uint16, Uint: uint64(v)} }

// U32 returns an FWP_UINT32 value.
func U32(v uint32) Value { return Value{Type: Uint32, Uint: uint64(v)} }

// U64 returns an FWP_UINT64 value.
func U64(v uint64) Value { return Value{Type: Uint64, Uint: v} }

// SD returns an FWP_SECURITY_DESCRIPTOR_TYPE value holding a self-relative security descriptor.
func SD(selfRelative []byte) Value {
	return Value{Type: SecurityDescriptor, Bytes: bytes.Clone(selfRelative)}
}

// AddrMask returns an FWP_V4_ADDR_MASK or FWP_V6_ADDR_MASK value for a prefix.
func AddrMask(p netip.Prefix) Value {
	if p.Addr().Is4() {
		return Value{Type: V4AddrMask, Prefix: p.Masked()}
	}
	return Value{Type: V6AddrMask, Prefix: p.Masked()}
}

// RangeOf returns an FWP_RANGE_TYPE value from low to high inclusive.
func RangeOf(low, high Value) Value { return Value{Type: Range, Low: &low, High: &high} }

// Equal reports whether two values hold the same type and data.
func (v Value) Equal(o Value) bool {
	if v.Type != o.Type {
		return false
	}
	switch v.Type {
	case Empty:
		return true
	case Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, Float, Double:
		return v.Uint == o.Uint
	case V4AddrMask, V6AddrMask:
		return v.Prefix == o.Prefix
	case Range:
		if v.Low == nil || v.High == nil || o.Low == nil || o.High == nil {
			return v.Low == o.Low && v.High == o.High
		}
		return v.Low.Equal(*o.Low) && v.High.Equal(*o.High)
	default:
		return bytes.Equal(v.Bytes, o.Bytes)
	}
}

// String is a short human form: "FWP_UINT16(53)", "FWP_V4_ADDR_MASK(10.0.0.0/8)".
func (v Value) String() string {
	switch v.Type {
	case Empty:
		return "FWP_EMPTY"
	case Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, Float, Double:
		return fmt.Sprintf("%s(%d)", v.Type, v.Uint)
	case V4AddrMask, V6AddrMask:
		return fmt.Sprintf("%s(%s)", v.Type, v.Prefix)
	case Range:
		if v.Low == nil || v.High == nil {
			return "FWP_RANGE_TYPE(?)"
		}
		return fmt.Sprintf("FWP_RANGE_TYPE(%s..%s)", v.Low, v.High)
	default:
		return fmt.Sprintf("%s(%d bytes)", v.Type, len(v.Bytes))
	}
}

// Clone returns a deep copy of v.
func (v Value) Clone() Value {
	c := v
	c.Bytes = bytes.Clone(v.Bytes)
	if v.Low != nil {
		l := v.Low.Clone()
		c.Low = &l
	}
	if v.High != nil {
		h := v.High.Clone()
		c.High = &h
	}
	return c
}

// Condition is FWPM_FILTER_CONDITION0.
type Condition struct {
	Field FieldID
	Match MatchType
	Value Value
}

// Provider is FWPM_PROVIDER0.
type Provider struct {
	Key         GUID
	Name        string
	Description string
	Flags       ProviderFlags
	Data        []byte
	ServiceName string
	// SecurityDescriptor, when not empty, is the self-relative security descriptor
	// passed as the sd argument of FwpmProviderAdd0 ("Security information about the
	// provider object"; NULL makes the system assign a default one). It is input only:
	// the Fwpm*GetByKey0 structures do not carry it, so engines return it empty, and it
	// is not compared by reconcile (see reconcile.CheckLive). It is left out of JSON
	// (json:"-"), so plan hashes do not depend on it.
	SecurityDescriptor []byte `json:"-"`
}

// Sublayer is FWPM_SUBLAYER0.
type Sublayer struct {
	Key         GUID
	Name        string
	Description string
	Flags       SublayerFlags
	ProviderKey *GUID
	Data        []byte
	Weight      uint16
	// SecurityDescriptor is the sd argument of FwpmSubLayerAdd0 (see Provider).
	SecurityDescriptor []byte `json:"-"`
}

// Filter is FWPM_FILTER0. ID and EffectiveWeight are assigned by the engine and are
// ignored on add; they are filled in by Filter, Filters and AddFilter's return.
type Filter struct {
	Key             GUID
	Name            string
	Description     string
	Flags           FilterFlags
	ProviderKey     *GUID
	ProviderData    []byte
	Layer           LayerID
	Sublayer        GUID
	Weight          Value // FWP_EMPTY (auto), FWP_UINT8 (range 0-15) or FWP_UINT64
	Conditions      []Condition
	Action          Action
	ID              uint64
	EffectiveWeight uint64
	// SecurityDescriptor is the sd argument of FwpmFilterAdd0 (see Provider). Like ID
	// it is not part of FWPM_FILTER0's identity for reconcile.
	SecurityDescriptor []byte `json:"-"`
}

// Clone returns a deep copy of p.
func (p *Provider) Clone() *Provider {
	c := *p
	c.Data = bytes.Clone(p.Data)
	c.SecurityDescriptor = bytes.Clone(p.SecurityDescriptor)
	return &c
}

// Clone returns a deep copy of s.
func (s *Sublayer) Clone() *Sublayer {
	c := *s
	c.Data = bytes.Clone(s.Data)
	c.SecurityDescriptor = bytes.Clone(s.SecurityDescriptor)
	if s.ProviderKey != nil {
		k := *s.ProviderKey
		c.ProviderKey = &k
	}
	return &c
}

// Clone returns a deep copy of f.
func (f *Filter) Clone() *Filter {
	c := *f
	c.ProviderData = bytes.Clone(f.ProviderData)
	c.SecurityDescriptor = bytes.Clone(f.SecurityDescriptor)
	if f.ProviderKey != nil {
		k := *f.ProviderKey
		c.ProviderKey = &k
	}
	c.Weight = f.Weight.Clone()
	c.Conditions = make([]Condition, len(f.Conditions))
	for i, cond := range f.Conditions {
		c.Conditions[i] = Condition{Field: cond.Field, Match: cond.Match, Value: cond.Value.Clone()}
	}
	return &c
}

// SameProvider reports whether two optional provider keys are equal (both nil, or equal GUIDs).
func SameProvider(a, b *GUID) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
