//go:build wine

package winetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// v1Commit is the last commit of setup version 1: the shared-sublayer layout whose
// deny shape puts FWP_MATCH_NOT_EQUAL on the ALE_USER_ID security descriptor.
const v1Commit = "477aedb"

// v1StoreFixture is an emulator store (WFPEMU_STATE) written by v1Commit's
// wfpsandbox.exe: `setup --sid <the prefix user>` with the defaults (baseline, deny),
// under this harness while the emulator still accepted NOT_EQUAL on a security
// descriptor. TestWriteV1Store regenerates it (WFPSANDBOX_WRITE_V1_STORE=1).
const v1StoreFixture = "testdata/state-setup-v1.txt"

var v1 struct {
	once sync.Once
	exe  string
	err  error
}

// v1Exe builds wfpsandbox.exe as of v1Commit from this repository's own history
// (git archive into a temporary directory, then go build for windows/amd64).
func (hh *harness) v1Exe(t *testing.T) string {
	t.Helper()
	v1.once.Do(func() {
		src := filepath.Join(hh.work, "src-"+v1Commit)
		if v1.err = os.MkdirAll(src, 0o755); v1.err != nil {
			return
		}
		archive := exec.Command("git", "-C", hh.root, "archive", "--format=tar", v1Commit)
		var tarball, stderr bytes.Buffer
		archive.Stdout, archive.Stderr = &tarball, &stderr
		if err := archive.Run(); err != nil {
			v1.err = fmt.Errorf("git archive %s: %w\n%s", v1Commit, err, stderr.String())
			return
		}
		untar := exec.Command("tar", "-x", "-C", src)
		untar.Stdin = &tarball
		if b, err := untar.CombinedOutput(); err != nil {
			v1.err = fmt.Errorf("untar %s: %w\n%s", v1Commit, err, b)
			return
		}
		v1.exe = filepath.Join(hh.bin, "wfpsandbox-"+v1Commit+".exe")
		build := exec.Command("go", "build", "-o", v1.exe, "./cmd/wfpsandbox")
		build.Dir = src
		build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if b, err := build.CombinedOutput(); err != nil {
			v1.err = fmt.Errorf("go build %s at %s: %w\n%s", "./cmd/wfpsandbox", v1Commit, err, b)
		}
	})
	if v1.err != nil {
		t.Fatal(v1.err)
	}
	return v1.exe
}

// TestWriteV1Store regenerates v1StoreFixture with v1Commit's binary. It only runs with
// WFPSANDBOX_WRITE_V1_STORE=1, and fails if that binary's setup does not succeed (an
// emulator that refuses NOT_EQUAL cannot write such a store — keep the checked-in one).
func TestWriteV1Store(t *testing.T) {
	if os.Getenv("WFPSANDBOX_WRITE_V1_STORE") != "1" {
		t.Skip("set WFPSANDBOX_WRITE_V1_STORE=1 to regenerate " + v1StoreFixture)
	}
	exe, sandboxSID := h.v1Exe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "v1-setup"}, exe, "setup", "--sid", sandboxSID)
	if r.code != 0 {
		t.Fatalf("setup of %s: %s", v1Commit, r.describe())
	}
	if err := os.WriteFile(v1StoreFixture, []byte(fileText(t, filepath.Join(dir, "state.txt"))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV1Store: the real wfpsandbox.exe on an emulator store written by setup
// version 1 (NOT_EQUAL blocks in the shared sublayer) migrates it in one transaction —
// the account's sublayer added, its 12 old blocks deleted, 4 guards and 12 blocks added
// in its own sublayer, the shared sublayer deleted — then converges with 0 writes and
// uninstalls everything.
func TestMigrateV1Store(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	old, err := os.ReadFile(v1StoreFixture)
	if err != nil {
		t.Fatal(err)
	}
	// The store writes strings as UTF-16LE hex; the filters' names end with the SID.
	var sidHex strings.Builder
	for _, r := range sandboxSID {
		fmt.Fprintf(&sidHex, "%02x00", r)
	}
	if !strings.Contains(string(old), sidHex.String()) {
		t.Fatalf("%s was written for another prefix user than %s: regenerate it (TestWriteV1Store)", v1StoreFixture, sandboxSID)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state.txt")
	if err := os.WriteFile(state, old, 0o644); err != nil {
		t.Fatal(err)
	}
	o := func(name string) runOpts { return runOpts{dir: dir, name: name} }

	// The old store loads: verify reads it and reports the old filters as drifted.
	before := h.run(t, o("verify-v1"), exe, "verify", "--sid", sandboxSID)
	if before.code != 1 || !strings.Contains(before.stdout, "drifted") {
		t.Errorf("verify on the version-1 store: exit %d, want 1 with drifted filters\n%s", before.code, before.describe())
	}

	setup := h.run(t, o("setup"), exe, "setup", "--sid", sandboxSID, "--format", "json")
	if setup.code != 0 {
		t.Fatalf("setup on the version-1 store: %s", setup.describe())
	}
	checkOneTransaction(t, setup.log)
	setup.log.checkMemory(t)
	// own sublayer + 12 deletes + 16 adds + the shared sublayer deleted.
	wantWrites(t, setup, 1+len(baseline)+planned(policy.MatchDeny)+1)
	if !strings.Contains(setup.stdout, "migrated from the shared-sublayer layout") {
		t.Errorf("setup output does not say the filters were migrated:\n%s", setup.describe())
	}
	for _, a := range setup.log.calls("FwpmFilterAdd0") {
		f := decode[struct{ Filter logFilter }](t, a.Args).Filter
		for _, c := range f.Conditions {
			if c.MatchType == matchNotEqual {
				t.Errorf("filter %s added with FWP_MATCH_NOT_EQUAL", f.Key)
			}
		}
	}
	text := fileText(t, state)
	if strings.Contains(text, policy.SublayerKey.String()) {
		t.Errorf("the shared sublayer is still in the store:\n%s", text)
	}
	if !strings.Contains(text, policy.SublayerKeyFor(sandboxSID).String()) || strings.Count(text, "\nF ") != planned(policy.MatchDeny) {
		t.Errorf("store after the migration: want the account's sublayer and %d filters:\n%s", planned(policy.MatchDeny), text)
	}

	if v := h.run(t, o("verify"), exe, "verify", "--sid", sandboxSID); v.code != 0 {
		t.Errorf("verify after the migration: %s", v.describe())
	}
	again := h.run(t, o("setup-again"), exe, "setup", "--sid", sandboxSID, "--format", "json")
	if again.code != 0 {
		t.Fatalf("second setup: %s", again.describe())
	}
	wantWrites(t, again, 0)
	if w := again.log.writes(); len(w) != 0 {
		t.Errorf("second setup made %d Add/Delete calls", len(w))
	}

	un := h.run(t, o("uninstall"), exe, "uninstall", "--all", "--format", "json")
	if un.code != 0 {
		t.Fatalf("uninstall --all: %s", un.describe())
	}
	wantWrites(t, un, 2+planned(policy.MatchDeny))
	if s := fileText(t, state); strings.Contains(s, "\nP ") || strings.Contains(s, "\nS ") || strings.Contains(s, "\nF ") {
		t.Errorf("store after uninstall still holds objects:\n%s", s)
	}
}

// TestV1SetupAgainstRefusingEmulator shows what setup version 1 reports on an emulator
// that refuses FWP_MATCH_NOT_EQUAL on a security descriptor at FwpmFilterAdd0, as the
// FWP_MATCH_TYPE documentation does (only sortable types support it): the first
// NOT_EQUAL add fails, the transaction is aborted, nothing is committed, setup exits 3
// naming the status — and the current wfpsandbox.exe then installs on the same host.
// The refusal is the contract engines' change of issue 9 (part 1): an emulator that
// accepts NOT_EQUAL fails the test.
func TestV1SetupAgainstRefusingEmulator(t *testing.T) {
	v1exe, exe, sandboxSID := h.v1Exe(t), h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "v1-setup"}, v1exe, "setup", "--sid", sandboxSID, "--format", "json")
	adds := r.log.calls("FwpmFilterAdd0")
	if len(adds) == 0 {
		t.Fatalf("setup of %s made no FwpmFilterAdd0 call: %s", v1Commit, r.describe())
	}
	if adds[0].Status == statusOK {
		t.Fatalf("the emulator accepted setup version 1's NOT_EQUAL filter (exit %d): it must refuse FWP_MATCH_NOT_EQUAL on a security descriptor, as the FWP_MATCH_TYPE reference does", r.code)
	}
	if r.code != 3 || !strings.Contains(r.stderr+r.stdout, "FWP_E_MATCH_TYPE_MISMATCH") {
		t.Errorf("setup %s against a refusing emulator: exit %d, want 3 naming FWP_E_MATCH_TYPE_MISMATCH\n%s", v1Commit, r.code, r.describe())
	}
	if len(adds) != 1 || len(r.log.calls("FwpmTransactionCommit0")) != 0 {
		t.Errorf("%d adds and %d commits after the refused add; want 1 and 0", len(adds), len(r.log.calls("FwpmTransactionCommit0")))
	}
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Contains(s, "\nP ") {
		t.Errorf("objects were committed:\n%s", s)
	}
	t.Logf("setup %s reports, exit %d:\n%s%s", v1Commit, r.code, r.stdout, r.stderr)

	now := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", sandboxSID, "--format", "json")
	if now.code != 0 {
		t.Fatalf("current setup after the refused one: %s", now.describe())
	}
	wantWrites(t, now, 2+planned(policy.MatchDeny))
}
