//go:build unix

package setup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/internal/testutil"
)

// The elevated setup writes only inside its state directory: links and special files
// planted there are refused, never written through, and never make setup hang.

// plantSymlink makes name in dir a symbolic link to a file outside holding "precious",
// and returns that file's path.
func plantSymlink(t *testing.T, dir, name string) string {
	t.Helper()
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return outside
}

func untouched(t *testing.T, outside string) {
	t.Helper()
	if b, err := os.ReadFile(outside); err != nil || string(b) != "precious" {
		t.Fatalf("the link's target %s now holds %q (%v): setup wrote outside its state directory", outside, b, err)
	}
}

func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	outside := plantSymlink(t, dir, LockFile)
	l, err := AcquireLock(context.Background(), dir, newTestStderrLogger())
	if err == nil {
		l.Release()
		t.Fatal("AcquireLock took a lock through a symbolic link")
	}
	if !errors.Is(err, safefile.ErrLink) || !strings.Contains(err.Error(), LockFile) {
		t.Errorf("error %v; want one naming %s as a link", err, LockFile)
	}
	untouched(t, outside)
}

func TestLockRefusesHardLink(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(dir, LockFile)); err != nil {
		t.Skip(err)
	}
	l, err := AcquireLock(context.Background(), dir, newTestStderrLogger())
	if err == nil {
		l.Release()
		t.Fatal("AcquireLock took a lock on a hard link")
	}
	untouched(t, outside)
}

func TestLogRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	outside := plantSymlink(t, dir, LogFile)
	logger, closer, warnings := NewLogger(LogOptions{StateDir: dir})
	logger.Info("hello")
	closer.Close()
	if len(warnings) == 0 || !errors.Is(warnings[0], safefile.ErrLink) {
		t.Errorf("warnings %v; want the refused log file", warnings)
	}
	untouched(t, outside)
}

// TestLogRotationNeverWritesThroughBackups: rotation renames the backups (a planted
// link is moved, not written through) and opens the new log without following links.
func TestLogRotationNeverWritesThroughBackups(t *testing.T) {
	dir := t.TempDir()
	outside := plantSymlink(t, dir, LogFile+".1")
	r, err := openRotatingFile(filepath.Join(dir, LogFile), 64, 2)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := r.Write([]byte(strings.Repeat("x", 40) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	untouched(t, outside)
}

func TestSetupWithSymlinkedLockWritesNothingOutside(t *testing.T) {
	h := newHost(t)
	outside := plantSymlink(t, h.dir, LockFile)
	_, err := Run(context.Background(), h.opts("sandbox"))
	if err == nil || !errors.Is(err, safefile.ErrLink) {
		t.Errorf("Run: %v; want the refused lock", err)
	}
	untouched(t, outside)
}

func TestConfigRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	zero := filepath.Join(dir, "zero.toml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxConfigSize)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Within(t, 10*time.Second, func() {
		for _, c := range []struct {
			path string
			want error
		}{{fifo, safefile.ErrNotRegular}, {zero, safefile.ErrLink}, {big, safefile.ErrTooLarge}, {dir, safefile.ErrNotRegular}} {
			_, err := LoadConfig(c.path)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("LoadConfig(%s): %v; want %v naming the file", c.path, err, c.want)
			}
		}
	})
}
