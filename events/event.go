package events

import (
	"github.com/wfpsandbox/wfpsandbox/wfp"

	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/wfpsandbox/wfpsandbox/account"
)

// Event is one decoded net event. Fields the engine did not set, or that could not be
// decoded, are empty, and Notes says why.
type Event struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`               // FWPM_NET_EVENT_TYPE without the prefix: CLASSIFY_DROP
	SID       string    `json:"sid,omitempty"`      // the connecting account
	Account   string    `json:"account,omitempty"`  // DOMAIN\name of SID, when it could be looked up
	App       string    `json:"app,omitempty"`      // the application's device path (\device\harddiskvolume3\...)
	Protocol  string    `json:"protocol,omitempty"` // tcp, udp, icmp, icmpv6, or the number
	LocalIP   string    `json:"localAddress,omitempty"`
	LocalPort *uint16   `json:"localPort,omitempty"`
	RemoteIP  string    `json:"remoteAddress,omitempty"`
	// RemotePort is the remote port; for ICMP the ICMP code, as WFP reports it.
	RemotePort *uint16    `json:"remotePort,omitempty"`
	Direction  string     `json:"direction,omitempty"` // out, in or forward
	Loopback   bool       `json:"loopback,omitempty"`
	Layer      string     `json:"layer,omitempty"` // ALE_AUTH_CONNECT_V4
	LayerID    *uint16    `json:"layerId,omitempty"`
	FilterID   *uint64    `json:"filterId,omitempty"`
	Filter     *FilterRef `json:"filter,omitempty"`
	// Ours reports whether the dropping filter is a wfpsandbox filter.
	Ours bool `json:"ours"`
	// StructVersion is n of the FWPM_NET_EVENTn structure the event was read from.
	StructVersion int `json:"structVersion"`
	// Notes say what could not be decoded or looked up.
	Notes []string `json:"notes,omitempty"`
	// Incomplete reports that part of the event could not be decoded (a field not
	// marked as set, a NULL pointer, an undecodable value); lookup notes alone do not
	// make an event incomplete.
	Incomplete bool `json:"incomplete,omitempty"`

	typ        uint32
	filterGone bool // FwpmFilterGetById0 said FWP_E_FILTER_NOT_FOUND
}

// FilterRef names the filter that dropped the traffic.
type FilterRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// Rule and SID come from a wfpsandbox filter's ownership tag: which rule of which
	// sandbox account's plan installed it.
	Rule string `json:"rule,omitempty"`
	SID  string `json:"sid,omitempty"`
	// Sublayer is where a wfpsandbox filter sits: "account" (the account's own sublayer,
	// the --user-match deny layout: guard permits and unconditioned blocks), "shared" (the
	// shared sublayer of --user-match allow and of setup version 1), or the sublayer key
	// for anything else.
	Sublayer string `json:"sublayer,omitempty"`
	// Provider and ProviderKey name the filter's provider (for wfpsandbox's filters,
	// wfpsandbox).
	Provider    string `json:"provider,omitempty"`
	ProviderKey string `json:"providerKey,omitempty"`
}

// FilterGone reports that the dropping filter's ID was looked up and the engine said it
// does not exist (FWP_E_FILTER_NOT_FOUND): deleted since the drop, or a built-in filter.
// It is false when the lookup failed otherwise or did not happen (Event.Filter is then
// nil too).
func (e *Event) FilterGone() bool { return e.filterGone }

// CollectionOff says what to do when the engine's net event collection is off
// (wfp.ErrNetEventsDisabled): what `wfpsandbox events` prints and the service logs.
const CollectionOff = `net event collection is switched off, so Windows keeps no record of dropped connections.
Turn it on from an elevated prompt:
    netsh wfp set options netevents=on`

// notef notes a part of the event that could not be decoded.
func (e *Event) notef(format string, args ...any) {
	e.Notes = append(e.Notes, fmt.Sprintf(format, args...))
	e.Incomplete = true
}

// infof notes something learnt or not found while resolving the event.
func (e *Event) infof(format string, args ...any) {
	e.Notes = append(e.Notes, fmt.Sprintf(format, args...))
}

// Decode gives a Raw its meaning: it reads only the header fields Flags marks as set,
// decodes the addresses by IP version, the application path from UTF-16, the SID, the
// layer name and the direction, and notes every field it could not decode. It does not
// look up the filter or the account name (Resolver does).
func Decode(r Raw) Event {
	e := Event{StructVersion: r.Version, typ: r.Type, Notes: append([]string(nil), r.Problems...), Incomplete: len(r.Problems) > 0}
	if uint64(r.Type) < uint64(len(typeNames)) {
		e.Type = typeNames[r.Type]
	} else {
		e.Type = "TYPE_" + strconv.FormatUint(uint64(r.Type), 10)
		e.notef("unknown event type %d", r.Type)
	}
	if r.TimeStamp == 0 {
		e.notef("could not decode the time: timeStamp is 0")
	} else if r.TimeStamp > 1<<63-1 {
		e.notef("could not decode the time: timeStamp %#x is out of range", r.TimeStamp)
	} else {
		e.Time = wfp.FileTime(r.TimeStamp)
	}
	decodeProtocol(&e, r)
	decodeAddresses(&e, r)
	decodeApp(&e, r)
	decodeUser(&e, r)
	if r.Type == wfp.NetEventTypeClassifyDrop {
		decodeDrop(&e, r)
	}
	return e
}

var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}

func decodeProtocol(e *Event, r Raw) {
	if r.Flags&wfp.NetEventFlagIPProtocolSet == 0 {
		e.notef("no protocol: FWPM_NET_EVENT_FLAG_IP_PROTOCOL_SET is not set")
		return
	}
	if n, ok := protoNames[r.IPProtocol]; ok {
		e.Protocol = n
	} else {
		e.Protocol = strconv.Itoa(int(r.IPProtocol))
	}
}

func decodeAddresses(e *Event, r Raw) {
	if r.Flags&(wfp.NetEventFlagLocalAddrSet|wfp.NetEventFlagRemoteAddrSet) != 0 {
		switch {
		case r.Flags&wfp.NetEventFlagIPVersionSet == 0:
			e.notef("could not decode the addresses: FWPM_NET_EVENT_FLAG_IP_VERSION_SET is not set")
		case r.IPVersion > 1:
			e.notef("could not decode the addresses: unknown ipVersion %d", r.IPVersion)
		default:
			if r.Flags&wfp.NetEventFlagLocalAddrSet != 0 {
				e.LocalIP = addr(r.IPVersion, r.LocalAddr).String()
			}
			if r.Flags&wfp.NetEventFlagRemoteAddrSet != 0 {
				e.RemoteIP = addr(r.IPVersion, r.RemoteAddr).String()
			}
		}
	}
	if r.Flags&wfp.NetEventFlagRemoteAddrSet == 0 {
		e.notef("no remote address: FWPM_NET_EVENT_FLAG_REMOTE_ADDR_SET is not set")
	}
	if r.Flags&wfp.NetEventFlagLocalPortSet != 0 {
		p := r.LocalPort
		e.LocalPort = &p
	}
	if r.Flags&wfp.NetEventFlagRemotePortSet != 0 {
		p := r.RemotePort
		e.RemotePort = &p
	}
}

// addr decodes an address union: FWP_IP_VERSION_V4 (0) is a UINT32 in host order.
func addr(ipVersion uint32, b [16]byte) netip.Addr {
	if ipVersion == 0 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b[:4]))
		return netip.AddrFrom4(a)
	}
	return netip.AddrFrom16(b)
}

// hasProblem reports whether the reader already explained why field is missing
// (its problems read "could not decode <field>: ...").
func hasProblem(r Raw, field string) bool {
	for _, p := range r.Problems {
		if strings.HasPrefix(p, "could not decode "+field+":") {
			return true
		}
	}
	return false
}

func decodeApp(e *Event, r Raw) {
	if r.Flags&wfp.NetEventFlagAppIDSet == 0 {
		e.notef("no application: FWPM_NET_EVENT_FLAG_APP_ID_SET is not set")
		return
	}
	switch {
	case len(r.AppID) == 0 && hasProblem(r, "appId"):
	case len(r.AppID) == 0:
		e.notef("could not decode the application: the appId blob is empty")
	case len(r.AppID)%2 != 0:
		e.notef("could not decode the application: the appId blob has an odd length %d, not UTF-16", len(r.AppID))
	default:
		u := make([]uint16, len(r.AppID)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(r.AppID[2*i:])
		}
		for len(u) > 0 && u[len(u)-1] == 0 {
			u = u[:len(u)-1]
		}
		if len(u) == 0 {
			e.notef("could not decode the application: the appId blob holds an empty string")
			return
		}
		e.App = string(utf16.Decode(u))
	}
}

func decodeUser(e *Event, r Raw) {
	if r.Flags&wfp.NetEventFlagUserIDSet == 0 {
		e.notef("no account: FWPM_NET_EVENT_FLAG_USER_ID_SET is not set")
		return
	}
	if len(r.UserID) == 0 {
		if !hasProblem(r, "userId") {
			e.notef("could not decode the account: userId is NULL")
		}
		return
	}
	sid, err := account.SIDFromBytes(r.UserID)
	if err != nil {
		e.notef("could not decode the account: %v", err)
		return
	}
	e.SID = sid.String()
}

func decodeDrop(e *Event, r Raw) {
	d := r.Drop
	if d == nil {
		e.notef("could not decode the dropping filter: classifyDrop is NULL")
		return
	}
	id, layer := d.FilterID, d.LayerID
	e.FilterID, e.LayerID = &id, &layer
	if n, ok := LayerName(layer); ok {
		e.Layer = n
	} else {
		e.notef("unknown layer ID %d", layer)
	}
	if d.Version == 0 {
		return // CLASSIFY_DROP0 has no direction
	}
	switch d.Direction {
	case wfp.NetEventDirectionOut:
		e.Direction = "out"
	case wfp.NetEventDirectionIn:
		e.Direction = "in"
	case wfp.NetEventDirectionForward:
		e.Direction = "forward"
	default:
		e.notef("could not decode the direction: msFwpDirection %#x", d.Direction)
	}
	e.Loopback = d.IsLoopback
}
