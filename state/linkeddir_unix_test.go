//go:build unix

package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// linkedAccounts makes dir/accounts a symbolic link to another directory holding A's
// record, and returns that record's real path.
func linkedAccounts(t *testing.T) (dir, outside string) {
	t.Helper()
	dir, elsewhere := t.TempDir(), t.TempDir()
	outside = filepath.Join(elsewhere, sidA+".json")
	if err := os.WriteFile(outside, []byte(goodRecord), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(dir, AccountsDir)); err != nil {
		t.Fatal(err)
	}
	return dir, outside
}

// A planted link as accounts/ is never followed: the record behind it is not read,
// not removed and not renamed (uninstall used to delete, and setup to rename, the file
// the link pointed at, outside the state directory).
func TestLinkedAccountsDirIsNotFollowed(t *testing.T) {
	dir, outside := linkedAccounts(t)
	if _, err := Read(dir, sidA); !errors.Is(err, safefile.ErrLink) {
		t.Errorf("Read through a linked accounts/: %v; want ErrLink", err)
	}
	var ce *CorruptError
	if _, err := Read(dir, sidA); !errors.As(err, &ce) || !strings.Contains(err.Error(), filepath.Join(dir, AccountsDir)) {
		t.Errorf("Read: %v; want a CorruptError naming accounts/", err)
	}
	if ents, err := List(dir); !errors.Is(err, safefile.ErrLink) {
		t.Errorf("List = %+v, %v; want ErrLink", ents, err)
	}
	if removed, err := Remove(dir, sidA); !errors.Is(err, safefile.ErrLink) || len(removed) != 0 {
		t.Errorf("Remove = %v, %v; want ErrLink, nothing removed", removed, err)
	}
	if removed, err := RemoveAll(dir); !errors.Is(err, safefile.ErrLink) || len(removed) != 0 {
		t.Errorf("RemoveAll = %v, %v; want ErrLink, nothing removed", removed, err)
	}
	if dst, err := SetAside(Path(dir, sidA), time.Now()); !errors.Is(err, safefile.ErrLink) {
		t.Errorf("SetAside = %q, %v; want ErrLink", dst, err)
	}
	if err := CheckDir(dir); !errors.Is(err, safefile.ErrLink) {
		t.Errorf("CheckDir: %v; want ErrLink", err)
	}
	ents, err := os.ReadDir(filepath.Dir(outside))
	if err != nil || len(ents) != 1 || ents[0].Name() != filepath.Base(outside) {
		t.Errorf("the directory the link points at changed: %v, %v", ents, err)
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != goodRecord {
		t.Errorf("the record behind the link changed: %v", err)
	}
}

// A missing accounts/ is no record, not an error; a real one is fine.
func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	if err := CheckDir(dir); err != nil {
		t.Errorf("no accounts/: %v", err)
	}
	writeRecordFile(t, dir, sidA, goodRecord)
	if err := CheckDir(dir); err != nil {
		t.Errorf("real accounts/: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, AccountsDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, AccountsDir), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(dir); !errors.Is(err, safefile.ErrNotRegular) {
		t.Errorf("accounts is a file: %v; want ErrNotRegular", err)
	}
}

// A record that cannot be removed (a non-empty directory planted at its name) does not
// keep RemoveAll from removing the records after it: uninstall --all used to stop at
// the first, leaving the others' records calling removed policies current.
func TestRemoveAllGoesOnPastAFailure(t *testing.T) {
	dir := t.TempDir()
	stuck := Path(dir, sidA)
	if err := os.MkdirAll(filepath.Join(stuck, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := writeRecordFile(t, dir, sidB, strings.ReplaceAll(goodRecord, sidA, sidB))
	removed, err := RemoveAll(dir)
	if err == nil || !strings.Contains(err.Error(), stuck) {
		t.Errorf("RemoveAll error %v; want one naming %s", err, stuck)
	}
	if len(removed) != 1 || removed[0] != b {
		t.Errorf("removed %v; want [%s]", removed, b)
	}
	if _, err := os.Stat(b); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("B's record is still there: %v", err)
	}
}
