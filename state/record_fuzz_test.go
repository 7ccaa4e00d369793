package state

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeRecord: the record decoder never panics, and whatever it accepts is a
// record Write would write (it validates) and that decodes again to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(goodRecord))
	f.Add([]byte(legacyMarker))
	for _, c := range corruptCases {
		f.Add([]byte(c.content))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, kind, err := Decode(data)
		if err != nil {
			if r != nil || kind == "" {
				t.Fatalf("Decode failed (%v) with record %v, kind %q", err, r, kind)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted record does not validate: %v", err)
		}
		if _, err := r.FileRules(); err != nil {
			t.Fatalf("accepted record's rules do not parse: %v", err)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, _, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(r2)
		if string(out) != string(out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out, out2)
		}
	})
}
