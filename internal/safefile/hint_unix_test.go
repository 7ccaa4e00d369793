//go:build unix

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A special file at one of the state directory's names is refused with what to do
// (remove it: wfpsandbox creates only regular files there); an input file the caller
// names is refused without that advice. The lock's refusal used to stop at "it is a
// FIFO (named pipe)".
func TestStateFileRefusalSaysRemoveIt(t *testing.T) {
	d := t.TempDir()
	fifo := filepath.Join(d, "setup.lock")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d, "config.toml")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, dir} {
		if f, err := OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "remove it") {
			if f != nil {
				f.Close()
			}
			t.Errorf("OpenFile(%s): %v; want ErrNotRegular saying remove it", p, err)
		}
		if _, err := ReadNoFollow(p, 10); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("ReadNoFollow(%s): %v; want ErrNotRegular saying remove it", p, err)
		}
		if _, err := Read(p, 10); !errors.Is(err, ErrNotRegular) || strings.Contains(err.Error(), "remove it") {
			t.Errorf("Read(%s): %v; want ErrNotRegular without advice to remove an input file", p, err)
		}
	}
}
