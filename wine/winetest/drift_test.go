//go:build wine

package winetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// TestVerifyDetectsDeletedFilter: a filter removed behind wfpsandbox's back (here by
// editing the emulator's state file between processes) makes verify exit 1, and the
// next setup re-adds exactly that filter.
func TestVerifyDetectsDeletedFilter(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
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

// TestSetupCommitFails: every FwpmTransactionCommit0 fails (FWP_E_TIMEOUT). Nothing may be
// committed, setup must report the error, and no session may be left open.
func TestSetupCommitFails(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "commit", env: []string{"WFPEMU_FAIL=FwpmTransactionCommit0:1+:0x80320012"}},
		exe, "setup", "--sid", sandboxSID, "--format", "json")
	if r.code == 0 {
		t.Fatalf("setup succeeded although every commit failed: %s", r.describe())
	}
	if !strings.Contains(r.stderr+r.stdout, "FWP_E_TIMEOUT") {
		t.Errorf("the output does not name FWP_E_TIMEOUT:\n%s", r.describe())
	}
	if len(r.log.calls("FwpmTransactionCommit0")) == 0 {
		t.Error("no commit was attempted")
	}
	r.log.checkMemory(t)
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Contains(s, "\nP ") {
		t.Errorf("objects were committed:\n%s", s)
	}
}

// TestSetupCommitFailsOnce: only the first commit fails. Whatever setup does about it
// (retry now, or report and retry on the next run), two runs at most must leave the
// whole policy installed, and the failed transaction must not leak into the next one.
func TestSetupCommitFailsOnce(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "once", env: []string{"WFPEMU_FAIL=FwpmTransactionCommit0:1:0x80320012"}},
		exe, "setup", "--sid", sandboxSID, "--format", "json")
	r.log.checkMemory(t)
	if r.code != 0 {
		r = h.run(t, runOpts{dir: dir, name: "next"}, exe, "setup", "--sid", sandboxSID, "--format", "json")
		if r.code != 0 {
			t.Fatalf("the run after a failed commit: %s", r.describe())
		}
	}
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Count(s, "\nF ") != planned(policy.DefaultUserMatch) {
		t.Fatalf("state holds %d filters, want %d:\n%s", strings.Count(s, "\nF "), planned(policy.DefaultUserMatch), s)
	}
	v := h.run(t, runOpts{dir: dir, name: "verify"}, exe, "verify", "--sid", sandboxSID)
	if v.code != 0 {
		t.Errorf("verify: %s", v.describe())
	}
}

// TestSetupDryRun: a dry run reads inside a transaction and aborts it; nothing is committed.
func TestSetupDryRun(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "dry"}, exe, "setup", "--sid", sandboxSID, "--dry-run", "--format", "json")
	if r.code != 0 {
		t.Fatalf("setup --dry-run: %s", r.describe())
	}
	wantWrites(t, r, 0)
	if n := len(r.log.calls("FwpmTransactionCommit0")); n != 0 {
		t.Errorf("a dry run committed %d transaction(s)", n)
	}
	if ab := r.log.calls("FwpmTransactionAbort0"); len(ab) != 1 || ab[0].Status != statusOK {
		t.Errorf("want one successful abort, got %d", len(ab))
	}
	r.log.checkMemory(t)
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Contains(s, "\nP ") {
		t.Errorf("a dry run left objects:\n%s", s)
	}
}
