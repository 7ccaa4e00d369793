//go:build unix

package safefile

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openChecked opens path and checks what it opened (see the package doc).
//
// O_NONBLOCK: POSIX open(2) — for a FIFO opened O_RDONLY it "shall return without
// delay", for O_WRONLY it fails with ENXIO when no process has it open for reading,
// instead of blocking either way; for a regular file it has no effect. O_NOFOLLOW: "if
// path names a symbolic link, fail and set errno to [ELOOP]" (FreeBSD returns EMLINK,
// NetBSD EFTYPE: the error is reported as the link it is by the lstat below).
func openChecked(path string, flag int, perm os.FileMode, noFollow bool) (*os.File, error) {
	flag |= syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if noFollow {
		flag |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		if noFollow {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, checkMode(path, fi.Mode())
			}
		}
		return nil, err
	}
	if err := verify(f, path, noFollow); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// verify checks the opened file with fstat: a regular file; with noFollow also exactly
// one link (st_nlink) and the same st_dev/st_ino as an lstat of path, so that a path
// swapped for another file between the open and now is refused too.
func verify(f *os.File, path string, noFollow bool) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("fstat %s: %w", path, err)
	}
	if err := checkMode(path, fi.Mode()); err != nil {
		return err
	}
	if !noFollow {
		return nil
	}
	lfi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("lstat %s: %w", path, err)
	}
	if !os.SameFile(fi, lfi) {
		return fmt.Errorf("%s: %w: the path was replaced while it was being opened", path, ErrLink)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(st.Nlink) != 1 {
		return linkError(path, uint64(st.Nlink))
	}
	return nil
}
