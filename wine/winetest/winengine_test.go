//go:build wine

package winetest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWinengineIntegrationUnderWine runs wfp/winengine's own live-BFE integration tests
// (build tags windows && wfpintegration) under Wine against the emulator: the Go
// mirrors and marshaling meet a C implementation compiled from the SDK struct
// definitions, and every returned block must be freed.
func TestWinengineIntegrationUnderWine(t *testing.T) {
	exe := filepath.Join(h.bin, "winengine.test.exe")
	if err := h.goTestBinary("./wfp/winengine", "wfpintegration", exe); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "winengine"}, exe, "-test.v", "-test.count=1", "-test.run", "^TestIntegration")
	passed := regexp.MustCompile(`(?m)^--- PASS: TestIntegration\S+`).FindAllString(r.stdout, -1)
	if r.code != 0 || len(passed) == 0 || strings.Contains(r.stdout, "--- FAIL") || strings.Contains(r.stdout, "--- SKIP") {
		t.Fatalf("winengine integration tests under Wine: %s", r.describe())
	}
	t.Logf("passed under Wine: %s", strings.Join(passed, ", "))
	if len(r.log.calls("FwpmFilterAdd0")) == 0 {
		t.Fatal("no FwpmFilterAdd0 in the emulator's log: the tests did not reach the emulator")
	}
	r.log.checkMemory(t)
}
