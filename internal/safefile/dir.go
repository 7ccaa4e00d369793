package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MkdirNoFollow makes sure path is a real directory inside the state directory: it is
// created (one level, with perm) when missing, and refused (ErrLink, ErrNotRegular)
// when it exists as a symbolic link, a Windows reparse point (junction, mount point)
// or anything but a directory — files renamed into a linked directory would land
// wherever it points. It does not follow path, and it does not create parents.
func MkdirNoFollow(path string, perm os.FileMode) error {
	err := os.Mkdir(path, perm)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	return CheckDirNoFollow(path)
}

// CheckDirNoFollow returns nil when path is a real directory, an error wrapping
// fs.ErrNotExist when nothing is there, and ErrLink or ErrNotRegular when it is a
// symbolic link, a Windows reparse point or anything but a directory. It does not
// follow path. Readers and removers of files in a subdirectory of the state directory
// call it first: a file removed or renamed through a planted link to a directory is
// removed or renamed wherever the link points, outside the state directory.
func CheckDirNoFollow(path string) error {
	fi, lerr := os.Lstat(path)
	if lerr != nil {
		return lerr
	}
	m := fi.Mode()
	switch {
	case m&fs.ModeSymlink != 0, m&fs.ModeIrregular != 0 && m.IsDir():
		return fmt.Errorf("%s: %w: it is a symbolic link or reparse point, not a directory; remove it (wfpsandbox never writes through a link in its state directory)", path, ErrLink)
	case m&fs.ModeIrregular != 0:
		return fmt.Errorf("%s: %w: it is a reparse point or other irregular file, not a directory; remove it", path, ErrLink)
	case !m.IsDir():
		return fmt.Errorf("%s: %w: it is not a directory; remove it", path, ErrNotRegular)
	}
	return nil
}
