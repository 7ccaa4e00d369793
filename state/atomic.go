package state

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// writeFileAtomic replaces path with data: a temporary file in the same directory is
// written and fsynced, renamed over path (atomic on the same volume), and the
// directory is fsynced so the rename itself survives a crash. The temporary file is
// created with safefile.CreateTemp (O_EXCL, no links followed); a link at path itself is
// replaced by the rename, never written through.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := safefile.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil && !isChmodUnsupported(err) {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = renameReplace(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}
