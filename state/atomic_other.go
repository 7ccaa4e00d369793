//go:build !windows

package state

import "os"

func renameReplace(from, to string) error { return os.Rename(from, to) }

// syncDir fsyncs a directory so a rename in it is durable. Errors are ignored: some
// file systems cannot fsync directories, and the rename has happened either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func isChmodUnsupported(error) bool { return false }
