//go:build wine

package winetest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSelftestWindowsPartsUnderWine runs the selftest package's Windows-only work
// directory and loopback exemption tests under Wine: the directory is created with its
// protected DACL in place (CreateDirectoryW with a security descriptor), the probe
// helper is never copied into a file that was already there, and the loopback
// exemption is undone without touching other programs' entries (a fake list: Wine has
// no NetworkIsolation* functions).
func TestSelftestWindowsPartsUnderWine(t *testing.T) {
	exe := filepath.Join(h.bin, "selftest.test.exe")
	if err := h.goTestBinary("./selftest", "wine", exe); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	want := []string{"TestWorkDirProtectedFromTheStart", "TestCopyInRefusesAPlantedFile", "TestLoopbackExemptionUndoKeepsOthersChanges", "TestLoopbackExemptionAlreadyThere"}
	r := h.run(t, runOpts{dir: dir, name: "selftest-workdir"}, exe, "-test.v", "-test.count=1", "-test.run", "^("+strings.Join(want, "|")+")$")
	if r.code != 0 || strings.Contains(r.stdout, "--- FAIL") || strings.Contains(r.stdout, "--- SKIP") {
		t.Fatalf("selftest work directory tests under Wine: %s", r.describe())
	}
	for _, name := range want {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + `\b`).MatchString(r.stdout) {
			t.Errorf("%s did not pass under Wine: %s", name, r.describe())
		}
	}
}
