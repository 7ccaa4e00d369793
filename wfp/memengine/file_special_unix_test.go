//go:build unix

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

// TestOpenFileRefusesSpecialFiles: --engine memory:PATH naming a FIFO used to block
// forever, and a link to /dev/zero to read until memory ran out; a directory or an
// oversized file is refused too, naming the file.
func TestOpenFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]error{}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		cases[fifo] = safefile.ErrNotRegular
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		zero := filepath.Join(dir, "zero.json")
		if err := os.Symlink("/dev/zero", zero); err != nil {
			t.Fatal(err)
		}
		cases[zero] = safefile.ErrNotRegular
	}
	sub := filepath.Join(dir, "sub.json")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	cases[sub] = safefile.ErrNotRegular
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	cases[big] = safefile.ErrTooLarge

	done := make(chan struct{})
	go func() {
		defer close(done)
		for path, want := range cases {
			s, err := memengine.OpenFile(path)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenFile(%s): %v; want %v naming the file", path, err, want)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still blocked after 10s")
	}
}
