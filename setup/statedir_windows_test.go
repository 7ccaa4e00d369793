//go:build windows

package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

func sid(t *testing.T, s string) *windows.SID {
	t.Helper()
	x, err := windows.StringToSid(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestCheckStateDir(t *testing.T) {
	const dir = `C:\ProgramData\wfpsandbox`
	user := "S-1-5-21-1111111111-2222222222-3333333333-1001"
	for _, c := range []struct {
		name  string
		attrs uint32
		owner string
		ok    bool
		says  string
	}{
		{"Administrators", windows.FILE_ATTRIBUTE_DIRECTORY, "S-1-5-32-544", true, ""},
		{"SYSTEM", windows.FILE_ATTRIBUTE_DIRECTORY, "S-1-5-18", true, ""},
		{"a user", windows.FILE_ATTRIBUTE_DIRECTORY, user, false, user},
		{"Users", windows.FILE_ATTRIBUTE_DIRECTORY, "S-1-5-32-545", false, "S-1-5-32-545"},
		{"a junction owned by Administrators", windows.FILE_ATTRIBUTE_DIRECTORY | windows.FILE_ATTRIBUTE_REPARSE_POINT, "S-1-5-32-544", false, "reparse point"},
		{"a file", windows.FILE_ATTRIBUTE_ARCHIVE, "S-1-5-32-544", false, "not a directory"},
	} {
		err := checkStateDir(dir, c.attrs, sid(t, c.owner))
		if c.ok != (err == nil) {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !c.ok && (!errors.Is(err, ErrStateDirOwner) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), dir)) {
			t.Errorf("%s: %v; want ErrStateDirOwner naming %s and %q", c.name, err, dir, c.says)
		}
	}
}

func isProtected(t *testing.T, dir string) bool {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		t.Fatal(err)
	}
	return ctl&windows.SE_DACL_PROTECTED != 0
}

// TestSecureStateDirRefusesForeignOwner: a directory someone else owns (here: the test
// user, as a non-admin who created %ProgramData%\wfpsandbox first would) is refused,
// and its DACL is left as it was.
func TestSecureStateDirRefusesForeignOwner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wfpsandbox")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tok := windows.GetCurrentProcessToken()
	u, err := tok.GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION, u.User.Sid, nil, nil, nil)
	if err != nil {
		t.Skipf("cannot make the test user the owner: %v", err)
	}
	err = secureStateDir(dir)
	if !errors.Is(err, ErrStateDirOwner) || !strings.Contains(err.Error(), u.User.Sid.String()) {
		t.Fatalf("secureStateDir of a directory owned by %s: %v; want ErrStateDirOwner naming the owner", u.User.Sid, err)
	}
	if isProtected(t, dir) {
		t.Error("the refused directory's DACL was changed")
	}
}

// TestCreateDefaultStateDir: created elevated, the directory is owned by Administrators
// with the protected DACL from the start, and secureStateDir accepts it; unelevated,
// CreateDirectoryW refuses the owner and nothing is created.
func TestCreateDefaultStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wfpsandbox")
	err := createDefaultStateDir(dir)
	if !windows.GetCurrentProcessToken().IsElevated() {
		if err == nil {
			t.Fatal("an unelevated process created the state directory")
		}
		if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("after %v the directory exists: %v", err, serr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if o, _, err := sd.Owner(); err != nil || !o.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		t.Fatalf("owner %v (%v), want Administrators", o, err)
	}
	if !isProtected(t, dir) {
		t.Error("DACL not protected")
	}
	if err := createDefaultStateDir(dir); err != nil {
		t.Fatalf("again: %v", err)
	}
	if err := secureStateDir(dir); err != nil {
		t.Fatalf("secureStateDir: %v", err)
	}
}

// TestSecureStateDirRefusesALink: a directory symbolic link in place of the state
// directory is refused even when its target is acceptable.
func TestSecureStateDirRefusesALink(t *testing.T) {
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "wfpsandbox")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot create a directory symbolic link: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Skipf("os.Symlink succeeded but %s is no link (%v): this Windows cannot model reparse points", link, err)
	}
	if err := secureStateDir(link); !errors.Is(err, ErrStateDirOwner) || !strings.Contains(err.Error(), "reparse point") {
		t.Fatalf("secureStateDir(link): %v; want a refused reparse point", err)
	}
}
