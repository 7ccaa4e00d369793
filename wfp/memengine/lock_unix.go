//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package memengine

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
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
	// O_NONBLOCK: a FIFO planted as the lock file would otherwise block the open
	// until a writer came (every verify, ensure and setup hung on it); then only a
	// regular file is locked. (open(2): "O_NONBLOCK ... neither the open() nor any
	// subsequent I/O operations on the file descriptor ... will cause the calling
	// process to wait"; flock is unaffected.)
	f, err := os.OpenFile(path, flags|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, false, err
	}
	fi, err := f.Stat()
	if err == nil {
		if err = safefile.CheckMode(path, fi.Mode()); err != nil {
			err = fmt.Errorf("%w; remove it (a missing lock file is created)", err)
		}
	}
	if err != nil {
		f.Close()
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
