//go:build unix

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/testutil"
)

func TestSymlinkRefused(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "target")
	write(t, outside, "precious")
	dir := t.TempDir()
	p := filepath.Join(dir, "setup.lock")
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []int{os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_APPEND | os.O_CREATE, os.O_RDONLY} {
		f, err := OpenFile(p, flag, 0o644)
		if !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), "symbolic link") {
			if f != nil {
				f.Close()
			}
			t.Fatalf("OpenFile(symlink, %#x): %v; want ErrLink", flag, err)
		}
	}
	if _, err := ReadNoFollow(p, 100); !errors.Is(err, ErrLink) {
		t.Fatalf("ReadNoFollow(symlink): %v; want ErrLink", err)
	}
	if b, err := Read(p, 100); err != nil || string(b) != "precious" {
		t.Fatalf("Read follows a symlink to a regular file: %q, %v", b, err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Fatalf("target changed to %q", b)
	}
	// A dangling link: O_CREATE must not create its target.
	ghost := filepath.Join(t.TempDir(), "ghost")
	q := filepath.Join(dir, "wfpsandbox.log")
	if err := os.Symlink(ghost, q); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(q, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); !errors.Is(err, ErrLink) {
		t.Fatalf("OpenFile(dangling symlink): %v; want ErrLink", err)
	}
	if _, err := os.Lstat(ghost); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dangling link's target was created: %v", err)
	}
}

// TestVerifyAfterOpen drives the check made after the open (the pre-check is skipped
// here: verify alone must refuse a link, a FIFO and a replaced path).
func TestVerifyAfterOpen(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "f")
	write(t, p, "x")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := verify(f, p, true); err != nil {
		t.Fatalf("plain file: %v", err)
	}
	// The path now names another file than the one opened.
	os.Remove(p)
	write(t, p, "y")
	if err := verify(f, p, true); !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("replaced path: %v; want ErrLink (replaced)", err)
	}
	if err := verify(f, p, false); err != nil {
		t.Fatalf("replaced path, following: %v", err)
	}
	q := filepath.Join(d, "g")
	if err := os.Link(p, q); err != nil {
		t.Skip(err)
	}
	g, err := os.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := verify(g, q, true); !errors.Is(err, ErrLink) {
		t.Fatalf("hard link: %v; want ErrLink", err)
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

// TestFIFONeverBlocks: a FIFO in place of an input or state file is refused at once,
// whichever way it is opened; without O_NONBLOCK each of these opens waits for a peer.
func TestFIFONeverBlocks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "setup-marker.json")
	mkfifo(t, p)
	testutil.Within(t, 5*time.Second, func() {
		if _, err := Read(p, 1<<20); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("Read(FIFO): %v; want ErrNotRegular (FIFO)", err)
		}
		if _, err := ReadNoFollow(p, 1<<20); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadNoFollow(FIFO): %v; want ErrNotRegular", err)
		}
		if _, err := OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); !errors.Is(err, ErrNotRegular) {
			t.Errorf("OpenFile(FIFO, O_WRONLY): %v; want ErrNotRegular", err)
		}
	})
	// The open itself, after the pre-check: a FIFO swapped in between the two.
	testutil.Within(t, 5*time.Second, func() {
		for _, flag := range []int{os.O_RDONLY, os.O_WRONLY | os.O_APPEND, os.O_RDWR} {
			f, err := openChecked(p, flag, 0, true)
			if err == nil {
				f.Close()
				t.Errorf("openChecked(FIFO, %#x) accepted it", flag)
			}
		}
	})
}

func TestDevZeroRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip(err)
	}
	link := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/zero", link} {
		if _, err := Read(p, 1<<20); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "device") {
			t.Fatalf("Read(%s): %v; want ErrNotRegular (device)", p, err)
		}
		f, err := openChecked(p, os.O_RDONLY, 0, false)
		if !errors.Is(err, ErrNotRegular) {
			if f != nil {
				f.Close()
			}
			t.Fatalf("openChecked(%s): %v; want ErrNotRegular", p, err)
		}
	}
}

func TestMkdirNoFollow(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "accounts")
	if err := MkdirNoFollow(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MkdirNoFollow(p, 0o755); err != nil {
		t.Fatalf("existing directory: %v", err)
	}
	link := filepath.Join(d, "linked")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if err := MkdirNoFollow(link, 0o755); !errors.Is(err, ErrLink) {
		t.Fatalf("symlink to a directory: %v; want ErrLink", err)
	}
	file := filepath.Join(d, "file")
	write(t, file, "x")
	if err := MkdirNoFollow(file, 0o755); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("file: %v; want ErrNotRegular", err)
	}
	if err := MkdirNoFollow(filepath.Join(d, "no", "parent"), 0o755); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing parent: %v; want ErrNotExist", err)
	}
}
