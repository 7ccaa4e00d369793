package wfp

import (
	"context"
	"time"
)

// NetEventSource is a net event log: the Windows engine (wfp/winengine) or a fake.
type NetEventSource interface {
	// Enum returns the events logged at or after since (all of them for a zero since),
	// oldest first as the engine returns them.
	Enum(since time.Time) ([]NetEvent, error)
	// Subscribe calls fn for each new event until ctx is done, then returns nil; fn may
	// be called from another goroutine, one call at a time.
	Subscribe(ctx context.Context, fn func(NetEvent)) error
}

// NetEvent is one net event as the engine returned it, copied out of C memory without
// interpretation (package events decodes it): header fields are kept even when Flags says they are not set, and
// the address unions are the 16 bytes as they lie in memory.
type NetEvent struct {
	// Version is n of the FWPM_NET_EVENTn structure that was read (0..5).
	Version int
	// TimeStamp is header.timeStamp, a FILETIME: 100 ns intervals since 1601-01-01 UTC.
	TimeStamp uint64
	// Flags is header.flags (FWPM_NET_EVENT_FLAG_*): which of the fields below are set.
	Flags uint32
	// IPVersion is header.ipVersion (FWP_IP_VERSION: 0 V4, 1 V6).
	IPVersion uint32
	// IPProtocol is header.ipProtocol (IANA protocol number).
	IPProtocol uint8
	// LocalAddr and RemoteAddr are the header's address unions: a UINT32 in host
	// (little-endian) order in the first 4 bytes for V4, the 16 address bytes for V6.
	LocalAddr, RemoteAddr [16]byte
	// LocalPort and RemotePort are header.localPort and header.remotePort (host order).
	LocalPort, RemotePort uint16
	// AppID is the header.appId blob: a NUL-terminated UTF-16LE device path. Nil when
	// the blob was empty.
	AppID []byte
	// UserID is the SID header.userId points to, in binary form; nil for NULL.
	UserID []byte
	// Type is FWPM_NET_EVENT_TYPE.
	Type uint32
	// Drop is the classifyDrop record of a CLASSIFY_DROP event; nil when the event has
	// another type or the pointer was NULL.
	Drop *NetEventDrop
	// Problems are what the reader could not copy (a NULL pointer with a non-zero size,
	// an implausible length), each worded "could not decode <field>: why" with the SDK
	// member name (appId, userId).
	Problems []string
}

// NetEventDrop is FWPM_NET_EVENT_CLASSIFY_DROP0/1/2.
type NetEventDrop struct {
	// Version is n of FWPM_NET_EVENT_CLASSIFY_DROPn (0 has only FilterID and LayerID).
	Version int
	// FilterID is the run-time ID of the filter that dropped (FWPM_FILTER0.filterId).
	FilterID uint64
	// LayerID is the run-time layer ID (FWPS_BUILTIN_LAYERS).
	LayerID uint16
	// Direction is msFwpDirection (FWP_DIRECTION_IN 0x3900, _OUT 0x3901, _FORWARD 0x3902).
	Direction uint32
	// IsLoopback is isLoopback.
	IsLoopback bool
}

// FWPM_NET_EVENT_FLAG_* (SDK shared/fwpmtypes.h): which header fields are set.
const (
	NetEventFlagIPProtocolSet = 0x1
	NetEventFlagLocalAddrSet  = 0x2
	NetEventFlagRemoteAddrSet = 0x4
	NetEventFlagLocalPortSet  = 0x8
	NetEventFlagRemotePortSet = 0x10
	NetEventFlagAppIDSet      = 0x20
	NetEventFlagUserIDSet     = 0x40
	NetEventFlagScopeIDSet    = 0x80
	NetEventFlagIPVersionSet  = 0x100
)

// NetEventTypeClassifyDrop is FWPM_NET_EVENT_TYPE_CLASSIFY_DROP (SDK shared/fwpmtypes.h): a
// filter dropped the traffic.
const NetEventTypeClassifyDrop = 3

// msFwpDirection values, documented with FWPM_NET_EVENT_CLASSIFY_DROP1:
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_net_event_classify_drop1
const (
	NetEventDirectionIn      = 0x3900 // FWP_DIRECTION_IN
	NetEventDirectionOut     = 0x3901 // FWP_DIRECTION_OUT
	NetEventDirectionForward = 0x3902 // FWP_DIRECTION_FORWARD
)

// FILETIME epoch: 1601-01-01 UTC is this many 100 ns intervals before the Unix epoch.
const filetimeUnixOffset = 116444736000000000

// FileTime converts a FILETIME (100 ns since 1601) to a time; zero for 0.
func FileTime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	d := int64(ft) - filetimeUnixOffset
	return time.Unix(d/1e7, (d%1e7)*100).UTC()
}

// ToFileTime converts a time to a FILETIME; 0 for the zero time or a time before 1601.
func ToFileTime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	ft := t.UnixNano()/100 + filetimeUnixOffset
	if ft < 0 {
		return 0
	}
	return uint64(ft)
}
