//go:build 386 || arm || mips || mipsle

package winengine

//lint:file-ignore U1000 the mirrors carry every SDK member for the layout, used or not

import "unsafe"

// fwpmNetEventHeader3 is FWPM_NET_EVENT_HEADER3 (Windows 10 1507) on 32-bit Windows:
// 104 bytes; C aligns policyFlags (UINT64) to 8, Go on 386 only to 4, hence the pad.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_header3
type fwpmNetEventHeader3 struct {
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
	addressFamily uint32
	packageSid    unsafe.Pointer
	enterpriseId  *uint16 // wchar_t*
	_             [4]byte // C aligns policyFlags to 8
	policyFlags   uint64
	effectiveName fwpByteBlob
}
