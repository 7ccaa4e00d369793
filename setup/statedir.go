package setup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// File names in the state directory.
const (
	LockFile   = "setup.lock"     // the lock concurrent runs take turns on
	LogFile    = "wfpsandbox.log" // JSON-lines log, rotated to wfpsandbox.log.1
	ConfigFile = "config.toml"    // optional configuration (analytics = true)
)

// ErrStateDirOwner: on Windows, the default state directory exists but is not owned by
// Administrators or SYSTEM, or is not a plain directory (a junction, a symbolic link);
// setup refuses to use it. Never returned on other systems.
var ErrStateDirOwner = errors.New("state directory not owned by Administrators or SYSTEM")

// StateDirEnv overrides the default state directory when it holds an absolute path
// (tests, portable installs); the CLI's --state-dir overrides both.
const StateDirEnv = "WFPSANDBOX_STATE_DIR"

// DefaultStateDir returns the state directory: $WFPSANDBOX_STATE_DIR when set to an
// absolute path, else %ProgramData%\wfpsandbox on Windows and
// $XDG_STATE_HOME/wfpsandbox (or ~/.local/state/wfpsandbox) elsewhere.
func DefaultStateDir() (string, error) {
	if d := os.Getenv(StateDirEnv); d != "" {
		if !filepath.IsAbs(d) {
			return "", fmt.Errorf("%s=%q: want an absolute path", StateDirEnv, d)
		}
		return d, nil
	}
	return defaultStateDir()
}

// makeStateDir creates dir (and its parents) if needed. The platform's default
// directory is created by createDefaultStateDir: on Windows with its protected DACL
// and owner from the start, and only by an elevated administrator.
func makeStateDir(dir string) error {
	if isDefaultStateDir(dir) {
		if err := createDefaultStateDir(dir); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// isDefaultStateDir reports whether dir is the platform's default state directory
// (not an override from --state-dir or WFPSANDBOX_STATE_DIR).
func isDefaultStateDir(dir string) bool {
	def, err := defaultStateDir()
	if err != nil {
		return false
	}
	a, errA := filepath.Abs(dir)
	b, errB := filepath.Abs(def)
	if errA != nil || errB != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}
