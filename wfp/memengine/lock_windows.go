//go:build windows

package memengine

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// fileLock is an exclusive LockFileEx lock on the first byte of an open lock file.
type fileLock struct{ f *os.File }

// tryLock opens (with create, creating it if needed; without, read-only: an error
// wrapping fs.ErrNotExist when it is missing) and locks path without waiting; busy reports that
// another handle holds the lock.
func tryLock(path string, create bool) (l *fileLock, busy bool, err error) {
	// LockFileEx: "The handle must have been created with either the GENERIC_READ or
	// GENERIC_WRITE access right" (learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-lockfileex);
	// os.O_RDONLY opens with GENERIC_READ.
	flags := os.O_RDONLY
	if create {
		flags = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, false, err
	}
	ol := new(windows.Overlapped)
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, true, nil
		}
		return nil, false, err
	}
	return &fileLock{f: f}, false, nil
}

func (l *fileLock) unlock() {
	windows.UnlockFileEx(windows.Handle(l.f.Fd()), 0, 1, 0, new(windows.Overlapped))
	l.f.Close()
}
