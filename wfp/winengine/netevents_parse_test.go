//go:build windows || unix

package winengine

import (
	"github.com/wfpsandbox/wfpsandbox/wfp"

	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/events"
)

// The tests below build FWPM_NET_EVENTn structures as byte images at the offsets the
// SDK layout gives (wfp-facts.md §8, computed with the mingw-w64 compilers; not taken
// from the Go mirrors), in memory outside the Go heap, and parse them through the
// mirrors. Run them for both layouts: go test, and GOARCH=386 go test.

const ptrSize = unsafe.Sizeof(uintptr(0))

// netEventLayout is where one version's members lie.
type netEventLayout struct {
	headerSize, typeOff, unionOff, size uintptr
	dropVersion                         int
}

// sdkLayout returns the layout of FWPM_NET_EVENTn for this architecture.
func sdkLayout(version int) netEventLayout {
	if ptrSize == 8 {
		return [...]netEventLayout{
			{88, 88, 96, 104, 0}, {144, 144, 152, 160, 1}, {104, 104, 112, 120, 2},
			{136, 136, 144, 152, 2}, {136, 136, 144, 152, 2}, {136, 136, 144, 152, 2},
		}[version]
	}
	return [...]netEventLayout{
		{72, 72, 76, 80, 0}, {128, 128, 132, 136, 1}, {80, 80, 84, 88, 2},
		{104, 104, 108, 112, 2}, {104, 104, 108, 112, 2}, {104, 104, 108, 112, 2},
	}[version]
}

// Header member offsets shared by every version (only appId and userId move with the
// pointer size).
func appIDOff() uintptr {
	if ptrSize == 8 {
		return 64
	}
	return 60
}

func userIDOff() uintptr {
	if ptrSize == 8 {
		return 80
	}
	return 68
}

// image is a C structure under construction in arena memory.
type image struct {
	a *arena
	p unsafe.Pointer
}

func newImage(a *arena, size uintptr) image { return image{a, a.alloc(size)} }

func (m image) u8(off uintptr, v uint8)   { *(*uint8)(unsafe.Add(m.p, off)) = v }
func (m image) u16(off uintptr, v uint16) { binary.LittleEndian.PutUint16(m.bytes(off, 2), v) }
func (m image) u32(off uintptr, v uint32) { binary.LittleEndian.PutUint32(m.bytes(off, 4), v) }
func (m image) u64(off uintptr, v uint64) { binary.LittleEndian.PutUint64(m.bytes(off, 8), v) }
func (m image) bytes(off, n uintptr) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(m.p, off)), n)
}

// ptr stores a pointer at off. Addresses are uintptrs: they point to arena memory, or
// nowhere (a wild address the parser must not follow), which must never sit in an
// unsafe.Pointer on the Go stack (the runtime rejects such values when it moves stacks).
func (m image) ptr(off uintptr, p uintptr) {
	if ptrSize == 8 {
		m.u64(off, uint64(p))
	} else {
		m.u32(off, uint32(p))
	}
}

// addr is the address of arena memory.
func addr(p unsafe.Pointer) uintptr { return uintptr(p) }

// blob stores an FWP_BYTE_BLOB {UINT32 size; UINT8 *data} at off.
func (m image) blob(off uintptr, size uint32, data uintptr) {
	m.u32(off, size)
	m.ptr(off+ptrSize, data)
}

var (
	sandboxSIDBytes = []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xe8, 3, 0, 0, 0xe8, 3, 0, 0, 0xe8, 3, 0, 0, 0xe9, 3, 0, 0}
	eventTime       = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	curlPath        = `\device\harddiskvolume3\tools\curl.exe`
)

const fullFlags = wfp.NetEventFlagIPProtocolSet | wfp.NetEventFlagLocalAddrSet | wfp.NetEventFlagRemoteAddrSet |
	wfp.NetEventFlagLocalPortSet | wfp.NetEventFlagRemotePortSet | wfp.NetEventFlagAppIDSet | wfp.NetEventFlagUserIDSet | wfp.NetEventFlagIPVersionSet

// buildEvent lays out a CLASSIFY_DROP event of the given version: UDP 10.1.2.3:50000 →
// 9.9.9.9:53 by curl.exe as the sandbox SID, dropped by filter 0x1_0000_002a at layer 48
// (ALE_AUTH_CONNECT_V4), outbound. edit may change the image before it is parsed.
func buildEvent(a *arena, version int) (image, netEventLayout) {
	l := sdkLayout(version)
	m := newImage(a, l.size)
	ft := wfp.ToFileTime(eventTime)
	m.u32(0, uint32(ft))
	m.u32(4, uint32(ft>>32))
	m.u32(8, fullFlags)
	m.u32(12, 0) // FWP_IP_VERSION_V4
	m.u8(16, 17)
	m.u32(20, 0x0a010203) // 10.1.2.3 as a host-order UINT32
	m.u32(36, 0x09090909)
	m.u16(52, 50000)
	m.u16(54, 53)
	app := utf16le(curlPath)
	m.blob(appIDOff(), uint32(len(app)), addr(unsafe.Pointer(a.bytes(app))))
	m.ptr(userIDOff(), addr(unsafe.Pointer(a.bytes(sandboxSIDBytes))))
	if version == 1 {
		m.u32(userIDOff()+ptrSize, 1) // HEADER1 reserved1 (FWP_AF), right after userId: set, and ignored
	}
	m.u32(l.typeOff, wfp.NetEventTypeClassifyDrop)

	dropSize := []uintptr{16, 32, 56}[l.dropVersion]
	if ptrSize == 4 && l.dropVersion == 2 {
		dropSize = 48
	}
	d := newImage(a, dropSize)
	d.u64(0, 0x1_0000_002a)
	d.u16(8, 48)
	if l.dropVersion >= 1 {
		d.u32(24, wfp.NetEventDirectionOut)
		d.u32(28, 1) // isLoopback
	}
	m.ptr(l.unionOff, addr(d.p))
	return m, l
}

// parseImage parses an image through the mirror of its version.
func parseImage(version int, p unsafe.Pointer) wfp.NetEvent {
	var r wfp.NetEvent
	switch version {
	case 0:
		r, _ = parseNetEvent0((*fwpmNetEvent0)(p))
	case 1:
		r, _ = parseNetEvent1((*fwpmNetEvent1)(p))
	case 2:
		r, _ = parseNetEvent2((*fwpmNetEvent2)(p))
	case 3:
		r, _ = parseNetEvent3((*fwpmNetEvent3)(p))
	case 4:
		r, _ = parseNetEvent4((*fwpmNetEvent4)(p))
	case 5:
		r, _ = parseNetEvent5((*fwpmNetEvent5)(p))
	}
	return r
}

func TestParseNetEventEveryVersion(t *testing.T) {
	for v := range 6 {
		a := newArena()
		m, l := buildEvent(a, v)
		r := parseImage(v, m.p)
		e := events.Decode(r)
		a.Dispose()
		if len(r.Problems) != 0 || len(e.Notes) != 0 {
			t.Errorf("v%d: problems %q notes %q", v, r.Problems, e.Notes)
		}
		if r.Version != v || r.Drop == nil || r.Drop.Version != l.dropVersion || r.Drop.FilterID != 0x1_0000_002a || r.Drop.LayerID != 48 {
			t.Fatalf("v%d: raw %+v drop %+v", v, r, r.Drop)
		}
		if !e.Time.Equal(eventTime) || e.Protocol != "udp" || e.LocalIP != "10.1.2.3" || *e.LocalPort != 50000 ||
			e.RemoteIP != "9.9.9.9" || *e.RemotePort != 53 || e.App != curlPath ||
			e.SID != "S-1-5-21-1000-1000-1000-1001" || e.Layer != "ALE_AUTH_CONNECT_V4" || *e.FilterID != 0x1_0000_002a {
			t.Errorf("v%d: decoded %+v", v, e)
		}
		wantDir, wantLoop := "out", true
		if v == 0 {
			wantDir, wantLoop = "", false // CLASSIFY_DROP0 has neither
		}
		if e.Direction != wantDir || e.Loopback != wantLoop {
			t.Errorf("v%d: direction %q loopback %v", v, e.Direction, e.Loopback)
		}
	}
}

func TestParseNetEventV6(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	m, _ := buildEvent(a, 5)
	m.u32(12, 1) // FWP_IP_VERSION_V6
	copy(m.bytes(36, 16), []byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x35})
	if e := events.Decode(parseImage(5, m.p)); e.RemoteIP != "2001:db8::35" {
		t.Errorf("v6 remote %q", e.RemoteIP)
	}
}

// TestParseNetEventMalformed damages images the way a broken engine could and checks
// that the parser neither crashes nor reads behind a clear flag, and says what it
// could not decode.
func TestParseNetEventMalformed(t *testing.T) {
	// An address no test process maps: dereferencing it would crash the test binary.
	const bad uintptr = 0x10
	cases := []struct {
		name string
		edit func(m image, l netEventLayout)
		want string
	}{
		{"flags clear, pointers wild", func(m image, _ netEventLayout) {
			m.u32(8, 0)
			m.blob(appIDOff(), 40, bad)
			m.ptr(userIDOff(), bad)
		}, "FWPM_NET_EVENT_FLAG_APP_ID_SET is not set"},
		{"appId NULL with a size", func(m image, _ netEventLayout) { m.blob(appIDOff(), 12, 0) }, "appId: NULL data with size 12"},
		{"appId huge", func(m image, _ netEventLayout) { m.blob(appIDOff(), 1<<30, bad) }, "appId: implausible size"},
		{"appId zero length", func(m image, _ netEventLayout) { m.blob(appIDOff(), 0, bad) }, "the appId blob is empty"},
		{"userId NULL", func(m image, _ netEventLayout) { m.ptr(userIDOff(), 0) }, "userId is NULL"},
		{"userId not a SID", func(m image, _ netEventLayout) {
			m.ptr(userIDOff(), addr(unsafe.Pointer(m.a.bytes([]byte{1, 200, 0, 0, 0, 0, 0, 5}))))
		}, "not a SID (revision 1, 200 sub-authorities)"},
		{"classifyDrop NULL", func(m image, l netEventLayout) { m.ptr(l.unionOff, 0) }, "classifyDrop is NULL"},
		{"other event type, wild union", func(m image, l netEventLayout) {
			m.u32(l.typeOff, 0)
			m.ptr(l.unionOff, bad)
		}, ""},
	}
	for _, c := range cases {
		for v := range 6 {
			a := newArena()
			m, l := buildEvent(a, v)
			c.edit(m, l)
			e := events.Decode(parseImage(v, m.p))
			a.Dispose()
			if c.want == "" {
				if e.Type != "IKEEXT_MM_FAILURE" || e.FilterID != nil {
					t.Errorf("%s v%d: %+v", c.name, v, e)
				}
				continue
			}
			if !strings.Contains(strings.Join(e.Notes, "|"), c.want) {
				t.Errorf("%s v%d: notes %q lack %q", c.name, v, e.Notes, c.want)
			}
		}
	}
	for v := range 6 {
		var r wfp.NetEvent
		switch v {
		case 0:
			r, _ = parseNetEvent0(nil)
		case 1:
			r, _ = parseNetEvent1(nil)
		case 2:
			r, _ = parseNetEvent2(nil)
		case 3:
			r, _ = parseNetEvent3(nil)
		case 4:
			r, _ = parseNetEvent4(nil)
		case 5:
			r, _ = parseNetEvent5(nil)
		}
		if e := events.Decode(r); !strings.Contains(strings.Join(e.Notes, "|"), "NULL entry") {
			t.Errorf("NULL entry v%d: notes %q", v, e.Notes)
		}
	}
}

func TestNetEventVersion(t *testing.T) {
	for _, c := range []struct {
		major, minor, build uint32
		want                int
	}{
		{6, 0, 6002, 0}, {6, 1, 7601, 1}, {6, 2, 9200, 2}, {6, 3, 9600, 2},
		{10, 0, 10240, 3}, {10, 0, 16299, 3}, {10, 0, 17133, 3}, {10, 0, 17134, 4}, {10, 0, 17762, 4},
		{10, 0, 17763, 5}, {10, 0, 19045, 5}, {10, 0, 26100, 5},
	} {
		if got := NetEventVersion(c.major, c.minor, c.build); got != c.want {
			t.Errorf("Windows %d.%d build %d: version %d, want %d", c.major, c.minor, c.build, got, c.want)
		}
	}
}
