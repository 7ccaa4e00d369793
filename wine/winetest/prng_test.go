//go:build wine

package winetest

import (
	"path/filepath"
	"strings"
	"testing"
)

// Go >= 1.22 Windows programs need bcryptprimitives.dll!ProcessPrng at start; Wine 8 has
// no such DLL. With the shim a Go program runs; with the shim disabled it does not.
func TestProcessPrngShim(t *testing.T) {
	exe := filepath.Join(h.bin, "hello.exe")
	if err := h.goBuild("./wine/winetest/testdata/hello", exe); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	with := h.run(t, runOpts{dir: dir, name: "with"}, exe)
	if with.code != 0 || !strings.Contains(with.stdout, "hello from windows/amd64 under wine") {
		t.Fatalf("with the shim: %s", with.describe())
	}

	// "name=" (empty load order) disables a DLL in WINEDLLOVERRIDES.
	without := h.run(t, runOpts{dir: dir, name: "without", overrides: "bcryptprimitives="}, exe)
	if without.code == 0 || !strings.Contains(without.stderr, "bcryptprimitives.dll not found") {
		t.Fatalf("without the shim the Go runtime should stop with \"bcryptprimitives.dll not found\"; got %s", without.describe())
	}
}
