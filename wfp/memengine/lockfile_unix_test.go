//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package memengine_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// A FIFO or a directory planted as PATH.lock is refused, naming it: every transaction
// (verify's and ensure's read-only ones, setup's) used to block forever opening a
// FIFO lock file.
func TestLockFileMustBeRegular(t *testing.T) {
	for _, kind := range []string{"fifo", "dir"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "host.json")
			lock := path + ".lock"
			var err error
			if kind == "fifo" {
				err = syscall.Mkfifo(lock, 0o644)
			} else {
				err = os.Mkdir(lock, 0o755)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := memengine.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Not deferred: a transaction blocked in open(2) holds the session, and
			// Close would wait for it.
			for name, begin := range map[string]func() error{"read-only": s.BeginReadTransaction, "read-write": s.BeginTransaction} {
				done := make(chan error, 1)
				go func() { done <- begin() }()
				select {
				case err := <-done:
					if err == nil {
						s.AbortTransaction()
					}
					if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), lock) {
						t.Errorf("%s transaction: %v; want ErrNotRegular naming %s", name, err, lock)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s transaction still blocked on the %s lock file after 5s", name, kind)
				}
			}
			s.Close()
		})
	}
}
