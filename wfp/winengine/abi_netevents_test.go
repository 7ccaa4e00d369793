//go:build unix

package winengine

import (
	"reflect"
	"testing"
	"unsafe"
)

// sdkNetEventC is the C source of the net event structures mingw-w64 10 lacks,
// transcribed by hand from the Windows SDK (shared/fwpmtypes.h in
// microsoft/win32metadata generation/WinSDK/RecompiledIdlHeaders, NTDDI_WIN8 through
// NTDDI_WIN10_RS5 blocks). Union members the parser never reads point to incomplete
// struct types, which is enough for the layout. The version 0 and 1 structures, the
// enum template and the subscription come from mingw-w64's own fwpmtypes.h, a source
// independent of this transcription.
const sdkNetEventC = `
typedef struct FWPM_NET_EVENT_HEADER2_ {
    FILETIME timeStamp;
    UINT32 flags;
    FWP_IP_VERSION ipVersion;
    UINT8 ipProtocol;
    union { UINT32 localAddrV4; FWP_BYTE_ARRAY16 localAddrV6; };
    union { UINT32 remoteAddrV4; FWP_BYTE_ARRAY16 remoteAddrV6; };
    UINT16 localPort;
    UINT16 remotePort;
    UINT32 scopeId;
    FWP_BYTE_BLOB appId;
    SID *userId;
    FWP_AF addressFamily;
    SID *packageSid;
} FWPM_NET_EVENT_HEADER2;

typedef struct FWPM_NET_EVENT_HEADER3_ {
    FILETIME timeStamp;
    UINT32 flags;
    FWP_IP_VERSION ipVersion;
    UINT8 ipProtocol;
    union { UINT32 localAddrV4; FWP_BYTE_ARRAY16 localAddrV6; };
    union { UINT32 remoteAddrV4; FWP_BYTE_ARRAY16 remoteAddrV6; };
    UINT16 localPort;
    UINT16 remotePort;
    UINT32 scopeId;
    FWP_BYTE_BLOB appId;
    SID *userId;
    FWP_AF addressFamily;
    SID *packageSid;
    wchar_t *enterpriseId;
    UINT64 policyFlags;
    FWP_BYTE_BLOB effectiveName;
} FWPM_NET_EVENT_HEADER3;

typedef struct FWPM_NET_EVENT_CLASSIFY_DROP2_ {
    UINT64 filterId;
    UINT16 layerId;
    UINT32 reauthReason;
    UINT32 originalProfile;
    UINT32 currentProfile;
    UINT32 msFwpDirection;
    BOOL isLoopback;
    FWP_BYTE_BLOB vSwitchId;
    UINT32 vSwitchSourcePort;
    UINT32 vSwitchDestinationPort;
} FWPM_NET_EVENT_CLASSIFY_DROP2;

#define SDK_NET_EVENT_UNION_V2 \
    struct FWPM_NET_EVENT_IKEEXT_MM_FAILURE1_ *ikeMmFailure; \
    struct FWPM_NET_EVENT_IKEEXT_QM_FAILURE0_ *ikeQmFailure; \
    struct FWPM_NET_EVENT_IKEEXT_EM_FAILURE1_ *ikeEmFailure; \
    FWPM_NET_EVENT_CLASSIFY_DROP2 *classifyDrop; \
    struct FWPM_NET_EVENT_IPSEC_KERNEL_DROP0_ *ipsecDrop; \
    struct FWPM_NET_EVENT_IPSEC_DOSP_DROP0_ *idpDrop; \
    struct FWPM_NET_EVENT_CLASSIFY_ALLOW0 *classifyAllow; \
    struct FWPM_NET_EVENT_CAPABILITY_DROP0_ *capabilityDrop; \
    struct FWPM_NET_EVENT_CAPABILITY_ALLOW0_ *capabilityAllow; \
    struct FWPM_NET_EVENT_CLASSIFY_DROP_MAC0_ *classifyDropMac;

typedef struct FWPM_NET_EVENT2_ {
    FWPM_NET_EVENT_HEADER2 header;
    FWPM_NET_EVENT_TYPE type;
    union { SDK_NET_EVENT_UNION_V2 };
} FWPM_NET_EVENT2;

typedef struct FWPM_NET_EVENT3_ {
    FWPM_NET_EVENT_HEADER3 header;
    FWPM_NET_EVENT_TYPE type;
    union { SDK_NET_EVENT_UNION_V2 };
} FWPM_NET_EVENT3;

/* FWPM_NET_EVENT4 and 5 point to IKEEXT_MM_FAILURE2 and QM_FAILURE1; 5 adds lpmPacketArrival. */
typedef struct FWPM_NET_EVENT4_ {
    FWPM_NET_EVENT_HEADER3 header;
    FWPM_NET_EVENT_TYPE type;
    union {
        struct FWPM_NET_EVENT_IKEEXT_MM_FAILURE2_ *ikeMmFailure;
        struct FWPM_NET_EVENT_IKEEXT_QM_FAILURE1_ *ikeQmFailure;
        struct FWPM_NET_EVENT_IKEEXT_EM_FAILURE1_ *ikeEmFailure;
        FWPM_NET_EVENT_CLASSIFY_DROP2 *classifyDrop;
        struct FWPM_NET_EVENT_IPSEC_KERNEL_DROP0_ *ipsecDrop;
        struct FWPM_NET_EVENT_IPSEC_DOSP_DROP0_ *idpDrop;
        struct FWPM_NET_EVENT_CLASSIFY_ALLOW0 *classifyAllow;
        struct FWPM_NET_EVENT_CAPABILITY_DROP0_ *capabilityDrop;
        struct FWPM_NET_EVENT_CAPABILITY_ALLOW0_ *capabilityAllow;
        struct FWPM_NET_EVENT_CLASSIFY_DROP_MAC0_ *classifyDropMac;
    };
} FWPM_NET_EVENT4;

typedef struct FWPM_NET_EVENT5_ {
    FWPM_NET_EVENT_HEADER3 header;
    FWPM_NET_EVENT_TYPE type;
    union {
        struct FWPM_NET_EVENT_IKEEXT_MM_FAILURE2_ *ikeMmFailure;
        struct FWPM_NET_EVENT_IKEEXT_QM_FAILURE1_ *ikeQmFailure;
        struct FWPM_NET_EVENT_IKEEXT_EM_FAILURE1_ *ikeEmFailure;
        FWPM_NET_EVENT_CLASSIFY_DROP2 *classifyDrop;
        struct FWPM_NET_EVENT_IPSEC_KERNEL_DROP0_ *ipsecDrop;
        struct FWPM_NET_EVENT_IPSEC_DOSP_DROP0_ *idpDrop;
        struct FWPM_NET_EVENT_CLASSIFY_ALLOW0 *classifyAllow;
        struct FWPM_NET_EVENT_CAPABILITY_DROP0_ *capabilityDrop;
        struct FWPM_NET_EVENT_CAPABILITY_ALLOW0_ *capabilityAllow;
        struct FWPM_NET_EVENT_CLASSIFY_DROP_MAC0_ *classifyDropMac;
        struct FWPM_NET_EVENT_LPM_PACKET_ARRIVAL0_ *lpmPacketArrival;
    };
} FWPM_NET_EVENT5;
`

func netEventMirrors() []abiMirror {
	addr := map[string]string{"localAddr": "localAddrV6", "remoteAddr": "remoteAddrV6"}
	addrAlign := map[string]string{"localAddr": "localAddrV4", "remoteAddr": "remoteAddrV4"}
	event := map[string]string{"eventType": "type"}
	// mingw-w64 names HEADER1's reserved union members after the documentation.
	header1 := map[string]string{
		"localAddr": "localAddrV6", "remoteAddr": "remoteAddrV6",
		"reserved1": "addressFamily", "reserved2": "dstAddrEth", "reserved3": "srcAddrEth",
		"reserved4": "addrType", "reserved5": "encapMethod", "reserved6": "etherType",
		"reserved7": "snapControl", "reserved8": "snapOui", "reserved9": "vlanTag", "reserved10": "ifLuid",
	}
	header1Align := map[string]string{"localAddr": "localAddrV4", "remoteAddr": "remoteAddrV4", "reserved2": "ifLuid"}
	return []abiMirror{
		{c: "FILETIME", goType: reflect.TypeFor[filetime]()},
		{c: "FWPM_NET_EVENT_HEADER0", goType: reflect.TypeFor[fwpmNetEventHeader0](), cNames: addr, unionAlign: addrAlign},
		{c: "FWPM_NET_EVENT_HEADER1", goType: reflect.TypeFor[fwpmNetEventHeader1](), cNames: header1, unionAlign: header1Align},
		{c: "FWPM_NET_EVENT_HEADER2", goType: reflect.TypeFor[fwpmNetEventHeader2](), cNames: addr, unionAlign: addrAlign},
		{c: "FWPM_NET_EVENT_HEADER3", goType: reflect.TypeFor[fwpmNetEventHeader3](), cNames: addr, unionAlign: addrAlign},
		{c: "FWPM_NET_EVENT_CLASSIFY_DROP0", goType: reflect.TypeFor[fwpmNetEventClassifyDrop0]()},
		{c: "FWPM_NET_EVENT_CLASSIFY_DROP1", goType: reflect.TypeFor[fwpmNetEventClassifyDrop1]()},
		{c: "FWPM_NET_EVENT_CLASSIFY_DROP2", goType: reflect.TypeFor[fwpmNetEventClassifyDrop2]()},
		{c: "FWPM_NET_EVENT0", goType: reflect.TypeFor[fwpmNetEvent0](), cNames: event},
		{c: "FWPM_NET_EVENT1", goType: reflect.TypeFor[fwpmNetEvent1](), cNames: event},
		{c: "FWPM_NET_EVENT2", goType: reflect.TypeFor[fwpmNetEvent2](), cNames: event},
		{c: "FWPM_NET_EVENT3", goType: reflect.TypeFor[fwpmNetEvent3](), cNames: event},
		{c: "FWPM_NET_EVENT4", goType: reflect.TypeFor[fwpmNetEvent4](), cNames: event},
		{c: "FWPM_NET_EVENT5", goType: reflect.TypeFor[fwpmNetEvent5](), cNames: event},
		{c: "FWPM_NET_EVENT_ENUM_TEMPLATE0", goType: reflect.TypeFor[fwpmNetEventEnumTemplate0]()},
		{c: "FWPM_NET_EVENT_SUBSCRIPTION0", goType: reflect.TypeFor[fwpmNetEventSubscription0]()},
	}
}

// TestABINetEventMirrors checks every field of the net event mirrors against the C
// compiler: mingw-w64's headers for the version 0/1 structures, the enum template and
// the subscription, and the SDK transcription above for the rest.
func TestABINetEventMirrors(t *testing.T) {
	mirrors := netEventMirrors()
	checkABIMirrors(t, mirrors, compileABI(t, mirrors, sdkNetEventC))
}

// TestNetEventFacts pins wfp-facts.md §8's independently computed numbers, and the
// prefix property the parser relies on: every header version has HEADER0's members at
// HEADER0's offsets, and CLASSIFY_DROP1/2 begin like CLASSIFY_DROP0/1.
func TestNetEventFacts(t *testing.T) {
	var h1 fwpmNetEventHeader1
	var h3 fwpmNetEventHeader3
	var e1 fwpmNetEvent1
	var e5 fwpmNetEvent5
	var d2 fwpmNetEventClassifyDrop2
	got := []uintptr{unsafe.Sizeof(h1), unsafe.Offsetof(h1.appId), unsafe.Offsetof(h1.userId),
		unsafe.Sizeof(e1), unsafe.Offsetof(e1.eventType), unsafe.Offsetof(e1.classifyDrop),
		unsafe.Sizeof(h3), unsafe.Offsetof(h3.addressFamily), unsafe.Offsetof(h3.packageSid), unsafe.Offsetof(h3.enterpriseId),
		unsafe.Offsetof(h3.policyFlags), unsafe.Offsetof(h3.effectiveName),
		unsafe.Sizeof(d2), unsafe.Offsetof(d2.vSwitchSourcePort), unsafe.Offsetof(d2.vSwitchDestinationPort),
		unsafe.Sizeof(e5), unsafe.Offsetof(e5.eventType), unsafe.Offsetof(e5.classifyDrop)}
	want := []uintptr{144, 64, 80, 160, 144, 152, 136, 88, 96, 104, 112, 120, 56, 48, 52, 152, 136, 144}
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = []uintptr{128, 60, 68, 136, 128, 132, 104, 72, 76, 80, 88, 96, 48, 40, 44, 112, 104, 108}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("value %d: Go %d, wfp-facts §8 %d (all: %v)", i, got[i], want[i], got)
		}
	}

	h0 := reflect.TypeFor[fwpmNetEventHeader0]()
	for _, other := range []reflect.Type{reflect.TypeFor[fwpmNetEventHeader1](), reflect.TypeFor[fwpmNetEventHeader2](), reflect.TypeFor[fwpmNetEventHeader3]()} {
		for i := range h0.NumField() {
			a, b := h0.Field(i), other.Field(i)
			if a.Name != b.Name || a.Offset != b.Offset || a.Type != b.Type {
				t.Errorf("%s field %d: %s@%d, HEADER0 has %s@%d", other.Name(), i, b.Name, b.Offset, a.Name, a.Offset)
			}
		}
	}
	d1 := reflect.TypeFor[fwpmNetEventClassifyDrop1]()
	dd2 := reflect.TypeFor[fwpmNetEventClassifyDrop2]()
	for i := range d1.NumField() {
		if a, b := d1.Field(i), dd2.Field(i); a.Name != b.Name || a.Offset != b.Offset {
			t.Errorf("CLASSIFY_DROP2 field %d: %s@%d, DROP1 has %s@%d", i, b.Name, b.Offset, a.Name, a.Offset)
		}
	}
}
