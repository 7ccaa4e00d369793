//go:build !windows

package setup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

func defaultStateDir() (string, error) { return xdgStateDir() }

// createDefaultStateDir creates the default state directory (and its parents).
func createDefaultStateDir(dir string) error { return os.MkdirAll(dir, 0o755) }

// secureStateDir does nothing on Unix: the directory's mode and its parent's
// ownership already decide who may write there.
func secureStateDir(string) error { return nil }

// xdgStateDir implements the XDG base-directory rule for state: $XDG_STATE_HOME when
// it is an absolute path, else $HOME/.local/state.
func xdgStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wfpsandbox"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: %w (set XDG_STATE_HOME or pass a state directory)", err)
	}
	if home == "" {
		return "", errors.New("state directory: no home directory (set XDG_STATE_HOME or pass a state directory)")
	}
	return filepath.Join(home, ".local", "state", "wfpsandbox"), nil
}
