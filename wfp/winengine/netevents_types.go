package winengine

//lint:file-ignore U1000 the mirrors carry every SDK member for the layout, used or not

// C mirrors of the net event structures (SDK shared/fwpmtypes.h, as mirrored in
// microsoft/win32metadata generation/WinSDK/RecompiledIdlHeaders/shared/fwpmtypes.h;
// mingw-w64 10 has only the version 0 and 1 structures). Which version a call returns:
//
//	FwpmNetEventEnum0 → FWPM_NET_EVENT0 (HEADER0, CLASSIFY_DROP0)   Windows Vista
//	FwpmNetEventEnum1 → FWPM_NET_EVENT1 (HEADER1, CLASSIFY_DROP1)   Windows 7
//	FwpmNetEventEnum2 → FWPM_NET_EVENT2 (HEADER2, CLASSIFY_DROP2)   Windows 8
//	FwpmNetEventEnum3 → FWPM_NET_EVENT3 (HEADER3, CLASSIFY_DROP2)   Windows 10 1507
//	FwpmNetEventEnum4 → FWPM_NET_EVENT4 (HEADER3, CLASSIFY_DROP2)   Windows 10 1803
//	FwpmNetEventEnum5 → FWPM_NET_EVENT5 (HEADER3, CLASSIFY_DROP2)   Windows 10 1809
//
// FwpmNetEventSubscribe0..4 deliver FWPM_NET_EVENT1..5. Every header starts with the
// members of FWPM_NET_EVENT_HEADER0 at the same offsets, and CLASSIFY_DROP1/2 start
// with CLASSIFY_DROP0/1, which the parser relies on (abi_netevents_test.go checks it).
// The address unions are [4]uint32 so that Go aligns them to 4 as C does; header3's
// UINT64 needs an explicit pad on 386 (netevents_types_32.go).

import "unsafe"

// filetime is FILETIME (minwinbase.h): two DWORDs, so 4-byte aligned.
type filetime struct {
	dwLowDateTime  uint32
	dwHighDateTime uint32
}

// fwpmNetEventHeader0 is FWPM_NET_EVENT_HEADER0.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_header0
type fwpmNetEventHeader0 struct {
	timeStamp  filetime
	flags      uint32
	ipVersion  uint32 // FWP_IP_VERSION
	ipProtocol uint8
	localAddr  [4]uint32 // union { UINT32 localAddrV4; FWP_BYTE_ARRAY16 localAddrV6; }
	remoteAddr [4]uint32 // union { UINT32 remoteAddrV4; FWP_BYTE_ARRAY16 remoteAddrV6; }
	localPort  uint16
	remotePort uint16
	scopeId    uint32
	appId      fwpByteBlob
	userId     unsafe.Pointer // SID*
}

// fwpmNetEventHeader1 is FWPM_NET_EVENT_HEADER1: HEADER0 and a reserved union (the SDK
// names its members reserved1..reserved10; mingw-w64 and the documentation call them
// addressFamily, dstAddrEth, …, ifLuid).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_header1
type fwpmNetEventHeader1 struct {
	timeStamp  filetime
	flags      uint32
	ipVersion  uint32
	ipProtocol uint8
	localAddr  [4]uint32
	remoteAddr [4]uint32
	localPort  uint16
	remotePort uint16
	scopeId    uint32
	appId      fwpByteBlob
	userId     unsafe.Pointer
	reserved1  uint32  // FWP_AF
	_          [4]byte // C aligns the inner union (it holds a UINT64) to 8
	reserved2  [6]byte // FWP_BYTE_ARRAY6
	reserved3  [6]byte // FWP_BYTE_ARRAY6
	reserved4  uint32
	reserved5  uint32
	reserved6  uint16
	reserved7  uint32
	reserved8  uint32
	reserved9  uint16
	_          [6]byte // C aligns reserved10 to 8
	reserved10 [8]byte // UINT64, as bytes so that Go does not align it to 4 on 386
}

// fwpmNetEventHeader2 is FWPM_NET_EVENT_HEADER2 (Windows 8).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_header2
type fwpmNetEventHeader2 struct {
	timeStamp     filetime
	flags         uint32
	ipVersion     uint32
	ipProtocol    uint8
	localAddr     [4]uint32
	remoteAddr    [4]uint32
	localPort     uint16
	remotePort    uint16
	scopeId       uint32
	appId         fwpByteBlob
	userId        unsafe.Pointer
	addressFamily uint32         // FWP_AF
	packageSid    unsafe.Pointer // SID*
}

// fwpmNetEventClassifyDrop0 is FWPM_NET_EVENT_CLASSIFY_DROP0 (16 bytes in C on both
// architectures: it is 8-aligned).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_classify_drop0
type fwpmNetEventClassifyDrop0 struct {
	filterId uint64
	layerId  uint16
	_        [6]byte // C's tail padding to the struct's 8-byte alignment
}

// fwpmNetEventClassifyDrop1 is FWPM_NET_EVENT_CLASSIFY_DROP1 (Windows 7).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_classify_drop1
type fwpmNetEventClassifyDrop1 struct {
	filterId        uint64
	layerId         uint16
	reauthReason    uint32
	originalProfile uint32
	currentProfile  uint32
	msFwpDirection  uint32
	isLoopback      int32 // BOOL
}

// fwpmNetEventClassifyDrop2 is FWPM_NET_EVENT_CLASSIFY_DROP2 (Windows 8).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_classify_drop2
type fwpmNetEventClassifyDrop2 struct {
	filterId               uint64
	layerId                uint16
	reauthReason           uint32
	originalProfile        uint32
	currentProfile         uint32
	msFwpDirection         uint32
	isLoopback             int32
	vSwitchId              fwpByteBlob
	vSwitchSourcePort      uint32
	vSwitchDestinationPort uint32
}

// fwpmNetEvent0 is FWPM_NET_EVENT0. classifyDrop stands for the union of pointers to
// the type-specific records.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event0
type fwpmNetEvent0 struct {
	header       fwpmNetEventHeader0
	eventType    uint32  // FWPM_NET_EVENT_TYPE type
	classifyDrop uintptr // union
}

// fwpmNetEvent1 is FWPM_NET_EVENT1.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event1
type fwpmNetEvent1 struct {
	header       fwpmNetEventHeader1
	eventType    uint32
	classifyDrop uintptr
}

// fwpmNetEvent2 is FWPM_NET_EVENT2.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event2
type fwpmNetEvent2 struct {
	header       fwpmNetEventHeader2
	eventType    uint32
	classifyDrop uintptr
}

// fwpmNetEvent3 is FWPM_NET_EVENT3.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event3
type fwpmNetEvent3 struct {
	header       fwpmNetEventHeader3
	eventType    uint32
	classifyDrop uintptr
}

// fwpmNetEvent4 is FWPM_NET_EVENT4 (the same layout as FWPM_NET_EVENT3; its union
// points to newer IKE records).
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event4
type fwpmNetEvent4 struct {
	header       fwpmNetEventHeader3
	eventType    uint32
	classifyDrop uintptr
}

// fwpmNetEvent5 is FWPM_NET_EVENT5.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event5
type fwpmNetEvent5 struct {
	header       fwpmNetEventHeader3
	eventType    uint32
	classifyDrop uintptr
}

// fwpmNetEventEnumTemplate0 is FWPM_NET_EVENT_ENUM_TEMPLATE0.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_enum_template0
type fwpmNetEventEnumTemplate0 struct {
	startTime           filetime
	endTime             filetime
	numFilterConditions uint32
	filterCondition     *fwpmFilterCondition0
}

// fwpmNetEventSubscription0 is FWPM_NET_EVENT_SUBSCRIPTION0.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_subscription0
type fwpmNetEventSubscription0 struct {
	enumTemplate *fwpmNetEventEnumTemplate0
	flags        uint32
	sessionKey   wfpGUID
}
