//go:build windows && wfpintegration

package integration

import (
	"os"
	"testing"

	"golang.org/x/sys/windows"
)

// requireElevated skips the test when the process is not elevated, or fails it when the
// environment variable CI is set (a CI runner that is not elevated is a broken setup,
// not a reason to report success).
func requireElevated(t *testing.T) {
	t.Helper()
	if windows.GetCurrentProcessToken().IsElevated() {
		return
	}
	const why = "the live-BFE tests add persistent WFP objects, create a local account and restart services: they need an elevated process"
	if os.Getenv("CI") != "" {
		t.Fatal(why + "; CI is set, so this is a failure")
	}
	t.Skip(why + " (set CI to make this a failure)")
}
