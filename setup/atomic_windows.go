//go:build windows

package setup

import (
	"golang.org/x/sys/windows"
)

// renameReplace is MoveFileEx with MOVEFILE_REPLACE_EXISTING|MOVEFILE_WRITE_THROUGH:
// the call returns once the rename is on disk, which is Windows' counterpart of
// fsyncing the directory.
func renameReplace(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return err
	}
	return windows.MoveFileEx(f, t, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
}

// syncDir does nothing on Windows: renameReplace writes through.
func syncDir(string) {}

// isChmodUnsupported: on Windows, Chmod only toggles the read-only attribute and
// cannot fail in a way that matters for the marker.
func isChmodUnsupported(error) bool { return true }
