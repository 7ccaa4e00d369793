package events

import (
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func TestFileTime(t *testing.T) {
	// 116444736000000000 is the Unix epoch as a FILETIME (the documented 1601 → 1970 offset).
	if got := wfp.FileTime(116444736000000000); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("wfp.FileTime(epoch) = %v", got)
	}
	if got := wfp.FileTime(wfp.ToFileTime(when)); !got.Equal(when.Truncate(100 * time.Nanosecond)) {
		t.Errorf("round trip %v → %v", when, got)
	}
	if !wfp.FileTime(0).IsZero() || wfp.ToFileTime(time.Time{}) != 0 {
		t.Error("zero FILETIME and zero time must map to each other")
	}
}

func TestDecodeWellFormedV4(t *testing.T) {
	e := Decode(drop(t, 77))
	if len(e.Notes) != 0 || e.Incomplete {
		t.Fatalf("notes on a well-formed event: %q", e.Notes)
	}
	if !e.Time.Equal(when.Truncate(100*time.Nanosecond)) || e.Type != "CLASSIFY_DROP" || e.SID != sandboxSID ||
		e.App != `\device\harddiskvolume3\tools\curl.exe` || e.Protocol != "udp" ||
		e.LocalIP != "192.168.1.20" || *e.LocalPort != 50000 || e.RemoteIP != "9.9.9.9" || *e.RemotePort != 53 ||
		e.Direction != "out" || e.Layer != "ALE_AUTH_CONNECT_V4" || *e.LayerID != 48 || *e.FilterID != 77 ||
		e.StructVersion != 1 {
		t.Errorf("decoded %+v", e)
	}
}

func TestDecodeV6AndDirections(t *testing.T) {
	r := drop(t, 1)
	r.IPVersion, r.IPProtocol = 1, 6
	copy(r.RemoteAddr[:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	copy(r.LocalAddr[:], []byte{0xfe, 0x80, 15: 2})
	r.Drop.Direction, r.Drop.IsLoopback, r.Drop.LayerID = wfp.NetEventDirectionIn, true, 46
	e := Decode(r)
	if e.RemoteIP != "2001:db8::1" || e.LocalIP != "fe80::2" || e.Protocol != "tcp" || e.Direction != "in" ||
		!e.Loopback || e.Layer != "ALE_AUTH_RECV_ACCEPT_V6" || len(e.Notes) != 0 {
		t.Errorf("decoded %+v", e)
	}
	if got := (&e).Row(); !strings.Contains(got, "[2001:db8::1]:53") {
		t.Errorf("row %q lacks the bracketed v6 endpoint", got)
	}
	r.Drop.Direction = wfp.NetEventDirectionForward
	if e := Decode(r); e.Direction != "forward" {
		t.Errorf("direction %q", e.Direction)
	}
	// CLASSIFY_DROP0 has no direction: nothing is guessed and nothing is noted.
	r.Drop = &RawDrop{Version: 0, FilterID: 5, LayerID: 48}
	if e := Decode(r); e.Direction != "" || len(e.Notes) != 0 {
		t.Errorf("DROP0: direction %q notes %q", e.Direction, e.Notes)
	}
}

// TestDecodeMalformed feeds every kind of damage the engine (or a broken emulator) could
// hand over and checks that each becomes a note naming the field, and no value is
// invented.
func TestDecodeMalformed(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Raw)
		check func(Event) bool
		note  string
	}{
		{"no flags", func(r *Raw) { r.Flags = 0 }, func(e Event) bool {
			return e.SID == "" && e.App == "" && e.Protocol == "" && e.RemoteIP == "" && e.LocalPort == nil
		}, "FWPM_NET_EVENT_FLAG_APP_ID_SET is not set"},
		{"no ip version", func(r *Raw) { r.Flags &^= wfp.NetEventFlagIPVersionSet }, func(e Event) bool { return e.RemoteIP == "" && e.LocalIP == "" },
			"FWPM_NET_EVENT_FLAG_IP_VERSION_SET is not set"},
		{"bad ip version", func(r *Raw) { r.IPVersion = 7 }, func(e Event) bool { return e.RemoteIP == "" }, "unknown ipVersion 7"},
		{"empty appId", func(r *Raw) { r.AppID = nil }, func(e Event) bool { return e.App == "" }, "the appId blob is empty"},
		{"odd appId", func(r *Raw) { r.AppID = []byte{'a', 0, 'b'} }, func(e Event) bool { return e.App == "" }, "odd length 3"},
		{"NUL appId", func(r *Raw) { r.AppID = []byte{0, 0} }, func(e Event) bool { return e.App == "" }, "empty string"},
		{"NULL userId", func(r *Raw) { r.UserID = nil }, func(e Event) bool { return e.SID == "" }, "userId is NULL"},
		{"bad SID", func(r *Raw) { r.UserID = []byte{9, 1, 0, 0} }, func(e Event) bool { return e.SID == "" }, "could not decode the account"},
		{"NULL classifyDrop", func(r *Raw) { r.Drop = nil }, func(e Event) bool { return e.FilterID == nil && e.Layer == "" },
			"classifyDrop is NULL"},
		{"unknown layer", func(r *Raw) { r.Drop.LayerID = 999 }, func(e Event) bool { return e.Layer == "" && *e.LayerID == 999 },
			"unknown layer ID 999"},
		{"bad direction", func(r *Raw) { r.Drop.Direction = 7 }, func(e Event) bool { return e.Direction == "" }, "msFwpDirection 0x7"},
		{"zero time", func(r *Raw) { r.TimeStamp = 0 }, func(e Event) bool { return e.Time.IsZero() }, "timeStamp is 0"},
		{"huge time", func(r *Raw) { r.TimeStamp = 1 << 63 }, func(e Event) bool { return e.Time.IsZero() }, "out of range"},
		{"unknown type", func(r *Raw) { r.Type = 42 }, func(e Event) bool { return e.Type == "TYPE_42" && e.FilterID == nil }, "unknown event type 42"},
		{"type out of int32 range", func(r *Raw) { r.Type = ^uint32(0) }, func(e Event) bool { return e.FilterID == nil }, "unknown event type 4294967295"},
		{"reader problem", func(r *Raw) { r.Problems = []string{"could not decode appId: NULL data with size 12"}; r.AppID = nil },
			func(e Event) bool { return len(e.Notes) == 1 && e.App == "" }, "could not decode appId: NULL data with size 12"},
		{"reader problem, userId", func(r *Raw) { r.Problems = []string{"could not decode userId: not a SID"}; r.UserID = nil },
			func(e Event) bool { return len(e.Notes) == 1 && e.SID == "" }, "could not decode userId: not a SID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := drop(t, 3)
			c.edit(&r)
			e := Decode(r)
			if !c.check(e) || !e.Incomplete {
				t.Errorf("decoded %+v", e)
			}
			found := false
			for _, n := range e.Notes {
				found = found || strings.Contains(n, c.note)
			}
			if !found {
				t.Errorf("notes %q lack %q", e.Notes, c.note)
			}
		})
	}
}

// TestLayerTableAnchors checks the transcription against the index comments the SDK
// itself prints beside FWPS_BUILTIN_LAYERS (um/fwpsu.h: "// 0", "// 5", … "// 85", and
// IPSEC_KM_DEMUX_V4 "// 87" right after the table).
func TestLayerTableAnchors(t *testing.T) {
	anchors := map[uint16]string{
		0: "INBOUND_IPPACKET_V4", 5: "OUTBOUND_IPPACKET_V4_DISCARD", 10: "IPFORWARD_V6",
		15: "INBOUND_TRANSPORT_V6_DISCARD", 20: "STREAM_V4", 25: "DATAGRAM_DATA_V4_DISCARD",
		30: "INBOUND_ICMP_ERROR_V6", 35: "OUTBOUND_ICMP_ERROR_V6_DISCARD", 40: "ALE_AUTH_LISTEN_V4",
		45: "ALE_AUTH_RECV_ACCEPT_V4_DISCARD", 50: "ALE_AUTH_CONNECT_V6", 55: "ALE_FLOW_ESTABLISHED_V6_DISCARD",
		60: "NAME_RESOLUTION_CACHE_V4", 65: "ALE_ENDPOINT_CLOSURE_V6", 70: "STREAM_PACKET_V4",
		75: "INGRESS_VSWITCH_TRANSPORT_V6", 80: "INBOUND_MAC_FRAME_NATIVE_FAST", 85: "OUTBOUND_NETWORK_CONNECTION_POLICY_V4",
	}
	for id, want := range anchors {
		if got, ok := LayerName(id); !ok || got != want {
			t.Errorf("layer %d = %q, the SDK says %q", id, got, want)
		}
	}
	if _, ok := LayerName(87); ok {
		t.Error("87 is IPSEC_KM_DEMUX_V4 on Windows 10 NI and another layer elsewhere: it must not be named")
	}
}

// TestLayerNamesHaveFWPMLayers cross-checks the transcription against a second SDK
// source: each FWPS_LAYER_x names the same layer as the FWPM_LAYER_x GUID of fwpmu.h
// (wfp's generated table), so every name must exist there — except the two reserved
// IDs, which have no management-layer GUID.
func TestLayerNamesHaveFWPMLayers(t *testing.T) {
	for id, n := range fwpsLayers {
		if n == "RESERVED_LAYER_9" || n == "RESERVED_LAYER_10" {
			continue
		}
		if _, k, ok := wfp.LookupGUID("FWPM_LAYER_" + n); !ok || k != wfp.KindLayer {
			t.Errorf("layer %d %s: fwpmu.h has no FWPM_LAYER_%s", id, n, n)
		}
	}
}
