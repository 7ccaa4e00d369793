package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CreateTemp creates a new file in dir for reading and writing, named pattern with the
// last "*" replaced by a random string (appended when there is none), like os.CreateTemp,
// but opened through OpenFile with O_CREATE|O_EXCL: it fails rather than open anything
// that is already there, a link included (POSIX O_EXCL: "if O_CREAT and O_EXCL are set
// and path names a symbolic link, open() shall fail with [EEXIST]"; Windows CREATE_NEW).
// The caller removes the file when done.
func CreateTemp(dir, pattern string) (*os.File, error) {
	if strings.ContainsRune(pattern, os.PathSeparator) || strings.ContainsRune(pattern, '/') {
		return nil, fmt.Errorf("create temporary file in %s: pattern %q contains a path separator", dir, pattern)
	}
	prefix, suffix := pattern, ""
	if i := strings.LastIndex(pattern, "*"); i >= 0 {
		prefix, suffix = pattern[:i], pattern[i+1:]
	}
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36)+suffix)
		f, err := OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		return f, err
	}
}
