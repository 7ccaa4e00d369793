//go:build wine

package winetest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSetupElevationUnderWine runs setup's Windows-only elevation tests under Wine:
// ShellExecuteEx "runas" on a thread with COM initialized (the call Elevate makes),
// waiting for the child and reading its exit code, the SHELLEXECUTEINFOW layout, and
// the quoting of lpParameters split back by CommandLineToArgvW. Wine has no UAC, so the
// runas verb runs the child unattended; on Windows it would prompt.
func TestSetupElevationUnderWine(t *testing.T) {
	exe := filepath.Join(h.bin, "setup.test.exe")
	if err := h.goTestBinary("./setup", "wine", exe); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	want := []string{"TestElevateReturnsExitCode", "TestShellExecuteInfoLayout", "TestShellExecuteMasks", "TestParametersRoundTrip"}
	r := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "-test.v", "-test.count=1", "-test.run", "^("+strings.Join(want, "|")+")$")
	if r.code != 0 || strings.Contains(r.stdout, "--- FAIL") || strings.Contains(r.stdout, "--- SKIP") {
		t.Fatalf("setup elevation tests under Wine: %s", r.describe())
	}
	for _, name := range want {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + `\b`).MatchString(r.stdout) {
			t.Errorf("%s did not pass under Wine: %s", name, r.describe())
		}
	}
}
