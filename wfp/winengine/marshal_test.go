//go:build windows || unix

package winengine

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// A self-relative SD and a SID in binary form, as account/ would produce them:
// S-1-5-21-1-2-3-1001 and D:(A;;CC;;;S-1-5-21-1-2-3-1001) built by hand.
var (
	testSID = []byte{1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xe9, 3, 0, 0}
	testSD  = append([]byte{
		1, 0, 0x04, 0x80, // revision, sbz1, control SE_DACL_PRESENT|SE_SELF_RELATIVE
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // no owner, group, SACL
		20, 0, 0, 0, // DACL at 20
		2, 0, 44, 0, 1, 0, 0, 0, // ACL: revision 2, size 44, 1 ACE
		0, 0, 36, 0, 1, 0, 0, 0, // ACCESS_ALLOWED_ACE, size 36, mask 0x1
	}, testSID...)
)

func utf16le(s string) []byte {
	u, _ := utf16FromString(s)
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return b
}

func sampleFilter() *wfp.Filter {
	prov := wfp.MustParseGUID("6a7a3e1c-2b1f-4a41-9a0e-0a3f0b6a9d01")
	return &wfp.Filter{
		Key:          wfp.MustParseGUID("b1f0c7a2-55aa-4c1e-8e37-3c2d1e0f9a10"),
		Name:         "wfpsandbox: block DNS v4 — ünïcödé 🚫",
		Description:  "round trip",
		Flags:        wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight,
		ProviderKey:  &prov,
		ProviderData: []byte{1, 2, 3},
		Layer:        wfp.LayerALEAuthConnectV4,
		Sublayer:     wfp.MustParseGUID("0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"),
		Weight:       wfp.U64(0x0123456789abcdef),
		Action:       wfp.Action{Type: wfp.ActionBlock},
		Conditions: []wfp.Condition{
			{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(testSD)},
			{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)},
			{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(17)},
			{Field: wfp.FieldFlags, Match: wfp.MatchFlagsAnySet, Value: wfp.U32(0x10)},
			{Field: wfp.FieldInterfaceIndex, Match: wfp.MatchEqual, Value: wfp.U64(1 << 40)},
			{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("10.20.0.0/14"))},
			{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("0.0.0.0/0"))},
			{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("fd00:1:2::/48"))},
			{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(137), wfp.U16(139))},
			{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteBlob, Bytes: utf16le(`\device\harddiskvolume1\x.exe`)}},
			{Field: wfp.FieldALEPackageID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.SID, Bytes: testSID}},
			{Field: wfp.FieldIPLocalAddress, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteArray16, Bytes: make([]byte, 16)}},
			{Field: wfp.FieldALEEffectiveName, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.UnicodeString, Bytes: utf16le("host.example")}},
			{Field: wfp.FieldInterfaceType, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.Int32, Uint: 0xfffffffe}},
			{Field: wfp.FieldIPLocalPort, Match: wfp.MatchEqual, Value: wfp.U16(0xc351)},
		},
	}
}

func TestComposeParseFilterRoundTrip(t *testing.T) {
	for _, weight := range []wfp.Value{{}, wfp.U8(15), wfp.U64(1 << 62)} {
		f := sampleFilter()
		f.Weight = weight
		a := newArena()
		c, err := composeFilter(a, f)
		if err != nil {
			t.Fatal(err)
		}
		// The engine fills these in on Get/Enum; simulate it.
		c.filterId = 0x1122334455667788
		ew := (*uint64)(a.alloc(8))
		*ew = 0x0fedcba987654321
		c.effectiveWeight.dataType = uint32(wfp.Uint64)
		setUnion(&c.effectiveWeight.value, unsafe.Pointer(ew))

		got, err := parseFilter(c)
		a.Dispose()
		if err != nil {
			t.Fatal(err)
		}
		want := f.Clone()
		want.ID, want.EffectiveWeight = 0x1122334455667788, 0x0fedcba987654321
		// UTF-16 strings come back with their terminator, which utf16le included.
		if msg := diffFilter(got, want); msg != "" {
			t.Errorf("weight %s: %s", weight, msg)
		}
	}
}

func diffFilter(got, want *wfp.Filter) string {
	var d []string
	if got.Key != want.Key || got.Name != want.Name || got.Description != want.Description || got.Flags != want.Flags {
		d = append(d, "key/name/description/flags differ")
	}
	if !wfp.SameProvider(got.ProviderKey, want.ProviderKey) || string(got.ProviderData) != string(want.ProviderData) {
		d = append(d, "provider differs")
	}
	if got.Layer != want.Layer || got.Sublayer != want.Sublayer || got.Action != want.Action {
		d = append(d, "layer/sublayer/action differ")
	}
	if !got.Weight.Equal(want.Weight) {
		d = append(d, "weight "+got.Weight.String()+" != "+want.Weight.String())
	}
	if got.ID != want.ID || got.EffectiveWeight != want.EffectiveWeight {
		d = append(d, "ID/effective weight differ")
	}
	if len(got.Conditions) != len(want.Conditions) {
		return strings.Join(append(d, "condition count differs"), "; ")
	}
	for i := range got.Conditions {
		g, w := got.Conditions[i], want.Conditions[i]
		if g.Field != w.Field || g.Match != w.Match || !g.Value.Equal(w.Value) {
			d = append(d, "condition "+w.Field.String()+": "+g.Value.String()+" != "+w.Value.String())
		}
	}
	return strings.Join(d, "; ")
}

func TestComposeParseProviderSublayerRoundTrip(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	p := &wfp.Provider{Key: wfp.MustParseGUID("6a7a3e1c-2b1f-4a41-9a0e-0a3f0b6a9d01"), Name: "wfpsandbox",
		Description: "d", Flags: wfp.ProviderFlagPersistent, Data: []byte("x")}
	cp, err := composeProvider(a, p)
	if err != nil {
		t.Fatal(err)
	}
	if unnamed, err := composeProvider(a, &wfp.Provider{}); err != nil || unnamed.displayData.name != nil {
		t.Errorf("empty provider name must be NULL (the engine answers FWP_E_NULL_DISPLAY_NAME): %v", err)
	}
	if cp.serviceName != nil {
		t.Error("empty ServiceName must be NULL (a provider with a service name is only loaded when that service auto-starts)")
	}
	gp, err := parseProvider(cp)
	if err != nil {
		t.Fatal(err)
	}
	if gp.Key != p.Key || gp.Name != p.Name || gp.Description != p.Description || gp.Flags != p.Flags || string(gp.Data) != "x" || gp.ServiceName != "" {
		t.Errorf("provider round trip: got %+v, want %+v", gp, p)
	}

	s := &wfp.Sublayer{Key: wfp.MustParseGUID("0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"), Name: "sub",
		Flags: wfp.SublayerFlagPersistent, ProviderKey: &p.Key, Weight: 0xFFFF}
	cs, err := composeSublayer(a, s)
	if err != nil {
		t.Fatal(err)
	}
	if cs.displayData.description != nil {
		t.Error("empty description must be NULL")
	}
	gs, err := parseSublayer(cs)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Key != s.Key || gs.Name != s.Name || gs.Flags != s.Flags || !wfp.SameProvider(gs.ProviderKey, s.ProviderKey) || gs.Weight != 0xFFFF || gs.Data != nil {
		t.Errorf("sublayer round trip: got %+v, want %+v", gs, s)
	}
}

// TestComposeCLayout checks the C encoding itself, not only that parse inverts compose:
// host-order IPv4 address and mask, small integers in the union, 64-bit values and SDs
// behind pointers, NULL description, enumeration template fields.
func TestComposeCLayout(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	f := sampleFilter()
	c, err := composeFilter(a, f)
	if err != nil {
		t.Fatal(err)
	}
	conds := unsafe.Slice(c.filterCondition, c.numFilterConditions)
	if got := conds[1].conditionValue; got.dataType != uint32(wfp.Uint16) || got.value != 53 {
		t.Errorf("UINT16 port: %+v", got)
	}
	sd := (*fwpByteBlob)(unionPointer(conds[0].conditionValue.value))
	if sd.size != uint32(len(testSD)) || string(unsafe.Slice(sd.data, sd.size)) != string(testSD) {
		t.Errorf("SD blob: size %d", sd.size)
	}
	m := (*fwpV4AddrAndMask)(unionPointer(conds[5].conditionValue.value))
	if m.addr != 0x0a140000 || m.mask != 0xfffc0000 {
		t.Errorf("10.20.0.0/14: addr %#x mask %#x, want 0x0a140000 0xfffc0000", m.addr, m.mask)
	}
	if w := *(*uint64)(unionPointer(c.weight.value)); w != 0x0123456789abcdef {
		t.Errorf("UINT64 weight %#x", w)
	}
	if uintptr(unsafe.Pointer(c))%arenaAlign != 0 || uintptr(unsafe.Pointer(c.filterCondition))%arenaAlign != 0 {
		t.Error("arena allocations are not 8-aligned")
	}

	layer := wfp.LayerALEAuthConnectV6
	tmpl := composeFilterEnumTemplate(a, f.ProviderKey, layer)
	if tmpl.actionMask != 0xFFFFFFFF || tmpl.providerKey == nil || *tmpl.providerKey != *f.ProviderKey ||
		tmpl.layerKey != wfp.GUID(layer) || tmpl.flags != 0x8|0x10 || tmpl.numFilterConditions != 0 ||
		tmpl.enumType != 1 || tmpl.providerContextTemplate != nil || tmpl.calloutKey != nil {
		t.Errorf("enum template: %+v", tmpl)
	}
	if all := composeFilterEnumTemplate(a, nil, layer); all.providerKey != nil || all.layerKey != wfp.GUID(layer) {
		t.Errorf("enum template for every provider: %+v", all)
	}
}

func TestComposeRejects(t *testing.T) {
	cases := []struct {
		name string
		mod  func(f *wfp.Filter)
		want string
	}{
		{"uint8 overflow", func(f *wfp.Filter) { f.Conditions[2].Value = wfp.Value{Type: wfp.Uint8, Uint: 256} }, "condition 2"},
		{"empty SD", func(f *wfp.Filter) { f.Conditions[0].Value = wfp.SD(nil) }, "FWPM_CONDITION_ALE_USER_ID"},
		{"bad SID", func(f *wfp.Filter) { f.Conditions[10].Value.Bytes = testSID[:9] }, "not a binary SID"},
		{"SID with 16 sub-authorities", func(f *wfp.Filter) {
			f.Conditions[10].Value.Bytes = append([]byte{1, 16, 0, 0, 0, 0, 0, 5}, make([]byte, 4*16)...)
		}, "not a binary SID"},
		{"range as weight", func(f *wfp.Filter) { f.Weight = wfp.RangeOf(wfp.U8(1), wfp.U8(2)) }, "weight"},
		{"UINT32 weight", func(f *wfp.Filter) { f.Weight = wfp.U32(1) }, "weight"},
		{"mask in range", func(f *wfp.Filter) {
			f.Conditions[8].Value = wfp.RangeOf(wfp.AddrMask(netip.MustParsePrefix("1.0.0.0/8")), wfp.U8(1))
		}, "only valid in a filter condition"},
		{"NUL in name", func(f *wfp.Filter) { f.Name = "a\x00b" }, "NUL"},
		{"token information", func(f *wfp.Filter) { f.Conditions[0].Value = wfp.Value{Type: wfp.TokenInformation} }, "not supported"},
	}
	for _, tc := range cases {
		f := sampleFilter()
		tc.mod(f)
		a := newArena()
		_, err := composeFilter(a, f)
		a.Dispose()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestParseRejectsBrokenEngineOutput feeds parse the kinds of damage an engine (or an
// emulation of one) could return and checks for an error naming the field, not a crash.
func TestParseRejectsBrokenEngineOutput(t *testing.T) {
	cases := []struct {
		name string
		mod  func(a *arena, c *fwpmFilter0)
		want string
	}{
		{"NULL condition array", func(_ *arena, c *fwpmFilter0) { c.filterCondition = nil }, "filterCondition: NULL pointer"},
		{"NULL SD", func(_ *arena, c *fwpmFilter0) {
			unsafe.Slice(c.filterCondition, c.numFilterConditions)[0].conditionValue.value = 0
		}, "condition 0 (FWPM_CONDITION_ALE_USER_ID) value: FWP_SECURITY_DESCRIPTOR_TYPE: NULL pointer"},
		{"zero-length SD", func(_ *arena, c *fwpmFilter0) {
			(*fwpByteBlob)(unionPointer(unsafe.Slice(c.filterCondition, c.numFilterConditions)[0].conditionValue.value)).size = 0
		}, "zero-length blob"},
		{"SD size without data", func(_ *arena, c *fwpmFilter0) {
			(*fwpByteBlob)(unionPointer(unsafe.Slice(c.filterCondition, c.numFilterConditions)[0].conditionValue.value)).data = nil
		}, "NULL data pointer"},
		{"NULL UINT64 weight", func(_ *arena, c *fwpmFilter0) { c.weight.value = 0 }, "weight: FWP_UINT64: NULL pointer"},
		{"providerData without data", func(_ *arena, c *fwpmFilter0) { c.providerData.data = nil }, "providerData"},
		{"NULL range", func(_ *arena, c *fwpmFilter0) {
			unsafe.Slice(c.filterCondition, c.numFilterConditions)[8].conditionValue.value = 0
		}, "condition 8"},
		{"non-contiguous mask", func(_ *arena, c *fwpmFilter0) {
			(*fwpV4AddrAndMask)(unionPointer(unsafe.Slice(c.filterCondition, c.numFilterConditions)[5].conditionValue.value)).mask = 0xff00ff00
		}, "not contiguous"},
		{"absurd SD size", func(_ *arena, c *fwpmFilter0) {
			(*fwpByteBlob)(unionPointer(unsafe.Slice(c.filterCondition, c.numFilterConditions)[0].conditionValue.value)).size = 0xFFFFFFF0
		}, "exceeds the 16777216-byte bound"},
		{"absurd providerData size", func(_ *arena, c *fwpmFilter0) { c.providerData.size = maxBlob + 1 }, "providerData: size 16777217"},
		{"SID with 200 sub-authorities", func(_ *arena, c *fwpmFilter0) {
			(*[2]byte)(unionPointer(unsafe.Slice(c.filterCondition, c.numFilterConditions)[10].conditionValue.value))[1] = 200
		}, "condition 10 (FWPM_CONDITION_ALE_PACKAGE_ID) value: FWP_SID: 200 sub-authorities"},
		{"effective weight UINT8", func(_ *arena, c *fwpmFilter0) {
			c.effectiveWeight.dataType = uint32(wfp.Uint8)
		}, "effectiveWeight"},
		{"NULL effective weight", func(_ *arena, c *fwpmFilter0) {
			c.effectiveWeight.dataType = uint32(wfp.Uint64)
		}, "effectiveWeight: FWP_UINT64: NULL pointer"},
	}
	for _, tc := range cases {
		a := newArena()
		c, err := composeFilter(a, sampleFilter())
		if err != nil {
			t.Fatal(err)
		}
		tc.mod(a, c)
		_, err = parseFilter(c)
		a.Dispose()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := parseFilter(nil); err == nil {
		t.Error("parseFilter(nil) succeeded")
	}
	if _, err := parseProvider(nil); err == nil {
		t.Error("parseProvider(nil) succeeded")
	}
	if _, err := parseSublayer(nil); err == nil {
		t.Error("parseSublayer(nil) succeeded")
	}
}

func TestArenaLargeAndMany(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	big := make([]byte, 3*arenaSlab)
	for i := range big {
		big[i] = byte(i)
	}
	p := a.bytes(big)
	for range 1000 {
		a.guid(wfp.GUID{Data1: 1})
	}
	if string(unsafe.Slice(p, len(big))) != string(big) {
		t.Error("large allocation was overwritten")
	}
	if z := a.alloc(64); *(*[64]byte)(z) != [64]byte{} {
		t.Error("arena memory is not zeroed")
	}
}

func TestComposeSessionAndSublayerTemplate(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	s, err := composeSession(a, Options{Name: "wfpsandbox setup", TxnWaitTimeout: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	name, desc, err := parseDisplayData(&s.displayData)
	if err != nil || name != "wfpsandbox setup" || desc != "" || s.displayData.description != nil {
		t.Errorf("session display data %q %q %v", name, desc, err)
	}
	if s.flags != 0 || s.txnWaitTimeoutInMSec != 2500 {
		t.Errorf("non-dynamic session: flags %#x, wait %d ms", s.flags, s.txnWaitTimeoutInMSec)
	}
	if d, err := composeSession(a, Options{Dynamic: true}); err != nil || d.flags != 1 || d.txnWaitTimeoutInMSec != 10000 {
		t.Errorf("dynamic session: %+v %v", d, err)
	}
	key := wfp.MustParseGUID("6a7a3e1c-2b1f-4a41-9a0e-0a3f0b6a9d01")
	if tmpl := composeSublayerEnumTemplate(a, key); tmpl.providerKey == nil || *tmpl.providerKey != key {
		t.Errorf("sublayer template %+v", tmpl)
	}
}

func TestTxnWaitMillis(t *testing.T) {
	if got := txnWaitMillis(0); got != 10000 {
		t.Errorf("default: %d ms", got)
	}
	if got := txnWaitMillis(-time.Second); got != 10000 {
		t.Errorf("negative: %d ms, want the default", got)
	}
	if got := txnWaitMillis(time.Microsecond); got != 1 {
		t.Errorf("1µs: %d ms, want 1 (0 would mean WFP's own default)", got)
	}
	// 0xFFFFFFFF is INFINITE: the longest finite wait is one less.
	if got := txnWaitMillis(1 << 62); got != 0xFFFFFFFE {
		t.Errorf("a huge timeout: %#x ms, want 0xFFFFFFFE", got)
	}
}

// The sd argument of Fwpm*Add0: NULL for no descriptor (the documented default), else
// a copy of the self-relative bytes outside the Go heap.
func TestComposeSD(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	if p := composeSD(a, nil); p != nil {
		t.Fatalf("composeSD(nil) = %p, want NULL (the default security descriptor)", p)
	}
	p := composeSD(a, testSD)
	if p == nil {
		t.Fatal("composeSD(testSD) = NULL")
	}
	if got := unsafe.Slice((*byte)(p), len(testSD)); string(got) != string(testSD) {
		t.Fatalf("composeSD copied % x, want % x", got, testSD)
	}
	if uintptr(p)%4 != 0 {
		t.Fatalf("sd at %p is not 4-aligned (SECURITY_DESCRIPTOR_RELATIVE)", p)
	}
}

// composeDACL points at the DACL inside a copy of the descriptor, and refuses one
// without a DACL or whose DACL runs past its end.
func TestComposeDACL(t *testing.T) {
	a := newArena()
	defer a.Dispose()
	p, err := composeDACL(a, testSD)
	if err != nil {
		t.Fatal(err)
	}
	if got := unsafe.Slice((*byte)(p), len(testSD)-20); string(got) != string(testSD[20:]) {
		t.Fatalf("DACL % x, want % x", got, testSD[20:])
	}
	noDACL := append([]byte(nil), testSD[:20]...)
	noDACL[2] = 0 // control: no SE_DACL_PRESENT, not self-relative
	truncated := append([]byte(nil), testSD[:30]...)
	for name, sd := range map[string][]byte{"short": testSD[:10], "no DACL": noDACL, "truncated": truncated} {
		if _, err := composeDACL(a, sd); err == nil {
			t.Errorf("%s: composeDACL accepted it", name)
		}
	}
}
