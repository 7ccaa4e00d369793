package setup

import (
	"fmt"
	"os"
	"sync"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// Log file rotation defaults.
const (
	DefaultLogMaxBytes = 1 << 20 // rotate when the log file would exceed 1 MiB
	DefaultLogBackups  = 3       // keep wfpsandbox.log.1 … .3
)

// rotatingFile is an append-only log file that, before a write would take it past
// maxBytes, renames path to path.1 (path.1 to path.2, …, dropping the oldest) and
// starts a new file (opened without following links: see safefile.OpenFile). The size
// is re-read from the file before each rotation decision,
// so several processes appending to it keep roughly to the cap.
type rotatingFile struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	backups  int
	f        *os.File
}

// openRotatingFile opens (creating) path for appending.
func openRotatingFile(path string, maxBytes int64, backups int) (*rotatingFile, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultLogMaxBytes
	}
	if backups < 1 {
		backups = 1
	}
	r := &rotatingFile{path: path, maxBytes: maxBytes, backups: backups}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := safefile.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	r.f = f
	return nil
}

// Write appends p (one log record), rotating first if needed.
func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if fi, err := r.f.Stat(); err == nil && fi.Size() > 0 && fi.Size()+int64(len(p)) > r.maxBytes {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	return r.f.Write(p)
}

// rotate shifts the backups and reopens path. A failed rename keeps writing to the
// current file rather than losing records. The backups are only ever renamed, never
// opened: a link planted as wfpsandbox.log.N is moved or replaced, not written through;
// the log itself is opened with safefile.OpenFile.
func (r *rotatingFile) rotate() error {
	r.f.Close()
	r.f = nil
	for i := r.backups - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
	}
	_ = os.Rename(r.path, r.path+".1")
	return r.open()
}

// Close closes the file.
func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
