//go:build wine

package winetest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEmulatorContract runs wine/fwpemu/contract/contract.c against the emulator: WFP's
// error contract (ALREADY_EXISTS, *_NOT_FOUND, IN_USE, LIFETIME_MISMATCH,
// NULL_DISPLAY_NAME, invalid SD, TXN_IN_PROGRESS/NO_TXN_IN_PROGRESS, failed calls not
// aborting, atomic commit and abort), deep copies, enumeration, and persistence between
// two processes.
func TestEmulatorContract(t *testing.T) {
	exe := filepath.Join(h.bin, "contract.exe")
	if err := h.mingw(exe, filepath.Join(h.root, "wine", "fwpemu", "contract", "contract.c"), "-lfwpuclnt", "-ladvapi32"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	okLine := regexp.MustCompile(`(?m)^ok (\d+) checks, 0 failed`)

	one := h.run(t, runOpts{dir: dir, name: "one"}, exe, "one")
	if one.code != 0 || !okLine.MatchString(one.stdout) {
		t.Fatalf("phase one: %s", one.describe())
	}
	one.log.checkMemory(t)
	if len(one.log.calls("FwpmFilterAdd0")) == 0 {
		t.Fatal("phase one logged no FwpmFilterAdd0: was the emulator loaded?")
	}
	if s := fileText(t, filepath.Join(dir, "state.txt")); !strings.Contains(s, "\nF ") {
		t.Fatalf("after phase one the state file holds no filter:\n%s", s)
	}

	two := h.run(t, runOpts{dir: dir, name: "two"}, exe, "two")
	if two.code != 0 || !okLine.MatchString(two.stdout) {
		t.Fatalf("phase two (a new process reading the state file): %s", two.describe())
	}
	// Phase two frees an enum entry instead of the array on purpose: counted, not freed.
	if m := two.log.memory(t); m.BadFrees != 1 || m.Outstanding != 0 {
		t.Errorf("phase two memory: bad frees %d (want 1), outstanding %d (want 0)", m.BadFrees, m.Outstanding)
	}
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Contains(s, "\nP ") || strings.Contains(s, "\nF ") {
		t.Fatalf("after phase two the state file still holds objects:\n%s", s)
	}
}
