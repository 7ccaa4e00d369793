//go:build windows || unix

package winengine

// Net event structures returned by fwpuclnt.dll → wfp.NetEvent. Everything is copied, so
// the caller may free the page right after. A header field is dereferenced only when
// header.flags marks it as set: an engine (or an emulator) that leaves a pointer
// uninitialised behind a clear flag cannot make this code read it. A NULL or
// implausible pointer/size pair becomes a wfp.NetEvent problem, never a crash; events.Decode
// turns problems and missing flags into notes.

import (
	"github.com/wfpsandbox/wfpsandbox/wfp"

	"encoding/binary"
	"fmt"
	"unsafe"
)

// maxNetEventBlob bounds a blob length read from an event (an application path is at
// most 32 767 UTF-16 units).
const maxNetEventBlob = 1 << 16

// NetEventVersion returns n of the FWPM_NET_EVENTn (and FwpmNetEventEnumn) version the
// Windows version major.minor, build supports — the newest one, since each adds fields
// and the older ones stay available. Per wfp-facts.md §7 (fwpmu.h's NTDDI guards on
// FwpmNetEventEnum0..5 in the Windows SDK): 5 since Windows 10 1809 (build 17763,
// NTDDI_WIN10_RS5), 4 on 1803 (17134, NTDDI_WIN10_RS4), 3 on Windows 10 1507 and later
// (NTDDI_WINTHRESHOLD), 2 on Windows 8 and 8.1 (6.2, 6.3), 1 on Windows 7 (6.1), 0 on
// Vista.
func NetEventVersion(major, minor, build uint32) int {
	switch {
	case major > 10 || major == 10 && build >= 17763:
		return 5
	case major == 10 && build >= 17134:
		return 4
	case major == 10:
		return 3
	case major == 6 && minor >= 2:
		return 2
	case major == 6 && minor == 1:
		return 1
	}
	return 0
}

// parseNetEvent0..5 copy one FWPM_NET_EVENTn; a NULL entry becomes a Raw with a problem.
func parseNetEvent0(c *fwpmNetEvent0) (wfp.NetEvent, error) {
	if c == nil {
		return nullEntry(0), nil
	}
	return rawNetEvent(0, &c.header, c.eventType, c.classifyDrop, 0), nil
}

func parseNetEvent1(c *fwpmNetEvent1) (wfp.NetEvent, error) {
	if c == nil {
		return nullEntry(1), nil
	}
	return rawNetEvent(1, (*fwpmNetEventHeader0)(unsafe.Pointer(&c.header)), c.eventType, c.classifyDrop, 1), nil
}

func parseNetEvent2(c *fwpmNetEvent2) (wfp.NetEvent, error) {
	if c == nil {
		return nullEntry(2), nil
	}
	return rawNetEvent(2, (*fwpmNetEventHeader0)(unsafe.Pointer(&c.header)), c.eventType, c.classifyDrop, 2), nil
}

func parseNetEvent3(c *fwpmNetEvent3) (wfp.NetEvent, error) {
	if c == nil {
		return nullEntry(3), nil
	}
	return rawNetEvent(3, (*fwpmNetEventHeader0)(unsafe.Pointer(&c.header)), c.eventType, c.classifyDrop, 2), nil
}

func parseNetEvent4(c *fwpmNetEvent4) (wfp.NetEvent, error) {
	if c == nil {
		return nullEntry(4), nil
	}
	return rawNetEvent(4, (*fwpmNetEventHeader0)(unsafe.Pointer(&c.header)), c.eventType, c.classifyDrop, 2), nil
}

func parseNetEvent5(c *fwpmNetEvent5) (wfp.NetEvent, error) {
	if c == nil {
		return nullEntry(5), nil
	}
	return rawNetEvent(5, (*fwpmNetEventHeader0)(unsafe.Pointer(&c.header)), c.eventType, c.classifyDrop, 2), nil
}

func nullEntry(version int) wfp.NetEvent {
	return wfp.NetEvent{Version: version, Type: ^uint32(0), Problems: []string{"could not decode the event: the engine returned a NULL entry"}}
}

// rawNetEvent copies an event whose header begins with HEADER0's members (all versions
// do; abi_netevents_test.go checks it) and whose classifyDrop union member points to a
// CLASSIFY_DROP of version dropVersion.
func rawNetEvent(version int, h *fwpmNetEventHeader0, eventType uint32, drop uintptr, dropVersion int) wfp.NetEvent {
	r := wfp.NetEvent{
		Version:    version,
		TimeStamp:  uint64(h.timeStamp.dwHighDateTime)<<32 | uint64(h.timeStamp.dwLowDateTime),
		Flags:      h.flags,
		IPVersion:  h.ipVersion,
		IPProtocol: h.ipProtocol,
		LocalAddr:  addrBytes(h.localAddr),
		RemoteAddr: addrBytes(h.remoteAddr),
		LocalPort:  h.localPort,
		RemotePort: h.remotePort,
		Type:       eventType,
	}
	if h.flags&wfp.NetEventFlagAppIDSet != 0 {
		r.AppID = copyBlob(&r, "appId", &h.appId)
	}
	if h.flags&wfp.NetEventFlagUserIDSet != 0 && h.userId != nil {
		r.UserID = copySID(&r, "userId", h.userId)
	}
	if eventType == wfp.NetEventTypeClassifyDrop && drop != 0 {
		r.Drop = copyDrop(unionPointer(drop), dropVersion)
	}
	return r
}

// addrBytes returns an address union's 16 bytes as they lie in (little-endian) memory.
func addrBytes(u [4]uint32) [16]byte {
	var b [16]byte
	for i, w := range u {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func copyBlob(r *wfp.NetEvent, field string, b *fwpByteBlob) []byte {
	switch {
	case b.size == 0:
		return nil
	case b.size > maxNetEventBlob:
		r.Problems = append(r.Problems, fmt.Sprintf("could not decode %s: implausible size %d", field, b.size))
		return nil
	case b.data == nil:
		r.Problems = append(r.Problems, fmt.Sprintf("could not decode %s: NULL data with size %d", field, b.size))
		return nil
	}
	return append([]byte(nil), unsafe.Slice(b.data, b.size)...)
}

// copySID copies the SID at p, reading its 8-byte header first so that a damaged
// sub-authority count cannot make it read far.
func copySID(r *wfp.NetEvent, field string, p unsafe.Pointer) []byte {
	hdr := unsafe.Slice((*byte)(p), 8)
	if hdr[0] != 1 || hdr[1] > 15 {
		r.Problems = append(r.Problems, fmt.Sprintf("could not decode %s: not a SID (revision %d, %d sub-authorities)", field, hdr[0], hdr[1]))
		return nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(p), 8+4*int(hdr[1]))...)
}

func copyDrop(p unsafe.Pointer, version int) *wfp.NetEventDrop {
	d0 := (*fwpmNetEventClassifyDrop0)(p)
	d := &wfp.NetEventDrop{Version: version, FilterID: d0.filterId, LayerID: d0.layerId}
	if version >= 1 {
		// CLASSIFY_DROP2 begins with CLASSIFY_DROP1's members.
		d1 := (*fwpmNetEventClassifyDrop1)(p)
		d.Direction, d.IsLoopback = d1.msFwpDirection, d1.isLoopback != 0
	}
	return d
}
