package memengine_test

import (
	"bufio"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// matchRow is one line of wfp/testdata/matchtypes.tsv.
type matchRow struct {
	line                       int
	match, value, bounds, want string
}

// readMatchTable reads the match-type table shared with wine/winetest's
// TestEmulatorMatchTypes (see the file's header for the documentation each row follows).
func readMatchTable(t *testing.T) []matchRow {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "matchtypes.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []matchRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 5 || (c[3] != "accept" && c[3] != "FWP_E_MATCH_TYPE_MISMATCH") {
			t.Fatalf("matchtypes.tsv:%d: want match, value type, bounds, accept|FWP_E_MATCH_TYPE_MISMATCH, rule; got %q", n, line)
		}
		rows = append(rows, matchRow{line: n, match: c[0], value: c[1], bounds: c[2], want: c[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// sampleValue is a well-formed value of a data type, written here from the SDK's type
// descriptions (fwptypes.h), not from the engine.
func sampleValue(t *testing.T, name string) wfp.Value {
	t.Helper()
	dt, err := wfp.ParseDataType(name)
	if err != nil {
		t.Fatal(err)
	}
	v := wfp.Value{Type: dt}
	switch dt {
	case wfp.Empty:
	case wfp.Uint8, wfp.Uint16, wfp.Uint32, wfp.Uint64, wfp.Int8, wfp.Int16, wfp.Int32, wfp.Int64:
		v.Uint = 7
	case wfp.Float:
		v.Uint = uint64(math.Float32bits(1.5))
	case wfp.Double:
		v.Uint = math.Float64bits(1.5)
	case wfp.ByteArray16:
		v.Bytes = netip.MustParseAddr("2001:db8::1").AsSlice()
	case wfp.ByteArray6:
		v.Bytes = []byte{2, 0, 0, 0, 0, 1}
	case wfp.ByteBlob, wfp.UnicodeString:
		v.Bytes = []byte{'a', 0, '.', 0, 'e', 0, 'x', 0, 'e', 0, 0, 0} // UTF-16LE "a.exe" + NUL
	case wfp.SID:
		v.Bytes = []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0} // S-1-5-32-544
	case wfp.SecurityDescriptor:
		v.Bytes = userSD(t)
	case wfp.TokenInformation, wfp.TokenAccessInformation:
		v.Bytes = []byte{0, 0, 0, 0}
	case wfp.V4AddrMask:
		v = wfp.AddrMask(netip.MustParsePrefix("10.0.0.0/8"))
	case wfp.V6AddrMask:
		v = wfp.AddrMask(netip.MustParsePrefix("fd00::/8"))
	default:
		t.Fatalf("no sample value for %s", name)
	}
	return v
}

// The one field and layer every row uses: FWPM_CONDITION_COMPARTMENT_ID, which
// ALE_AUTH_CONNECT_V4 offers and for which the Filtering Condition Identifiers page gives
// no plain FWP data type, so wfp.FieldValueTypes does not restrict it and only the
// match-type rule can refuse the condition.
var compartmentID = func() wfp.FieldID {
	g, _, ok := wfp.LookupGUID("FWPM_CONDITION_COMPARTMENT_ID")
	if !ok {
		panic("FWPM_CONDITION_COMPARTMENT_ID unknown")
	}
	return wfp.FieldID(g)
}()

// TestMatchTypeTable: every row of the shared match-type table, one FwpmFilterAdd0 each.
func TestMatchTypeTable(t *testing.T) {
	if wfp.FieldValueTypes(compartmentID, false) != nil {
		t.Fatal("COMPARTMENT_ID now has a checked value type; pick a field the type check leaves alone")
	}
	rows := readMatchTable(t)
	checkTableComplete(t, rows)
	s := memengine.NewBFE().Open()
	must(t, s.BeginTransaction())
	defer func() { must(t, s.AbortTransaction()) }()
	for i, r := range rows {
		m, err := wfp.ParseMatchType(r.match)
		if err != nil {
			t.Fatalf("matchtypes.tsv:%d: %v", r.line, err)
		}
		var v wfp.Value
		if r.value == "FWP_RANGE_TYPE" {
			v = wfp.RangeOf(sampleValue(t, r.bounds), sampleValue(t, r.bounds))
		} else {
			v = sampleValue(t, r.value)
		}
		f := &wfp.Filter{Key: guid(i), Name: "match table row", Layer: wfp.LayerALEAuthConnectV4,
			Conditions: []wfp.Condition{{Field: compartmentID, Match: m, Value: v}}, Action: wfp.Action{Type: wfp.ActionBlock}}
		_, err = s.AddFilter(f)
		switch {
		case r.want == "accept" && err != nil:
			t.Errorf("matchtypes.tsv:%d: %s on %s %s: want accepted, got %v", r.line, r.match, r.value, r.bounds, err)
		case r.want != "accept" && !isCode(err, wfp.ErrMatchTypeMismatch):
			t.Errorf("matchtypes.tsv:%d: %s on %s %s: want FWP_E_MATCH_TYPE_MISMATCH, got %v", r.line, r.match, r.value, r.bounds, err)
		}
	}
}

func isCode(err error, c wfp.Code) bool {
	ce, ok := err.(*wfp.CallError)
	return ok && ce.Code == c
}

// checkTableComplete: the table holds every FWP_MATCH_TYPE against every condition value
// type exactly once - each type of FWP_CONDITION_VALUE0's union, and FWP_RANGE_TYPE with
// bounds of each FWP_VALUE0 type - so no pair is left untested.
func checkTableComplete(t *testing.T, rows []matchRow) {
	t.Helper()
	var matches, values, bounds []string
	for m := range wfp.MatchType(64) {
		if n := m.String(); !strings.HasPrefix(n, "FWP_MATCH_TYPE(") {
			matches = append(matches, n)
		}
	}
	for d := range wfp.DataType(0x200) {
		n := d.String()
		switch {
		case strings.HasPrefix(n, "FWP_DATA_TYPE("), d == wfp.Range:
		case d == wfp.Empty:
			bounds = append(bounds, n)
		case d < wfp.V4AddrMask:
			bounds = append(bounds, n)
			values = append(values, n)
		default:
			values = append(values, n)
		}
	}
	if len(matches) != 13 || len(values) != 20 || len(bounds) != 19 {
		t.Fatalf("wfp knows %d match types, %d value types, %d bound types; want 13, 20, 19", len(matches), len(values), len(bounds))
	}
	want := map[string]bool{}
	for _, m := range matches {
		for _, v := range values {
			want[m+" "+v+" -"] = true
		}
		for _, b := range bounds {
			want[m+" FWP_RANGE_TYPE "+b] = true
		}
	}
	seen := map[string]bool{}
	for _, r := range rows {
		k := r.match + " " + r.value + " " + r.bounds
		if !want[k] || seen[k] {
			t.Errorf("matchtypes.tsv:%d: %q is unknown or repeated", r.line, k)
		}
		seen[k] = true
	}
	var missing []string
	for k := range want {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("matchtypes.tsv lacks %d pairs, e.g. %s", len(missing), missing[0])
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d rows", len(rows))
}
