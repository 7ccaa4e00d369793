//go:build wine

package winetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupRefusesHardLinkedStateFiles runs the real wfpsandbox.exe with a hard link
// planted as setup.lock and as wfpsandbox.log in its state directory: setup must refuse
// them (GetFileInformationByHandle's nNumberOfLinks is 2) and leave the files they link
// to unchanged. Wine 8 shows Unix hard links as NTFS ones; it does not show a Unix
// symbolic link as a reparse point (it follows it), so the symlink case is tested by the
// Linux and Windows tests only.
func TestSetupRefusesHardLinkedStateFiles(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	for _, name := range []string{"setup.lock", "wfpsandbox.log"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "wfpsandbox-state") // the harness's WFPSANDBOX_STATE_DIR
			if err := os.MkdirAll(stateDir, 0o755); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(dir, "precious.txt")
			if err := os.WriteFile(outside, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(outside, filepath.Join(stateDir, name)); err != nil {
				t.Fatal(err)
			}
			r := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", sandboxSID, "--verbose")
			if b, _ := os.ReadFile(outside); string(b) != "precious" {
				t.Fatalf("the hard link's other name now holds %q: setup wrote through a link in its state directory\n%s", b, r.describe())
			}
			if !strings.Contains(r.stderr+r.stdout, "hard links") {
				t.Errorf("no refusal of the hard-linked %s reported:\n%s", name, r.describe())
			}
			if name == "setup.lock" && r.code == 0 {
				t.Errorf("setup succeeded without its lock:\n%s", r.describe())
			}
		})
	}
}
