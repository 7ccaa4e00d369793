//go:build wine

package winetest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildMatchTypes compiles wine/fwpemu/contract/matchtypes.c, the emulator's prober.
func buildMatchTypes(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(h.bin, "matchtypes.exe")
	if err := h.mingw(exe, filepath.Join(h.root, "wine", "fwpemu", "contract", "matchtypes.c"), "-lfwpuclnt", "-ladvapi32"); err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestEmulatorMatchTypes: the emulator's FwpmFilterAdd0 answers every row of
// wfp/testdata/matchtypes.tsv - the table wfp/memengine's TestMatchTypeTable runs too, so
// the two contract engines cannot drift apart - and the prober tried no pair the table
// lacks.
func TestEmulatorMatchTypes(t *testing.T) {
	exe := buildMatchTypes(t)
	want := map[string]string{} // "match value bounds" -> status
	f, err := os.Open(filepath.Join(h.root, "wfp", "testdata", "matchtypes.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 5 {
			t.Fatalf("matchtypes.tsv:%d: want 5 tab-separated columns: %q", n, line)
		}
		switch c[3] {
		case "accept":
			want[c[0]+" "+c[1]+" "+c[2]] = "0x00000000"
		case "FWP_E_MATCH_TYPE_MISMATCH":
			want[c[0]+" "+c[1]+" "+c[2]] = "0x80320026" // winerror.h
		default:
			t.Fatalf("matchtypes.tsv:%d: verdict %q", n, c[3])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	r := h.run(t, runOpts{dir: t.TempDir(), name: "matchtypes"}, exe, "table")
	if r.code != 0 {
		t.Fatalf("matchtypes.exe table: %s", r.describe())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		c := strings.Split(strings.TrimRight(line, "\r"), "\t")
		if len(c) != 4 {
			t.Fatalf("prober line %q", line)
		}
		got[c[0]+" "+c[1]+" "+c[2]] = c[3]
	}
	if adds := r.log.calls("FwpmFilterAdd0"); len(adds) != len(want) {
		t.Fatalf("the emulator logged %d FwpmFilterAdd0 calls, the table has %d rows (was the emulator loaded?)", len(adds), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: the prober did not try this table row", k)
		case g != w:
			t.Errorf("%s: FwpmFilterAdd0 = %s, the table says %s", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: tried by the prober but missing from the table", k)
		}
	}
	r.log.checkMemory(t)
}

// oldDenyState is the emulator's state file after `wfpsandbox.exe setup --sid <prefix user>`
// with the default --user-match deny, written by main at 477aedb under this harness before
// the emulator refused FWP_MATCH_NOT_EQUAL on a security descriptor: a provider, the shared
// sublayer and 12 filters whose ALE_USER_ID condition is NOT_EQUAL an SD.
const oldDenyState = "main-477aedb-deny-state.txt"

// TestEmulatorLoadsOldNotEqualState: what is installed is installed. The emulator loads a
// store holding NOT_EQUAL filters and lists them; only adding such a filter is refused.
func TestEmulatorLoadsOldNotEqualState(t *testing.T) {
	exe := buildMatchTypes(t)
	data, err := os.ReadFile(filepath.Join(h.root, "wine", "winetest", "testdata", oldDenyState))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state.txt"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, runOpts{dir: dir, name: "list"}, exe, "list")
	if r.code != 0 {
		t.Fatalf("matchtypes.exe list: %s", r.describe())
	}
	filters, notEqualSD := 0, 0
	readd := ""
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "F":
			filters++
		// ALE_USER_ID, FWP_MATCH_NOT_EQUAL (10), FWP_SECURITY_DESCRIPTOR_TYPE (14)
		case len(f) == 4 && f[0] == "C" && f[1] == fieldUserID && f[2] == "10" && f[3] == "14":
			notEqualSD++
		case len(f) == 2 && f[0] == "readd":
			readd = f[1]
		}
	}
	if filters != 12 || notEqualSD != 12 {
		t.Fatalf("listed %d filters, %d ALE_USER_ID NOT_EQUAL SD conditions; want 12 and 12\n%s", filters, notEqualSD, r.describe())
	}
	if readd != "0x80320026" {
		t.Errorf("re-adding a loaded NOT_EQUAL filter under a new key returned %q, want 0x80320026 (FWP_E_MATCH_TYPE_MISMATCH)", readd)
	}
	if s := fileText(t, filepath.Join(dir, "state.txt")); s != string(data) {
		t.Error("listing and an aborted add changed the state file")
	}
	r.log.checkMemory(t)
}
