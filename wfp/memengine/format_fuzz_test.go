package memengine

import (
	"bytes"
	"net/netip"
	"os"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// FuzzDecodeState: any bytes either fail to decode or decode to a state whose encoding is
// a fixed point (decode(encode(st)) encodes the same), and decoding never panics.
func FuzzDecodeState(f *testing.F) {
	st := newState()
	p := wfp.MustParseGUID("a0000000-0000-4000-8000-00000000000a")
	must := func(err error) {
		if err != nil {
			f.Fatal(err)
		}
	}
	must(st.addProvider(&wfp.Provider{Key: p, Name: "p", Flags: wfp.ProviderFlagPersistent, Data: []byte{1}}))
	must(st.addSublayer(&wfp.Sublayer{Key: p, Name: "s", Flags: wfp.SublayerFlagPersistent, ProviderKey: &p, Weight: 7}))
	_, err := st.addFilter(&wfp.Filter{Key: p, Name: "f", ProviderKey: &p, Layer: wfp.LayerALEAuthConnectV4, Sublayer: p,
		Weight: wfp.U8(3), Action: wfp.Action{Type: wfp.ActionBlock}, Conditions: []wfp.Condition{
			{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(1), wfp.U16(9))},
			{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("10.0.0.0/8"))},
		}})
	must(err)
	seed, err := encodeState(st)
	must(err)
	f.Add(seed)
	f.Add([]byte(`{"format":"wfpsandbox-memengine","version":1,"nextFilterId":1}`))
	// A host written before FWP_MATCH_NOT_EQUAL on an SD was refused at add: decoding
	// does not apply the add-time condition checks.
	old, err := os.ReadFile("testdata/main-477aedb-deny.json") // see oldstate_test.go
	must(err)
	f.Add(old)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		a, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := decodeState(a)
		if err != nil {
			t.Fatalf("re-decoding our own encoding: %v\n%s", err, a)
		}
		b, err := encodeState(st2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("encoding is not a fixed point:\n%s\n---\n%s", a, b)
		}
	})
}
