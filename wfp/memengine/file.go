package memengine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// stateFile is the JSON file behind a file-backed BFE, and its lock file.
type stateFile struct {
	path string
}

func (f *stateFile) lockPath() string { return f.path + ".lock" }

// maxStateFileSize bounds what read reads: a filter takes about 1.3 KB of JSON, so
// 64 MiB holds some 50,000 of them (a host with 10,000 foreign filters is about 13 MB).
const maxStateFileSize = 64 << 20

// read loads the state; a missing file is an empty host. Only a regular file is read
// (a symbolic link to one is followed), at most maxStateFileSize bytes: a FIFO or a
// device given as --engine memory:PATH is refused instead of hanging or filling memory.
func (f *stateFile) read() (*state, error) {
	data, err := f.readRaw()
	if err != nil {
		return nil, err
	}
	return f.decode(data)
}

// readRaw returns the file's bytes, nil for a missing file.
func (f *stateFile) readRaw() ([]byte, error) {
	data, err := safefile.Read(f.path, maxStateFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("memengine: reading %s: %w", f.path, err)
	}
	if data == nil {
		data = []byte{} // an empty file is not a missing one
	}
	return data, nil
}

// decode decodes what readRaw returned.
func (f *stateFile) decode(data []byte) (*state, error) {
	if data == nil {
		return newState(), nil
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("memengine: %s: %w: %w (the file was left as it is; restore or remove it: a missing file is an empty host)", f.path, ErrCorrupt, err)
	}
	return st, nil
}

// write replaces the file atomically: a temporary file in the same directory, fsync,
// rename over the old file.
func (f *stateFile) write(st *state) error {
	data, err := encodeState(st)
	if err != nil {
		return fmt.Errorf("memengine: encoding state for %s: %w", f.path, err)
	}
	// A symbolic link the caller named as the host file is followed for writing as it
	// is for reading: the rename would otherwise replace the link with a file and
	// leave the file it pointed at behind, stale.
	path := linkTarget(f.path)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("memengine: writing %s: %w", f.path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("memengine: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("memengine: syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("memengine: closing %s: %w", tmp.Name(), err)
	}
	if err := rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("memengine: replacing %s: %w", path, err)
	}
	ok = true
	if runtime.GOOS != "windows" { // make the rename itself durable; directories cannot be synced on Windows
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// linkTarget follows path while it is a symbolic link (at most 40 times, as Linux's
// path resolution does) and returns the file it ends at, which need not exist yet.
func linkTarget(path string) string {
	for range 40 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path
		}
		target, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return path
}

// rename is os.Rename, retried for up to a second on Windows: there a reader that has the
// old file open (Go opens files without FILE_SHARE_DELETE) makes the replacing rename fail
// until it closes it. Readers do not take the lock file, so this can happen.
func rename(from, to string) error {
	err := os.Rename(from, to)
	for i := 0; err != nil && runtime.GOOS == "windows" && i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		err = os.Rename(from, to)
	}
	return err
}

// lock takes the exclusive lock on the lock file, polling until timeout. With create
// false a missing lock file is not created: l is nil (with no error), and the caller
// takes the lock only when it is about to write (a reader never creates a file).
func (f *stateFile) lock(timeout time.Duration, create bool) (l *fileLock, timedOut bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		l, busy, err := tryLock(f.lockPath(), create)
		if !create && errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("memengine: locking %s: %w", f.lockPath(), err)
		}
		if !busy {
			return l, false, nil
		}
		if time.Now().After(deadline) {
			return nil, true, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkDir verifies that the state file's directory exists, before anything is read or
// changed. It writes nothing: a read-only host (a read-only directory) can be read, and
// a directory where the file cannot be written fails at the first write, naming the file.
func checkDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("memengine: state file %s: directory %s: %w", path, dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("memengine: state file %s: %s is not a directory", path, dir)
	}
	return nil
}

// OpenFileBFE returns a BFE whose committed state lives in the JSON file at path (see the
// package doc). A missing file is an empty host; the directory must exist. Opening and
// reading write nothing (no lock file either); the first write creates what it needs.
// A corrupt, truncated or newer-version file is an error naming the file, and the file is
// left as it is.
func OpenFileBFE(path string) (*BFE, error) {
	if err := checkDir(path); err != nil {
		return nil, err
	}
	f := &stateFile{path: path}
	if _, err := f.read(); err != nil {
		return nil, err
	}
	b := NewBFE()
	b.file = f
	return b, nil
}

// OpenFile opens a session with the file-backed BFE at path (OpenFileBFE, then Open).
func OpenFile(path string) (*Session, error) {
	b, err := OpenFileBFE(path)
	if err != nil {
		return nil, err
	}
	return b.Open(), nil
}

// RestartFile simulates a BFE restart (or a reboot) of the host stored at path: the
// non-persistent objects are removed from the file. It takes the file lock, waiting up to
// DefaultTxnWaitTimeout. A missing file stays missing; a corrupt one is left unchanged.
func RestartFile(path string) error {
	if err := checkDir(path); err != nil {
		return err
	}
	f := &stateFile{path: path}
	l, timedOut, err := f.lock(DefaultTxnWaitTimeout, true)
	if err != nil {
		return err
	}
	if timedOut {
		return fmt.Errorf("memengine: restarting %s: another process held %s for %v", path, f.lockPath(), DefaultTxnWaitTimeout)
	}
	defer l.unlock()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	st, err := f.read()
	if err != nil {
		return err
	}
	return f.write(st.persistentOnly())
}
