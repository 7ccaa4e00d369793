package winengine

//lint:file-ignore U1000 the mirrors carry every SDK member for the layout, used or not

// C mirrors of the fwpmtypes.h / fwptypes.h structures wfpsandbox passes to and reads
// from fwpuclnt.dll. Field names are the SDK member names so that abi_test.go can ask
// the mingw-w64 compiler for the offset of each one; a union is represented by one of
// its members (named in the comment). These files carry no build tag: the layout test
// runs on Linux with GOARCH=amd64 and GOARCH=386.
//
// Only the layout of FWPM_FILTER0 depends on the architecture in Go terms (it holds
// UINT64s, which Go aligns to 4 bytes on 386 and C to 8); it lives in types_64.go and
// types_32.go.

import (
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// wfpGUID is GUID (guiddef.h); wfp.GUID has its layout (16 bytes, 4-byte aligned).
type wfpGUID = wfp.GUID

// SDK constants used when composing structures.
const (
	// fwpmSessionFlagDynamic is FWPM_SESSION_FLAG_DYNAMIC (fwpmtypes.h).
	fwpmSessionFlagDynamic = 0x1

	// actionMaskAll makes FWPM_FILTER_ENUM_TEMPLATE0 match every action type: the field
	// returns "only filters whose action type contains at least one of the bits".
	// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter_enum_template0
	actionMaskAll = 0xFFFFFFFF

	// fwpFilterEnumOverlapping is FWP_FILTER_ENUM_OVERLAPPING (fwptypes.h).
	fwpFilterEnumOverlapping = 1

	// fwpFilterEnumFlagIncludeDisabled is FWP_FILTER_ENUM_FLAG_INCLUDE_DISABLED
	// (fwptypes.h): without it a persistent filter the engine disabled (for example
	// because of its provider) is left out of the enumeration, so verify would report it
	// missing and reconcile would try to add it again instead of seeing
	// FWPM_FILTER_FLAG_DISABLED.
	fwpFilterEnumFlagIncludeDisabled = 0x10

	// fwpFilterEnumFlagIncludeBoottime is FWP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME (fwptypes.h).
	fwpFilterEnumFlagIncludeBoottime = 0x8
)

// fwpByteBlob is FWP_BYTE_BLOB (fwptypes.h).
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwp_byte_blob
type fwpByteBlob struct {
	size uint32 // UINT32
	data *byte  // UINT8*
}

// fwpmDisplayData0 is FWPM_DISPLAY_DATA0 (fwptypes.h).
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwpm_display_data0
type fwpmDisplayData0 struct {
	name        *uint16 // wchar_t*
	description *uint16 // wchar_t*
}

// fwpValue0 is FWP_VALUE0 (fwptypes.h). value is the anonymous union, named after its
// pointer-sized member uint64 (UINT64*); uint8/uint16/uint32/int*/float32 are stored in
// its low bytes, everything else is a pointer.
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwp_value0
type fwpValue0 struct {
	dataType uint32  // FWP_DATA_TYPE type
	value    uintptr // union
}

// fwpConditionValue0 is FWP_CONDITION_VALUE0 (fwptypes.h): FWP_VALUE0 plus the
// v4AddrMask, v6AddrMask and rangeValue pointer members in the union.
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwp_condition_value0
type fwpConditionValue0 struct {
	dataType uint32  // FWP_DATA_TYPE type
	value    uintptr // union
}

// fwpV4AddrAndMask is FWP_V4_ADDR_AND_MASK (fwptypes.h); both fields are in host order.
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwp_v4_addr_and_mask
type fwpV4AddrAndMask struct {
	addr uint32 // UINT32
	mask uint32 // UINT32
}

// fwpV6AddrAndMask is FWP_V6_ADDR_AND_MASK (fwptypes.h).
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwp_v6_addr_and_mask
type fwpV6AddrAndMask struct {
	addr         [16]byte // UINT8[FWP_V6_ADDR_SIZE]
	prefixLength uint8    // UINT8
}

// fwpRange0 is FWP_RANGE0 (fwptypes.h).
// https://learn.microsoft.com/windows/win32/api/fwptypes/ns-fwptypes-fwp_range0
type fwpRange0 struct {
	valueLow  fwpValue0
	valueHigh fwpValue0
}

// fwpmAction0 is FWPM_ACTION0 (fwpmtypes.h). filterType stands for the anonymous union
// { GUID filterType; GUID calloutKey; }.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_action0
type fwpmAction0 struct {
	actionType uint32  // FWP_ACTION_TYPE type
	filterType wfpGUID // union
}

// fwpmFilterCondition0 is FWPM_FILTER_CONDITION0 (fwpmtypes.h).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter_condition0
type fwpmFilterCondition0 struct {
	fieldKey       wfpGUID
	matchType      uint32 // FWP_MATCH_TYPE
	conditionValue fwpConditionValue0
}

// fwpmSession0 is FWPM_SESSION0 (fwpmtypes.h).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_session0
type fwpmSession0 struct {
	sessionKey           wfpGUID
	displayData          fwpmDisplayData0
	flags                uint32
	txnWaitTimeoutInMSec uint32
	processId            uint32         // DWORD
	sid                  unsafe.Pointer // SID*
	username             *uint16        // wchar_t*
	kernelMode           int32          // BOOL
}

// fwpmProvider0 is FWPM_PROVIDER0 (fwpmtypes.h).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_provider0
type fwpmProvider0 struct {
	providerKey  wfpGUID
	displayData  fwpmDisplayData0
	flags        uint32
	providerData fwpByteBlob
	serviceName  *uint16 // wchar_t*
}

// fwpmSublayer0 is FWPM_SUBLAYER0 (fwpmtypes.h). flags is UINT32 as in the Windows SDK;
// mingw-w64's header declares it UINT16 (a mingw bug; the offsets agree because of
// padding).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_sublayer0
type fwpmSublayer0 struct {
	subLayerKey  wfpGUID
	displayData  fwpmDisplayData0
	flags        uint32
	providerKey  *wfpGUID
	providerData fwpByteBlob
	weight       uint16
}

// fwpmSublayerEnumTemplate0 is FWPM_SUBLAYER_ENUM_TEMPLATE0 (fwpmtypes.h).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_sublayer_enum_template0
type fwpmSublayerEnumTemplate0 struct {
	providerKey *wfpGUID
}

// fwpmFilterEnumTemplate0 is FWPM_FILTER_ENUM_TEMPLATE0 (fwpmtypes.h).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter_enum_template0
type fwpmFilterEnumTemplate0 struct {
	providerKey             *wfpGUID
	layerKey                wfpGUID
	enumType                uint32 // FWP_FILTER_ENUM_TYPE
	flags                   uint32
	providerContextTemplate unsafe.Pointer // FWPM_PROVIDER_CONTEXT_ENUM_TEMPLATE0*
	numFilterConditions     uint32
	filterCondition         *fwpmFilterCondition0
	actionMask              uint32
	calloutKey              *wfpGUID
}

// Change notification structures (fwpmtypes.h). The subscriptions' enumTemplate
// members point to the enumeration templates above (FWPM_PROVIDER_ENUM_TEMPLATE0 holds
// only a reserved UINT64 and is always passed as NULL, so it has no mirror); flags is
// FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD | _ON_DELETE; sessionKey is left zero.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter_subscription0
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_sublayer_subscription0
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_provider_subscription0
const (
	// fwpmSubscriptionFlagNotifyOnAdd is FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD (fwpmtypes.h: 0x00000001).
	fwpmSubscriptionFlagNotifyOnAdd = 0x1
	// fwpmSubscriptionFlagNotifyOnDelete is FWPM_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE (fwpmtypes.h: 0x00000002).
	fwpmSubscriptionFlagNotifyOnDelete = 0x2
)

// fwpmFilterSubscription0 is FWPM_FILTER_SUBSCRIPTION0 (fwpmtypes.h).
type fwpmFilterSubscription0 struct {
	enumTemplate *fwpmFilterEnumTemplate0
	flags        uint32
	sessionKey   wfpGUID
}

// fwpmSublayerSubscription0 is FWPM_SUBLAYER_SUBSCRIPTION0 (fwpmtypes.h).
type fwpmSublayerSubscription0 struct {
	enumTemplate *fwpmSublayerEnumTemplate0
	flags        uint32
	sessionKey   wfpGUID
}

// fwpmProviderSubscription0 is FWPM_PROVIDER_SUBSCRIPTION0 (fwpmtypes.h); enumTemplate
// is an FWPM_PROVIDER_ENUM_TEMPLATE0*, always NULL here.
type fwpmProviderSubscription0 struct {
	enumTemplate unsafe.Pointer
	flags        uint32
	sessionKey   wfpGUID
}

// fwpmSublayerChange0 is FWPM_SUBLAYER_CHANGE0 (fwpmtypes.h), what
// FWPM_SUBLAYER_CHANGE_CALLBACK0 receives.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_sublayer_change0
type fwpmSublayerChange0 struct {
	changeType  uint32 // FWPM_CHANGE_TYPE
	subLayerKey wfpGUID
}

// fwpmProviderChange0 is FWPM_PROVIDER_CHANGE0 (fwpmtypes.h), what
// FWPM_PROVIDER_CHANGE_CALLBACK0 receives.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_provider_change0
type fwpmProviderChange0 struct {
	changeType  uint32 // FWPM_CHANGE_TYPE
	providerKey wfpGUID
}
