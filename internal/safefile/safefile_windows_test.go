//go:build windows

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// TestCheckInfo: the decision on BY_HANDLE_FILE_INFORMATION, including values a test
// host may be unable to produce (a reparse point needs SeCreateSymbolicLinkPrivilege).
func TestCheckInfo(t *testing.T) {
	for _, c := range []struct {
		name     string
		attrs    uint32
		links    uint32
		noFollow bool
		want     error
	}{
		{"plain file", windows.FILE_ATTRIBUTE_ARCHIVE, 1, true, nil},
		{"directory", windows.FILE_ATTRIBUTE_DIRECTORY, 1, false, ErrNotRegular},
		{"reparse point", windows.FILE_ATTRIBUTE_REPARSE_POINT, 1, true, ErrLink},
		{"reparse point, input file", windows.FILE_ATTRIBUTE_REPARSE_POINT, 1, false, nil},
		{"two links", windows.FILE_ATTRIBUTE_NORMAL, 2, true, ErrLink},
		{"two links, input file", windows.FILE_ATTRIBUTE_NORMAL, 2, false, nil},
	} {
		err := checkInfo(`C:\x`, c.attrs, c.links, c.noFollow)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestSymlinkRefusedWindows: CreateFileW with FILE_FLAG_OPEN_REPARSE_POINT opens the
// link itself, and verify refuses it; the target is untouched.
func TestSymlinkRefusedWindows(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "target")
	write(t, outside, "precious")
	p := filepath.Join(t.TempDir(), "setup.lock")
	if err := os.Symlink(outside, p); err != nil {
		t.Skipf("cannot create a symbolic link (needs SeCreateSymbolicLinkPrivilege or developer mode): %v", err)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		// Wine 8's CreateSymbolicLinkW reports success and creates nothing.
		t.Skipf("os.Symlink succeeded but %s is no symbolic link (%v): this Windows cannot model reparse points", p, err)
	}
	if _, err := OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, ErrLink) {
		t.Fatalf("OpenFile(symlink): %v; want ErrLink", err)
	}
	// And the open itself, without the pre-check.
	if f, err := openChecked(p, os.O_WRONLY|os.O_APPEND, 0, true); !errors.Is(err, ErrLink) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("openChecked(symlink): %v; want ErrLink", err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious" {
		t.Fatalf("target changed to %q", b)
	}
}

// TestDeviceRefusedWindows: NUL is a character device (GetFileType FILE_TYPE_CHAR).
func TestDeviceRefusedWindows(t *testing.T) {
	f, err := openChecked("NUL", os.O_RDONLY, 0, false)
	if !errors.Is(err, ErrNotRegular) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("openChecked(NUL): %v; want ErrNotRegular", err)
	}
}
