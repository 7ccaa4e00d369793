//go:build windows

package state

import (
	"errors"
	"time"

	"golang.org/x/sys/windows"
)

// renameRetryFor bounds how long renameReplace retries a rename the target's readers
// block.
const renameRetryFor = 2 * time.Second

// renameReplace is MoveFileEx with MOVEFILE_REPLACE_EXISTING|MOVEFILE_WRITE_THROUGH:
// the call returns once the rename is on disk, which is Windows' counterpart of
// fsyncing the directory.
//
// Replacing a file fails with ERROR_ACCESS_DENIED or ERROR_SHARING_VIOLATION while
// another process has it open without FILE_SHARE_DELETE — which is how Go (os.Open)
// opens files. wfpsandbox itself reads records through internal/safefile, which
// shares delete access, but an older wfpsandbox's ensure or a virus scanner can still
// make the rename fail for a moment. Those errors are retried for up to
// renameRetryFor.
func renameReplace(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(renameRetryFor)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err = windows.MoveFileEx(f, t, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
		if err == nil || !(errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)) ||
			time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
	}
}

// syncDir does nothing on Windows: renameReplace writes through.
func syncDir(string) {}

// isChmodUnsupported: on Windows, Chmod only toggles the read-only attribute and
// cannot fail in a way that matters for a record.
func isChmodUnsupported(error) bool { return true }
