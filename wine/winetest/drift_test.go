//go:build wine

package winetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyDetectsDeletedFilter: a filter removed behind wfpsandbox's back (here by
// editing the emulator's state file between processes) makes verify exit 1, and the
// next setup re-adds exactly that filter.
func TestVerifyDetectsDeletedFilter(t *testing.T) {
	exe := h.wfpsandboxExe(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.txt")
	setup := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", sandboxSID, "--format", "json")
	if setup.code != 0 {
		t.Fatalf("setup: %s", setup.describe())
	}

	var kept []string
	removed := ""
	for _, line := range strings.SplitAfter(fileText(t, state), "\n") {
		if removed == "" && strings.HasPrefix(line, "F ") {
			removed = strings.Fields(line)[1]
			continue
		}
		kept = append(kept, line)
	}
	if removed == "" {
		t.Fatal("no filter in the state file")
	}
	if err := os.WriteFile(state, []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}

	verify := h.run(t, runOpts{dir: dir, name: "verify"}, exe, "verify", "--sid", sandboxSID)
	if verify.code != 1 || !strings.Contains(verify.stdout, removed) {
		t.Errorf("verify with filter %s missing: want exit 1 naming it\n%s", removed, verify.describe())
	}

	repair := h.run(t, runOpts{dir: dir, name: "repair"}, exe, "setup", "--sid", sandboxSID, "--format", "json")
	if repair.code != 0 {
		t.Fatalf("repairing setup: %s", repair.describe())
	}
	wantWrites(t, repair, 1)
	writes := repair.log.writes()
	if len(writes) != 1 || writes[0].Fn != "FwpmFilterAdd0" {
		t.Fatalf("repair made %d writes, want one FwpmFilterAdd0", len(writes))
	}
	if f := decode[struct{ Filter logFilter }](t, writes[0].Args).Filter; f.Key != removed {
		t.Errorf("repair added filter %s, want %s", f.Key, removed)
	}
	checkOneTransaction(t, repair.log)
}

// TestSetupCommitFails: FwpmTransactionCommit0 fails (FWP_E_TIMEOUT). Nothing may be
// committed, setup must report the error, and no session may be left open.
func TestSetupCommitFails(t *testing.T) {
	exe := h.wfpsandboxExe(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "commit", env: []string{"WFPEMU_FAIL=FwpmTransactionCommit0:1:0x80320012"}},
		exe, "setup", "--sid", sandboxSID, "--format", "json")
	if r.code == 0 {
		t.Fatalf("setup succeeded although the commit failed: %s", r.describe())
	}
	if !strings.Contains(r.stderr, "FWP_E_TIMEOUT") {
		t.Errorf("stderr does not name FWP_E_TIMEOUT:\n%s", r.describe())
	}
	r.log.checkMemory(t)
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Contains(s, "\nP ") {
		t.Errorf("objects were committed:\n%s", s)
	}
}
