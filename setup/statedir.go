package setup

import (
	"fmt"
	"os"
)

// File names in the state directory.
const (
	MarkerFile = "setup-marker.json" // the marker
	LockFile   = "setup.lock"        // the lock concurrent runs take turns on
	LogFile    = "wfpsandbox.log"    // JSON-lines log, rotated to wfpsandbox.log.1
	ConfigFile = "config.toml"       // optional configuration (analytics = true)
)

// DefaultStateDir returns the state directory: %ProgramData%\wfpsandbox on Windows,
// $XDG_STATE_HOME/wfpsandbox (or ~/.local/state/wfpsandbox) elsewhere.
func DefaultStateDir() (string, error) {
	return defaultStateDir()
}

// makeStateDir creates dir (and its parents) if needed.
func makeStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}
