//go:build !windows

package setup

import (
	"path/filepath"
	"testing"
)

func TestXDGStateDir(t *testing.T) {
	t.Setenv(StateDirEnv, "")
	t.Setenv("XDG_STATE_HOME", "/var/xdg")
	if d, _ := DefaultStateDir(); d != "/var/xdg/wfpsandbox" {
		t.Errorf("XDG_STATE_HOME: %q", d)
	}
	t.Setenv("XDG_STATE_HOME", "not/absolute") // ignored, per the XDG spec
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultStateDir(); d != filepath.Join("/home/u", ".local", "state", "wfpsandbox") {
		t.Errorf("HOME fallback: %q", d)
	}
}
