//go:build windows

package safefile

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// openChecked opens path with CreateFileW and checks what it opened (see the package
// doc).
//
// FILE_FLAG_OPEN_REPARSE_POINT (noFollow): "Normal reparse point processing will not
// occur; CreateFile will attempt to open the reparse point" — a symbolic link,
// junction or mount point planted at path is opened as itself, not followed, and the
// check below refuses it.
// https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew
//
// Share mode FILE_SHARE_READ|FILE_SHARE_WRITE|FILE_SHARE_DELETE: other processes may
// read, append and rename or replace the file while it is open (a reader of the marker
// must not make the writer's MoveFileEx fail; a log may be rotated while another
// process appends to it).
//
// The security attributes are nil: the handle is not inherited by child processes and
// a created file takes the ACL it inherits from the state directory.
func openChecked(path string, flag int, perm os.FileMode, noFollow bool) (*os.File, error) {
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var access uint32
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_RDONLY:
		access = windows.GENERIC_READ
	case os.O_WRONLY:
		access = windows.GENERIC_WRITE
	case os.O_RDWR:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
	}
	if flag&os.O_APPEND != 0 {
		// Append only: FILE_APPEND_DATA without FILE_WRITE_DATA makes every write go to
		// the end of the file (what os.OpenFile does for O_APPEND, too). FILE_READ_ATTRIBUTES
		// for the size check of the log's rotation.
		access &^= windows.GENERIC_WRITE
		access |= windows.FILE_APPEND_DATA | windows.FILE_WRITE_ATTRIBUTES | windows.FILE_WRITE_EA |
			windows.STANDARD_RIGHTS_WRITE | windows.SYNCHRONIZE
	}
	access |= windows.FILE_READ_ATTRIBUTES // GetFileInformationByHandle below
	var disposition uint32
	switch {
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		disposition = windows.CREATE_NEW // fails if anything, a link included, is there
	case flag&os.O_CREATE != 0:
		disposition = windows.OPEN_ALWAYS
	default:
		disposition = windows.OPEN_EXISTING
	}
	attrs := uint32(windows.FILE_ATTRIBUTE_NORMAL)
	if noFollow {
		attrs |= windows.FILE_FLAG_OPEN_REPARSE_POINT
	}
	h, err := windows.CreateFile(name, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, disposition, attrs, 0)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil {
			if merr := checkMode(path, fi.Mode()); merr != nil {
				return nil, merr // e.g. a directory: CreateFileW says ERROR_ACCESS_DENIED
			}
		}
		return nil, &os.PathError{Op: "CreateFileW", Path: path, Err: err}
	}
	if err := verify(h, path, noFollow); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return os.NewFile(uintptr(h), path), nil
}

// verify checks what CreateFileW opened: GetFileType must say FILE_TYPE_DISK (not a
// named pipe, console or other character device such as NUL), and
// GetFileInformationByHandle's dwFileAttributes must not have FILE_ATTRIBUTE_DIRECTORY
// nor, with noFollow, FILE_ATTRIBUTE_REPARSE_POINT, and nNumberOfLinks must be 1
// ("the number of links to this file"; an NTFS hard link adds one).
// https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getfiletype,
// https://learn.microsoft.com/windows/win32/api/fileapi/ns-fileapi-by_handle_file_information
func verify(h windows.Handle, path string, noFollow bool) error {
	t, err := windows.GetFileType(h)
	if err != nil {
		return fmt.Errorf("GetFileType %s: %w", path, err)
	}
	switch t {
	case windows.FILE_TYPE_DISK:
	case windows.FILE_TYPE_PIPE:
		return fmt.Errorf("%s: %w: it is a named pipe", path, ErrNotRegular)
	case windows.FILE_TYPE_CHAR:
		return fmt.Errorf("%s: %w: it is a character device", path, ErrNotRegular)
	default:
		return fmt.Errorf("%s: %w: GetFileType says %d", path, ErrNotRegular, t)
	}
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return fmt.Errorf("GetFileInformationByHandle %s: %w", path, err)
	}
	return checkInfo(path, fi.FileAttributes, fi.NumberOfLinks, noFollow)
}

// checkInfo is verify's decision on BY_HANDLE_FILE_INFORMATION's attributes and link
// count (separate so that tests can feed it values no test host can produce).
func checkInfo(path string, attrs, links uint32, noFollow bool) error {
	if attrs&windows.FILE_ATTRIBUTE_DIRECTORY != 0 {
		return fmt.Errorf("%s: %w: it is a directory", path, ErrNotRegular)
	}
	if !noFollow {
		return nil
	}
	if attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		return fmt.Errorf("%s: %w: it is a reparse point (a symbolic link, junction or mount point); remove it (wfpsandbox never writes through a link in its state directory)", path, ErrLink)
	}
	if links != 1 {
		return linkError(path, uint64(links))
	}
	return nil
}
