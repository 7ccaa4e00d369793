package memengine_test

// Contract tests: one test per documented WFP rule the engine enforces. Each cites the
// Microsoft sentence it checks; "OM" is https://learn.microsoft.com/windows/win32/fwp/object-management,
// "EC" is …/fwp/wfp-error-codes, "FILTER0" is …/api/fwpmtypes/ns-fwpmtypes-fwpm_filter0,
// "ADD" is …/api/fwpmu/nf-fwpmu-fwpmfilteradd0, "LAYERS" is
// …/fwp/filtering-conditions-available-at-each-filtering-layer, "IDS" is
// …/fwp/filtering-condition-identifiers-.

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// EC: FWP_E_ALREADY_EXISTS "An object with that GUID or LUID already exists."
// OM: "The GUID need only be unique within the object type. For example, a filter and a
// provider context can have the same GUID, but two filters cannot."
func TestAlreadyExists(t *testing.T) {
	_, s := base(t)
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	tests := []struct {
		name string
		call string
		add  func() error
	}{
		{"provider", "FwpmProviderAdd0", func() error { return s.AddProvider(provider(provA, false)) }},
		{"sublayer", "FwpmSubLayerAdd0", func() error { return s.AddSublayer(sublayer(subA, nil, false)) }},
		{"filter", "FwpmFilterAdd0", func() error { _, err := s.AddFilter(filter(guid(1), subA, nil, false)); return err }},
		{"built-in sublayer", "FwpmSubLayerAdd0", func() error {
			g, _, _ := wfp.LookupGUID("FWPM_SUBLAYER_UNIVERSAL")
			return s.AddSublayer(sublayer(g, nil, false))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.add(), tt.call, wfp.ErrAlreadyExists) })
	}
	// Same GUID, different object type: allowed.
	must(t, s.AddProvider(provider(guid(1), false)))
}

// OM: "callers can assign the object's GUID or leave it zero-initialized and let BFE
// assign the GUID."
func TestZeroKeyIsGenerated(t *testing.T) {
	_, s := base(t)
	id, err := s.AddFilter(filter(wfp.GUID{}, subA, ptr(provA), true))
	must(t, err)
	f, err := s.FilterByID(id)
	must(t, err)
	if f.Key.IsZero() {
		t.Fatal("a filter added with a zero key kept the zero key")
	}
	must(t, s.AddProvider(provider(wfp.GUID{}, false)))
	must(t, s.AddProvider(provider(wfp.GUID{}, false))) // a second one gets a different key
	ps, err := s.Providers()
	must(t, err)
	if len(ps) != 3 {
		t.Fatalf("got %d providers, want 3", len(ps))
	}
}

// EC: FWP_E_FILTER_NOT_FOUND "The filter does not exist.", FWP_E_PROVIDER_NOT_FOUND "The
// provider does not exist.", FWP_E_SUBLAYER_NOT_FOUND "The sub-layer does not exist.",
// FWP_E_LAYER_NOT_FOUND "The layer does not exist."
func TestNotFound(t *testing.T) {
	_, s := base(t)
	missing := guid(99)
	tests := []struct {
		name string
		call string
		code wfp.Code
		op   func() error
	}{
		{"get provider", "FwpmProviderGetByKey0", wfp.ErrProviderNotFound, func() error { _, err := s.Provider(missing); return err }},
		{"get sublayer", "FwpmSubLayerGetByKey0", wfp.ErrSublayerNotFound, func() error { _, err := s.Sublayer(missing); return err }},
		{"get filter", "FwpmFilterGetByKey0", wfp.ErrFilterNotFound, func() error { _, err := s.Filter(missing); return err }},
		{"get filter by ID", "FwpmFilterGetById0", wfp.ErrFilterNotFound, func() error { _, err := s.FilterByID(12345); return err }},
		{"delete provider", "FwpmProviderDeleteByKey0", wfp.ErrProviderNotFound, func() error { return s.DeleteProvider(missing) }},
		{"delete sublayer", "FwpmSubLayerDeleteByKey0", wfp.ErrSublayerNotFound, func() error { return s.DeleteSublayer(missing) }},
		{"delete filter", "FwpmFilterDeleteByKey0", wfp.ErrFilterNotFound, func() error { return s.DeleteFilter(missing) }},
		{"sublayer's provider", "FwpmSubLayerAdd0", wfp.ErrProviderNotFound, func() error { return s.AddSublayer(sublayer(guid(2), ptr(missing), false)) }},
		{"filter's provider", "FwpmFilterAdd0", wfp.ErrProviderNotFound, func() error { _, err := s.AddFilter(filter(guid(3), subA, ptr(missing), false)); return err }},
		{"filter's sublayer", "FwpmFilterAdd0", wfp.ErrSublayerNotFound, func() error { _, err := s.AddFilter(filter(guid(3), missing, ptr(provA), false)); return err }},
		{"filter's layer", "FwpmFilterAdd0", wfp.ErrLayerNotFound, func() error {
			f := filter(guid(3), subA, ptr(provA), false)
			f.Layer = wfp.LayerID(missing)
			_, err := s.AddFilter(f)
			return err
		}},
		{"enumerate an absent provider's filters", "FwpmFilterEnum0", wfp.ErrProviderNotFound, func() error { _, err := s.Filters(ptr(missing)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.op(), tt.call, tt.code) })
	}
}

// FILTER0 subLayerKey: "If this member is zero, the filter will be added to the default
// sublayer." OM: "Built-in objects are predefined by BFE and cannot be added or deleted."
func TestBuiltinSublayer(t *testing.T) {
	_, s := base(t)
	id, err := s.AddFilter(filter(guid(1), wfp.GUID{}, nil, false))
	must(t, err)
	f, err := s.FilterByID(id)
	must(t, err)
	universal, _, _ := wfp.LookupGUID("FWPM_SUBLAYER_UNIVERSAL")
	if f.Sublayer != universal {
		t.Errorf("zero sublayer stored as {%s}, want FWPM_SUBLAYER_UNIVERSAL", f.Sublayer)
	}
	wantCode(t, s.DeleteSublayer(universal), "FwpmSubLayerDeleteByKey0", wfp.ErrBuiltinObject)
}

// OM: "An object cannot be deleted until all objects that reference it have first been
// deleted." EC: FWP_E_IN_USE "The object is referenced by other objects, so it cannot be
// deleted." (…/fwp/uninstalling-a-provider: "If we tried to delete the provider first, it
// would fail with FWP_E_IN_USE.")
func TestInUse(t *testing.T) {
	_, s := base(t)
	must(t, s.AddProvider(provider(provB, false)))
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	_, err = s.AddFilter(filter(guid(2), subA, ptr(provB), false)) // provider B only via a filter
	must(t, err)
	wantCode(t, s.DeleteProvider(provA), "FwpmProviderDeleteByKey0", wfp.ErrInUse)
	wantCode(t, s.DeleteProvider(provB), "FwpmProviderDeleteByKey0", wfp.ErrInUse)
	wantCode(t, s.DeleteSublayer(subA), "FwpmSubLayerDeleteByKey0", wfp.ErrInUse)
	// The documented order works: filters, then sublayer, then provider.
	must(t, s.DeleteFilter(guid(1)))
	must(t, s.DeleteFilter(guid(2)))
	must(t, s.DeleteProvider(provB))
	wantCode(t, s.DeleteProvider(provA), "FwpmProviderDeleteByKey0", wfp.ErrInUse) // sublayer A still refers to it
	must(t, s.DeleteSublayer(subA))
	must(t, s.DeleteProvider(provA))
}

// OM: "A persistent object cannot refer to a dynamic object, a static object, or a
// persistent object owned by a different provider." EC: FWP_E_LIFETIME_MISMATCH "The call
// tried to associate two objects with incompatible lifetimes."
func TestLifetimeMismatch(t *testing.T) {
	_, s := base(t)
	staticProv, staticSub := guid(10), guid(11)
	must(t, s.AddProvider(provider(staticProv, false)))
	must(t, s.AddSublayer(sublayer(staticSub, nil, false)))
	must(t, s.AddProvider(provider(provB, true)))
	tests := []struct {
		name string
		call string
		add  func() error
	}{
		{"persistent sublayer, static provider", "FwpmSubLayerAdd0", func() error {
			return s.AddSublayer(sublayer(guid(20), ptr(staticProv), true))
		}},
		{"persistent filter, static sublayer", "FwpmFilterAdd0", func() error {
			_, err := s.AddFilter(filter(guid(21), staticSub, nil, true))
			return err
		}},
		{"persistent filter, static provider", "FwpmFilterAdd0", func() error {
			_, err := s.AddFilter(filter(guid(22), subA, ptr(staticProv), true))
			return err
		}},
		{"persistent filter of provider B in provider A's persistent sublayer", "FwpmFilterAdd0", func() error {
			_, err := s.AddFilter(filter(guid(23), subA, ptr(provB), true))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.add(), tt.call, wfp.ErrLifetimeMismatch) })
	}
	// The other direction is allowed: a static filter in a persistent sublayer, and a
	// persistent filter of the sublayer's own provider.
	_, err := s.AddFilter(filter(guid(30), subA, ptr(staticProv), false))
	must(t, err)
	_, err = s.AddFilter(filter(guid(31), subA, ptr(provA), true))
	must(t, err)
}

// EC: FWP_E_NULL_DISPLAY_NAME "The displayData.name field cannot be null."
func TestNullDisplayName(t *testing.T) {
	_, s := base(t)
	p := provider(guid(1), false)
	p.Name = ""
	wantCode(t, s.AddProvider(p), "FwpmProviderAdd0", wfp.ErrNullDisplayName)
	sl := sublayer(guid(2), nil, false)
	sl.Name = ""
	wantCode(t, s.AddSublayer(sl), "FwpmSubLayerAdd0", wfp.ErrNullDisplayName)
	f := filter(guid(3), subA, nil, false)
	f.Name = ""
	_, err := s.AddFilter(f)
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrNullDisplayName)
}

// FILTER0 flags: FWPM_FILTER_FLAG_BOOTTIME and FWPM_FILTER_FLAG_PERSISTENT are mutually
// exclusive ("Boot-time filters … cannot be persistent"; the code is our assumption,
// wfp-facts §6). EC: FWP_E_INVALID_FLAGS "The flags field contains an invalid value."
func TestInvalidFlags(t *testing.T) {
	_, s := base(t)
	f := filter(guid(1), subA, ptr(provA), true)
	f.Flags |= wfp.FilterFlagBoottime
	_, err := s.AddFilter(f)
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrInvalidFlags)
	f.Flags = wfp.FilterFlagBoottime
	f.ProviderKey = nil
	_, err = s.AddFilter(f)
	must(t, err)
}

// FILTER0 weight: "FWP_UINT64 … used as is", "FWP_UINT8 … a weight range index" from 0 to
// FWPM_WEIGHT_RANGE_MAX (15), "FWP_EMPTY … BFE will automatically assign a weight".
// EC: FWP_E_INVALID_WEIGHT "The filter weight is not valid."
func TestWeights(t *testing.T) {
	_, s := base(t)
	tests := []struct {
		weight wfp.Value
		ok     bool
		check  func(uint64) bool
	}{
		{wfp.U64(0xDEADBEEF12345678), true, func(w uint64) bool { return w == 0xDEADBEEF12345678 }},
		{wfp.U8(15), true, func(w uint64) bool { return w>>60 == 15 }},
		{wfp.U8(0), true, func(w uint64) bool { return w>>60 == 0 }},
		{wfp.U8(7), true, func(w uint64) bool { return w>>60 == 7 }},
		{wfp.Value{}, true, func(w uint64) bool { return w < 1<<60 }}, // FWPM_AUTO_WEIGHT_MAX
		{wfp.Value{}, true, func(w uint64) bool { return w < 1<<60 }},
		{wfp.U8(16), false, nil},
		{wfp.U32(5), false, nil},
		{wfp.U16(5), false, nil},
	}
	for i, tt := range tests {
		f := filter(guid(i), subA, ptr(provA), true)
		f.Weight = tt.weight
		id, err := s.AddFilter(f)
		if !tt.ok {
			wantCode(t, err, "FwpmFilterAdd0", wfp.ErrInvalidWeight)
			continue
		}
		must(t, err)
		got, err := s.FilterByID(id)
		must(t, err)
		if !tt.check(got.EffectiveWeight) {
			t.Errorf("weight %v: effective weight %#x", tt.weight, got.EffectiveWeight)
		}
	}
	// Automatic weights depend on the conditions only: the two FWP_EMPTY filters above
	// (same fields) tie, and a filter with an extra condition field weighs more.
	a, _ := s.Filter(guid(4))
	b, _ := s.Filter(guid(5))
	more := filter(guid(20), subA, ptr(provA), true)
	more.Conditions = append(more.Conditions, wfp.Condition{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(6)})
	id, err := s.AddFilter(more)
	must(t, err)
	c, _ := s.FilterByID(id)
	if a == nil || b == nil || a.EffectiveWeight != b.EffectiveWeight || c.EffectiveWeight <= a.EffectiveWeight {
		t.Errorf("automatic weights: same fields %#x/%#x, one more field %#x", a.EffectiveWeight, b.EffectiveWeight, c.EffectiveWeight)
	}
}

// EC: FWP_E_INVALID_ACTION_TYPE "The action type is not one of the allowed action types
// for a filter."; FWP_E_CALLOUT_NOT_FOUND "The callout does not exist." (no callouts here).
func TestActionTypes(t *testing.T) {
	_, s := base(t)
	for i, tt := range []struct {
		a    wfp.ActionType
		code wfp.Code
	}{
		{wfp.ActionPermit, 0}, {wfp.ActionBlock, 0},
		{wfp.ActionCalloutTerminating, wfp.ErrCalloutNotFound},
		{wfp.ActionContinue, wfp.ErrInvalidActionType}, {wfp.ActionNone, wfp.ErrInvalidActionType},
	} {
		f := filter(guid(i), subA, ptr(provA), true)
		f.Action.Type = tt.a
		_, err := s.AddFilter(f)
		if tt.code == 0 {
			must(t, err)
		} else {
			wantCode(t, err, "FwpmFilterAdd0", tt.code)
		}
	}
}

// LAYERS: the conditions a layer supports; IDS: each condition's data type; ADD:
// ERROR_INVALID_SECURITY_DESCR 0x8007053A "a filter condition contains a security
// descriptor in absolute format". EC: FWP_E_CONDITION_NOT_FOUND "The filter condition does
// not exist.", FWP_E_TYPE_MISMATCH "… is of the wrong type.", FWP_E_MATCH_TYPE_MISMATCH "A
// filter condition contains a match type that is not compatible with the operands.",
// FWP_E_INVALID_RANGE "An FWP_RANGE0 structure is not valid.", FWP_E_INVALID_NET_MASK "A
// network mask is not valid."
func TestConditions(t *testing.T) {
	_, s := base(t)
	sd := userSD(t)
	absolute := slices.Clone(sd)
	absolute[2], absolute[3] = 0x04, 0x00 // control: SE_DACL_PRESENT without SE_SELF_RELATIVE
	cond := func(f wfp.FieldID, m wfp.MatchType, v wfp.Value) wfp.Condition {
		return wfp.Condition{Field: f, Match: m, Value: v}
	}
	portRange := wfp.RangeOf(wfp.U16(1000), wfp.U16(2000))
	tests := []struct {
		name  string
		layer wfp.LayerID
		c     wfp.Condition
		code  wfp.Code // 0 = accepted
	}{
		{"user SD at AUTH_CONNECT", wfp.LayerALEAuthConnectV4, cond(wfp.FieldALEUserID, wfp.MatchEqual, wfp.SD(sd)), 0},
		{"protocol at RESOURCE_ASSIGNMENT", wfp.LayerALEResourceAssignmentV4, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U8(1)), 0},
		{"port range", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchRange, portRange), 0},
		{"v4 prefix", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.AddrMask(netip.MustParsePrefix("10.0.0.0/8"))), 0},
		{"v6 prefix", wfp.LayerALEAuthConnectV6, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.AddrMask(netip.MustParsePrefix("fd00::/8"))), 0},
		{"flags", wfp.LayerALEAuthConnectV4, cond(wfp.FieldFlags, wfp.MatchFlagsAnySet, wfp.U32(0x10)), 0},

		{"remote port at RESOURCE_ASSIGNMENT_V4", wfp.LayerALEResourceAssignmentV4, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U16(53)), wfp.ErrConditionNotFound},
		{"user at OUTBOUND_TRANSPORT", wfp.LayerOutboundTransportV4, cond(wfp.FieldALEUserID, wfp.MatchEqual, wfp.SD(sd)), wfp.ErrConditionNotFound},
		{"unknown field GUID", wfp.LayerALEAuthConnectV4, cond(wfp.FieldID(guid(50)), wfp.MatchEqual, wfp.U16(53)), wfp.ErrConditionNotFound},
		{"port as UINT8", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, wfp.U8(53)), wfp.ErrTypeMismatch},
		{"protocol as UINT16", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.U16(6)), wfp.ErrTypeMismatch},
		{"user as byte blob", wfp.LayerALEAuthConnectV4, cond(wfp.FieldALEUserID, wfp.MatchEqual, wfp.Value{Type: wfp.ByteBlob, Bytes: sd}), wfp.ErrTypeMismatch},
		{"v4 mask at a v6 layer", wfp.LayerALEAuthConnectV6, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.AddrMask(netip.MustParsePrefix("10.0.0.0/8"))), wfp.ErrTypeMismatch},
		{"absolute SD", wfp.LayerALEAuthConnectV4, cond(wfp.FieldALEUserID, wfp.MatchEqual, wfp.SD(absolute)), wfp.ErrInvalidSecurityDescr},
		{"truncated SD", wfp.LayerALEAuthConnectV4, cond(wfp.FieldALEUserID, wfp.MatchEqual, wfp.SD(sd[:10])), wfp.ErrInvalidSecurityDescr},
		// FWP_MATCH_TYPE: "Only sortable data types support FWP_MATCH_NOT_EQUAL"; an SD is not one.
		{"user SD NOT_EQUAL", wfp.LayerALEAuthConnectV6, cond(wfp.FieldALEUserID, wfp.MatchNotEqual, wfp.SD(sd)), wfp.ErrMatchTypeMismatch},
		{"SD with GREATER", wfp.LayerALEAuthConnectV4, cond(wfp.FieldALEUserID, wfp.MatchGreater, wfp.SD(sd)), wfp.ErrMatchTypeMismatch},
		{"RANGE match on a plain value", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchRange, wfp.U16(53)), wfp.ErrMatchTypeMismatch},
		{"range value with EQUAL", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchEqual, portRange), wfp.ErrMatchTypeMismatch},
		{"reversed range", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchRange, wfp.RangeOf(wfp.U16(2000), wfp.U16(1000))), wfp.ErrInvalidRange},
		{"port range of UINT32", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchRange, wfp.RangeOf(wfp.U32(1), wfp.U32(2))), wfp.ErrTypeMismatch},
		{"v4 address range", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemoteAddress, wfp.MatchRange, wfp.RangeOf(wfp.U32(0x0A000000), wfp.U32(0x0AFFFFFF))), 0},
		{"mixed range", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemotePort, wfp.MatchRange, wfp.RangeOf(wfp.U16(1), wfp.U32(2))), wfp.ErrInvalidRange},
		{"v6 prefix in a v4 mask", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPRemoteAddress, wfp.MatchEqual, wfp.Value{Type: wfp.V4AddrMask, Prefix: netip.MustParsePrefix("fd00::/8")}), wfp.ErrInvalidNetMask},
		{"UINT8 over 255", wfp.LayerALEAuthConnectV4, cond(wfp.FieldIPProtocol, wfp.MatchEqual, wfp.Value{Type: wfp.Uint8, Uint: 300}), wfp.ErrOutOfBounds},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filter(guid(i), subA, ptr(provA), true)
			f.Layer = tt.layer
			f.Conditions = []wfp.Condition{tt.c}
			_, err := s.AddFilter(f)
			if tt.code == 0 {
				must(t, err)
				return
			}
			wantCode(t, err, "FwpmFilterAdd0", tt.code)
		})
	}
}

// OM: "Each client session can have only one transaction in progress at a time. If the
// caller attempts to begin a second transaction before committing or aborting the first,
// BFE returns an error." EC: FWP_E_TXN_IN_PROGRESS "The call is not allowed from within an
// explicit transaction.", FWP_E_NO_TXN_IN_PROGRESS "The call must be made from within an
// explicit transaction."
func TestTransactionMisuse(t *testing.T) {
	_, s := base(t)
	wantCode(t, s.CommitTransaction(), "FwpmTransactionCommit0", wfp.ErrNoTxnInProgress)
	wantCode(t, s.AbortTransaction(), "FwpmTransactionAbort0", wfp.ErrNoTxnInProgress)
	must(t, s.BeginTransaction())
	wantCode(t, s.BeginTransaction(), "FwpmTransactionBegin0", wfp.ErrTxnInProgress)
	must(t, s.CommitTransaction())
	wantCode(t, s.CommitTransaction(), "FwpmTransactionCommit0", wfp.ErrNoTxnInProgress)
}

// OM: "suppose the client begins a transaction and successfully calls FwpmFilterAdd0 three
// times before a fourth call fails. The client now has the option of: Aborting the
// transaction, in which case none of the filters will be added. Committing the
// transaction, in which case the first three filters will be added."
func TestFailedCallDoesNotAbortTransaction(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b, s := base(t)
		before := snapshot(t, b)
		must(t, s.BeginTransaction())
		for i := range 3 {
			_, err := s.AddFilter(filter(guid(i), subA, ptr(provA), true))
			must(t, err)
		}
		_, err := s.AddFilter(filter(guid(0), subA, ptr(provA), true)) // duplicate key
		wantCode(t, err, "FwpmFilterAdd0", wfp.ErrAlreadyExists)
		fs, err := s.Filters(nil) // the transaction's own view
		must(t, err)
		if len(fs) != 3 {
			t.Fatalf("inside the transaction after a failed call: %d filters, want 3", len(fs))
		}
		if commit {
			must(t, s.CommitTransaction())
			fs, err := b.Open().Filters(ptr(provA))
			must(t, err)
			if len(fs) != 3 {
				t.Errorf("after commit: %d filters, want the first 3", len(fs))
			}
		} else {
			must(t, s.AbortTransaction())
			if got := snapshot(t, b); got != before {
				t.Errorf("after abort the state changed:\n%s\nwant\n%s", got, before)
			}
		}
	}
}

// OM: transactions "enforce rigorous Atomic Consistent Isolated Durable (ACID) semantics":
// another session sees nothing of a transaction before its commit, and all of it after.
func TestCommitIsAtomicAndIsolated(t *testing.T) {
	b, s := base(t)
	other := b.Open()
	must(t, s.BeginTransaction())
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	must(t, s.DeleteFilter(guid(1)))
	_, err = s.AddFilter(filter(guid(2), subA, ptr(provA), true))
	must(t, err)
	must(t, s.AddProvider(provider(provB, false)))
	if fs, _ := other.Filters(nil); len(fs) != 0 {
		t.Fatalf("another session sees %d uncommitted filters", len(fs))
	}
	if _, err := other.Provider(provB); !errors.Is(err, wfp.ErrProviderNotFound) {
		t.Fatalf("another session sees an uncommitted provider (err %v)", err)
	}
	must(t, s.CommitTransaction())
	fs, err := other.Filters(nil)
	must(t, err)
	if len(fs) != 1 || fs[0].Key != guid(2) {
		t.Fatalf("after commit another session sees %v, want filter 2 only", fs)
	}
	if _, err := other.Provider(provB); err != nil {
		t.Fatal(err)
	}
}

// OM: "When beginning a transaction, BFE will wait until the session's
// txnWaitTimeoutInMSec expires to acquire the lock. If the lock is not acquired within
// this time, the lock acquisition (and the FwpmTransactionBegin0 call) will fail."
// EC: FWP_E_TIMEOUT "The call timed out while waiting to acquire the transaction lock."
func TestTransactionLockTimeout(t *testing.T) {
	b, s := base(t)
	other := b.Open()
	other.SetTxnWaitTimeout(30 * time.Millisecond)
	must(t, s.BeginTransaction())
	start := time.Now()
	wantCode(t, other.BeginTransaction(), "FwpmTransactionBegin0", wfp.ErrTimeout)
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("FWP_E_TIMEOUT after %v, before the 30ms timeout", waited)
	}
	// Implicit write transactions need the lock too.
	_, err := other.AddFilter(filter(guid(1), subA, ptr(provA), true))
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrTimeout)
	// Reads do not.
	if _, err := other.Filters(nil); err != nil {
		t.Fatal(err)
	}
	// A waiting Begin gets the lock once the holder commits.
	other.SetTxnWaitTimeout(5 * time.Second)
	done := make(chan error)
	go func() { done <- other.BeginTransaction() }()
	time.Sleep(10 * time.Millisecond)
	must(t, s.CommitTransaction())
	must(t, <-done)
	must(t, other.AbortTransaction())

	// FWPM_SESSION0 txnWaitTimeoutInMSec: "If this member is zero, BFE will use a default
	// timeout." (15 s, OM), so a zero timeout waits for the lock instead of failing at once.
	other.SetTxnWaitTimeout(0)
	must(t, s.BeginTransaction())
	go func() { done <- other.BeginTransaction() }()
	time.Sleep(50 * time.Millisecond)
	must(t, s.AbortTransaction())
	must(t, <-done)
	must(t, other.AbortTransaction())
}

// OM: "if a function call is made outside of an explicit transaction, it will be executed
// within an implicit transaction": it is committed at once and visible to other sessions.
func TestImplicitTransaction(t *testing.T) {
	b, s := base(t)
	id, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	f, err := b.Open().FilterByID(id)
	must(t, err)
	if f.Key != guid(1) {
		t.Fatalf("FilterByID(%d) = %s", id, f.Key)
	}
	// A failed implicit call changes nothing.
	before := snapshot(t, b)
	_, err = s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrAlreadyExists)
	if snapshot(t, b) != before {
		t.Error("a failed implicit call changed the state")
	}
}

// OM: "When a session is destroyed … BFE first aborts any existing transaction."
func TestCloseAbortsTransaction(t *testing.T) {
	b, s := base(t)
	before := snapshot(t, b)
	must(t, s.BeginTransaction())
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	must(t, s.Close())
	if snapshot(t, b) != before {
		t.Error("closing a session with an open transaction committed it")
	}
	other := b.Open()
	other.SetTxnWaitTimeout(time.Second)
	must(t, other.BeginTransaction()) // the lock was released
	must(t, other.AbortTransaction())
	if _, err := s.Providers(); err == nil {
		t.Error("a closed session still answers")
	}
}

// FILTER0: filterId "A LUID identifying the filter. This is also the LUID of the
// corresponding FWPS_FILTER0 structure" (assigned by BFE, returned by FwpmFilterAdd0's id).
func TestFilterIDs(t *testing.T) {
	_, s := base(t)
	var ids []uint64
	for i := range 5 {
		id, err := s.AddFilter(filter(guid(i), subA, ptr(provA), true))
		must(t, err)
		ids = append(ids, id)
	}
	must(t, s.DeleteFilter(guid(4)))
	id, err := s.AddFilter(filter(guid(9), subA, ptr(provA), true))
	must(t, err)
	ids = append(ids, id)
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("IDs not increasing: %v", ids)
		}
	}
	for i, id := range ids[:4] {
		f, err := s.FilterByID(id)
		must(t, err)
		if f.Key != guid(i) || f.ID != id {
			t.Errorf("FilterByID(%d) = %s/%d", id, f.Key, f.ID)
		}
	}
}

// Enumeration with a provider template returns that provider's objects only
// (FWPM_FILTER_ENUM_TEMPLATE0 providerKey: "Only return objects associated with this
// provider"); no template returns all.
func TestEnumerateByProvider(t *testing.T) {
	_, s := base(t)
	must(t, s.AddProvider(provider(provB, true)))
	must(t, s.AddSublayer(sublayer(subB, ptr(provB), true)))
	for i := range 3 {
		_, err := s.AddFilter(filter(guid(i), subA, ptr(provA), true))
		must(t, err)
	}
	_, err := s.AddFilter(filter(guid(10), subB, ptr(provB), true))
	must(t, err)
	_, err = s.AddFilter(filter(guid(11), subB, nil, false))
	must(t, err)
	count := func(p *wfp.GUID) (int, int) {
		fs, err := s.Filters(p)
		must(t, err)
		ss, err := s.Sublayers(p)
		must(t, err)
		return len(fs), len(ss)
	}
	for _, tt := range []struct {
		p            *wfp.GUID
		filters, sub int
	}{{ptr(provA), 3, 1}, {ptr(provB), 1, 1}, {nil, 5, 2}} {
		if f, sl := count(tt.p); f != tt.filters || sl != tt.sub {
			t.Errorf("provider %v: %d filters, %d sublayers; want %d, %d", tt.p, f, sl, tt.filters, tt.sub)
		}
	}
}

// Objects cross the API by value, as through RPC: neither the caller's input nor a
// returned object aliases engine state.
func TestReturnedObjectsAreCopies(t *testing.T) {
	b, s := base(t)
	sd := userSD(t)
	f := filter(guid(1), subA, ptr(provA), true)
	f.Conditions = append(f.Conditions, wfp.Condition{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(sd)})
	_, err := s.AddFilter(f)
	must(t, err)
	before := snapshot(t, b)
	f.Name = "changed"
	f.Conditions[0].Value.Uint = 99
	f.Conditions[1].Value.Bytes[0] = 0xFF
	*f.ProviderKey = provB
	got, err := s.Filter(guid(1))
	must(t, err)
	got.Conditions[1].Value.Bytes[1] = 0xFF
	got.Conditions[0].Match = wfp.MatchGreater
	*got.ProviderKey = provB
	fs, err := s.Filters(nil)
	must(t, err)
	fs[0].Name = "changed too"
	p, err := s.Provider(provA)
	must(t, err)
	p.Name = "x"
	if after := snapshot(t, b); after != before {
		t.Errorf("engine state changed through aliases:\n%s\nwant\n%s", after, before)
	}
}

// OM: "Static objects live until they are deleted, BFE stops, or the system is shutdown."
// "Persistent objects live until they are deleted." EC: FWP_E_SESSION_ABORTED "The session
// has been canceled."
func TestRestart(t *testing.T) {
	b, s := base(t)
	must(t, s.AddProvider(provider(provB, false)))
	must(t, s.AddSublayer(sublayer(subB, ptr(provB), false)))
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	_, err = s.AddFilter(filter(guid(2), subA, ptr(provA), false))
	must(t, err)
	_, err = s.AddFilter(filter(guid(3), subB, ptr(provB), false))
	must(t, err)
	must(t, s.BeginTransaction())
	must(t, b.Restart())
	_, err = s.Filters(nil)
	wantCode(t, err, "FwpmFilterEnum0", wfp.ErrSessionAborted)
	wantCode(t, s.CommitTransaction(), "FwpmTransactionCommit0", wfp.ErrSessionAborted)
	must(t, s.Close())

	n := b.Open()
	n.SetTxnWaitTimeout(100 * time.Millisecond)
	fs, err := n.Filters(nil)
	must(t, err)
	if len(fs) != 1 || fs[0].Key != guid(1) {
		t.Errorf("after restart: %v, want only the persistent filter", fs)
	}
	if _, err := n.Provider(provB); !errors.Is(err, wfp.ErrProviderNotFound) {
		t.Errorf("static provider survived a restart (err %v)", err)
	}
	if _, err := n.Sublayer(subA); err != nil {
		t.Errorf("persistent sublayer lost: %v", err)
	}
	must(t, n.BeginTransaction()) // the dead session's transaction lock is gone
	must(t, n.AbortTransaction())
}

// Concurrent sessions each adding filters in their own transactions: every filter lands,
// IDs are unique.
func TestConcurrentSessions(t *testing.T) {
	b, _ := base(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			s := b.Open()
			defer s.Close()
			for i := range 10 {
				if err := s.BeginTransaction(); err != nil {
					errs <- err
					return
				}
				if _, err := s.AddFilter(filter(guid(w*10+i), subA, ptr(provA), true)); err != nil {
					errs <- err
				}
				if err := s.CommitTransaction(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	fs, err := b.Open().Filters(nil)
	must(t, err)
	ids := map[uint64]bool{}
	for _, f := range fs {
		ids[f.ID] = true
	}
	if len(fs) != 80 || len(ids) != 80 {
		t.Errorf("%d filters with %d distinct IDs, want 80", len(fs), len(ids))
	}
}

var _ wfp.Engine = (*memengine.Session)(nil)
