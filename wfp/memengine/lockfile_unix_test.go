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
	"github.com/wfpsandbox/wfpsandbox/wfp"
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

// A host file named through a symbolic link is written where the link points, as it is
// read from there: the write used to replace the link with a file, leaving the file it
// pointed at stale.
func TestHostFileLinkIsWrittenThrough(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "host.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s, err := memengine.OpenFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProvider(&wfp.Provider{Key: wfp.MustParseGUID("11111111-2222-3333-4444-555555555555"), Name: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitTransaction(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	if b, err := os.ReadFile(real); err != nil || !strings.Contains(string(b), "11111111-2222-3333-4444-555555555555") {
		t.Errorf("the linked file does not hold the commit: %v", err)
	}
}
