//go:build !unix && !windows

package safefile

import (
	"fmt"
	"os"
)

// openChecked, on systems with neither O_NOFOLLOW nor CreateFileW: the path is checked
// with Lstat before and after the open and must name the same regular file. A link
// swapped in between the two checks and swapped back is not detected here.
func openChecked(path string, flag int, perm os.FileMode, noFollow bool) (*os.File, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkMode(path, fi.Mode())
	}
	if err == nil && noFollow {
		var lfi os.FileInfo
		if lfi, err = os.Lstat(path); err == nil {
			if err = checkMode(path, lfi.Mode()); err == nil && !os.SameFile(fi, lfi) {
				err = fmt.Errorf("%s: %w: the path was replaced while it was being opened", path, ErrLink)
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
