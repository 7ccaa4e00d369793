//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows

package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TryLockFile does not wait: a second holder gets ErrLocked naming the first's PID, and
// the lock is free again once released.
func TestTryLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := TryLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryLockFile(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second TryLockFile = %v, want ErrLocked with our pid", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryLockFile(path)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

// A link planted as the lock file is refused, not followed.
func TestTryLockFileRefusesALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "x.lock")); err != nil {
		t.Skipf("symlink: %v", err)
	}
	if _, err := TryLockFile(filepath.Join(dir, "x.lock")); err == nil {
		t.Fatal("TryLockFile followed a link")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
}
