//go:build unix

package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/internal/testutil"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

// TestLoadFileRefusesSpecialFiles: a FIFO used to block LoadFile forever and /dev/zero
// to exhaust memory (Stat reports size 0 for both); a directory or an oversized file
// is refused too, each with the file's name.
func TestLoadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]error{}
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		cases[fifo] = safefile.ErrNotRegular
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases["/dev/zero"] = safefile.ErrNotRegular
		link := filepath.Join(dir, "zero.toml")
		if err := os.Symlink("/dev/zero", link); err != nil {
			t.Fatal(err)
		}
		cases[link] = safefile.ErrNotRegular
	}
	cases[dir] = safefile.ErrNotRegular
	big := filepath.Join(dir, "big.toml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4 << 30); err != nil { // sparse: Read must stop at the limit
		t.Fatal(err)
	}
	f.Close()
	cases[big] = safefile.ErrTooLarge
	testutil.Within(t, 10*time.Second, func() {
		for path, want := range cases {
			_, err := policy.LoadFile(path)
			if !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadFile(%s): %v; want %v naming the file", path, err, want)
			}
		}
	})
	if _, err := policy.LoadFile(big); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("big file: %v; want the 1 MiB limit named", err)
	}
}
