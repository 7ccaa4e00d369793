// Package safefile opens the files wfpsandbox writes in its state directory, and reads
// every input file, so that neither a planted link nor a special file can redirect,
// hang or exhaust an elevated setup.
//
// Two kinds of opening:
//
//   - Files in the state directory (the setup lock, the log, the marker, config.toml,
//     temporary files): OpenFile, CreateTemp and ReadNoFollow. The last path component
//     is never followed — a symbolic link, a Windows reparse point (symlink, junction,
//     mount point) or a hard link planted there is refused — and what was opened is
//     checked before it is used: a regular file, with one link, and (Unix) the same
//     file as an lstat of the path.
//   - Input files the caller names (a policy file, a simulated host file): Read. A
//     symbolic link is followed (it is the caller's own choice), but only a regular file
//     is read.
//
// Every read is bounded: at most limit bytes are read, and a longer file is an error
// (ErrTooLarge) naming the file and the limit. A size check with Stat would not do: a
// FIFO or /dev/zero reports size 0 and never ends. On Unix the file is opened with
// O_NONBLOCK, so that opening a FIFO returns at once instead of waiting for a writer,
// and then fstat decides whether it is read at all.
//
// References: POSIX open(2) — O_NOFOLLOW ("if path names a symbolic link, fail and set
// errno to [ELOOP]"), O_NONBLOCK (an open of a FIFO for reading "shall return without
// delay"), O_EXCL; fstat(2)/lstat(2) st_mode, st_nlink, st_dev/st_ino
// (https://pubs.opengroup.org/onlinepubs/9799919799/functions/open.html). Windows:
// CreateFileW's FILE_FLAG_OPEN_REPARSE_POINT ("normal reparse point processing will not
// occur; CreateFile will attempt to open the reparse point"),
// https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew, and
// GetFileInformationByHandle's BY_HANDLE_FILE_INFORMATION (dwFileAttributes,
// nNumberOfLinks), https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getfileinformationbyhandle.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Errors a refused file wraps (test with errors.Is).
var (
	// ErrNotRegular: the path names a FIFO, a device, a socket, a directory or another
	// object that is not a regular file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrLink: the path is a symbolic link or a reparse point, or the file has more
	// than one hard link, or the path changed between the checks and the open.
	ErrLink = errors.New("link refused")
	// ErrTooLarge: the file holds more than the read's limit.
	ErrTooLarge = errors.New("too large")
)

// Read reads the regular file at path (following a symbolic link), at most limit bytes.
// A file longer than limit is an error wrapping ErrTooLarge; anything but a regular file
// is an error wrapping ErrNotRegular, refused before a byte is read. A missing file is an
// error wrapping fs.ErrNotExist.
func Read(path string, limit int64) ([]byte, error) {
	return read(path, limit, false)
}

// ReadNoFollow is Read for a file in the state directory: in addition, a symbolic link,
// a reparse point or a file with more than one hard link is refused (ErrLink).
func ReadNoFollow(path string, limit int64) ([]byte, error) {
	return read(path, limit, true)
}

// removeHint adds what to do to the refusal of a special file in the state directory
// (noFollow): wfpsandbox creates only regular files there, so whatever else sits at
// one of its names was planted and is in the way. Input files the caller names (a
// policy file, the simulated host) get no such advice.
func removeHint(err error, noFollow bool) error {
	if noFollow && errors.Is(err, ErrNotRegular) {
		return fmt.Errorf("%w; remove it (wfpsandbox keeps only regular files there)", err)
	}
	return err
}

func read(path string, limit int64, noFollow bool) (data []byte, err error) {
	defer func() { err = removeHint(err, noFollow) }()
	if limit < 0 {
		return nil, fmt.Errorf("read %s: negative limit %d", path, limit)
	}
	if err := precheck(path, noFollow); err != nil {
		return nil, err
	}
	f, err := openChecked(path, os.O_RDONLY, 0, noFollow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes (%s), the limit for this file", path, ErrTooLarge, limit, human(limit))
	}
	return data, nil
}

// OpenFile is os.OpenFile for a file in the state directory: the last path component
// is never followed (a symbolic link or reparse point is refused, even a dangling one),
// and the opened file must be a regular file with exactly one link, the very file the
// path names. flag may combine os.O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_CREATE and
// O_EXCL; O_TRUNC is refused (truncate through the checked *os.File instead, so that
// nothing is truncated before the checks).
func OpenFile(path string, flag int, perm os.FileMode) (f *os.File, err error) {
	defer func() { err = removeHint(err, true) }()
	if flag&os.O_TRUNC != 0 {
		return nil, fmt.Errorf("open %s: safefile.OpenFile does not take O_TRUNC; truncate the opened file", path)
	}
	if err := precheck(path, true); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return openChecked(path, flag, perm, true)
}

// precheck refuses, before anything is opened, a path that already names something
// that is not a regular file: opening a device can have effects of its own. The check
// after the open (verify) is the one that counts; this one only avoids the open.
func precheck(path string, noFollow bool) error {
	stat := os.Stat
	if noFollow {
		stat = os.Lstat
	}
	fi, err := stat(path)
	if err != nil {
		return err // fs.ErrNotExist and the like, as *fs.PathError
	}
	return checkMode(path, fi.Mode())
}

// CheckMode returns nil when m is a regular file's mode, else the refusal naming path
// and what it is (wrapping ErrNotRegular or ErrLink), for files opened elsewhere.
func CheckMode(path string, m fs.FileMode) error { return checkMode(path, m) }

// checkMode turns a file mode into the refusal for it, or nil for a regular file.
func checkMode(path string, m fs.FileMode) error {
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		return fmt.Errorf("%s: %w: it is a symbolic link or reparse point; remove it (wfpsandbox never writes through a link in its state directory)", path, ErrLink)
	case m.IsDir():
		return fmt.Errorf("%s: %w: it is a directory", path, ErrNotRegular)
	case m&fs.ModeNamedPipe != 0:
		return fmt.Errorf("%s: %w: it is a FIFO (named pipe)", path, ErrNotRegular)
	case m&fs.ModeSocket != 0:
		return fmt.Errorf("%s: %w: it is a socket", path, ErrNotRegular)
	case m&fs.ModeDevice != 0:
		return fmt.Errorf("%s: %w: it is a device", path, ErrNotRegular)
	}
	return fmt.Errorf("%s: %w (mode %s)", path, ErrNotRegular, m)
}

func linkError(path string, links uint64) error {
	return fmt.Errorf("%s: %w: the file has %d hard links; remove it (wfpsandbox never writes a file that is linked elsewhere)", path, ErrLink, links)
}

func human(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
