package setup

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// ErrLocked is what TryLockFile returns (wrapped, naming the holder's PID when the file
// holds one) when another process holds the lock.
var ErrLocked = errLocked

// TryLockFile takes an exclusive OS lock on the file at path (created when missing,
// never through a link: safefile.OpenFile) without waiting — the same lock as the setup
// lock's (flock on Unix, LockFileEx on Windows), so the OS drops it when the holder
// exits, also when it is killed. The file holds the holder's PID. It fails with
// ErrLocked when another process holds it.
func TryLockFile(path string) (*Lock, error) {
	f, err := safefile.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errLocked) {
			if pid := readPID(f); pid > 0 {
				return nil, fmt.Errorf("%s: %w (pid %d)", path, ErrLocked, pid)
			}
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// PrepareStateDir makes sure dir exists as setup makes it: the platform's default
// directory is created (on Windows with its protected DACL and owner, by an elevated
// administrator only) and checked (on Windows: owned by Administrators or SYSTEM, not a
// link; its protected DACL set), any other directory is created with its parents and
// keeps its ACL. For other commands that keep files there (the selftest's crash record).
func PrepareStateDir(dir string) error {
	if err := makeStateDir(dir); err != nil {
		return err
	}
	if isDefaultStateDir(dir) {
		return secureStateDir(dir)
	}
	return nil
}
