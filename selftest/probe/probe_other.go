//go:build !windows

// Package probe is the selftest's probe helper (the hidden `wfpsandbox selftest-probe`
// subcommand). It makes network attempts in Windows token shapes, so off Windows it
// only says so.
package probe

import (
	"fmt"
	"io"
)

// Main reports that the probe helper runs only on Windows and returns 2.
func Main(_, _ []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "wfpsandbox selftest-probe: the probe helper runs only on Windows")
	return 2
}
