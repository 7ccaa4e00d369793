//go:build windows && wine

package setup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestElevateReturnsExitCode runs cmd.exe through Elevate (ShellExecuteEx "runas",
// SEE_MASK_NOCLOSEPROCESS, wait, GetExitCodeProcess) and checks the child's exit code
// comes back. Wine has no UAC, so it runs unattended there; on real Windows it would
// show a prompt, hence the wine tag:
//
//	GOOS=windows go test -c -tags wine -o setup.test.exe ./setup
//	wine setup.test.exe -test.run Elevate   (in a prefix with the ProcessPrng shim)
func TestElevateReturnsExitCode(t *testing.T) {
	cmd := filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	code, err := Elevate(context.Background(), cmd, []string{"/c", "exit 7"})
	if err != nil || code != 7 {
		t.Fatalf("Elevate(cmd /c exit 7) = %d, %v; want 7, nil", code, err)
	}
}
