//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package memengine

import (
	"errors"
	"os"
	"syscall"
)

// fileLock is an exclusive flock(2) on an open lock file.
type fileLock struct{ f *os.File }

// tryLock opens (with create, creating it if needed; without, read-only: an error
// wrapping fs.ErrNotExist when it is missing) and locks path without waiting; busy reports that
// another open file description holds the lock.
func tryLock(path string, create bool) (l *fileLock, busy bool, err error) {
	flags := os.O_RDONLY // flock(2): "A shared or exclusive lock can be placed on a file regardless of the mode in which the file was opened"
	if create {
		flags = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, err
	}
	return &fileLock{f: f}, false, nil
}

func (l *fileLock) unlock() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
