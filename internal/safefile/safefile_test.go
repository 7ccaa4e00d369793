package safefile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadRegular(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "hello")
	for _, read := range []func(string, int64) ([]byte, error){Read, ReadNoFollow} {
		got, err := read(p, 5)
		if err != nil || string(got) != "hello" {
			t.Fatalf("read at the limit = %q, %v; want hello", got, err)
		}
		_, err = read(p, 4)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "4 bytes") {
			t.Fatalf("read past the limit: %v; want ErrTooLarge naming the file and the limit", err)
		}
	}
}

func TestReadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none")
	for _, read := range []func(string, int64) ([]byte, error){Read, ReadNoFollow} {
		if _, err := read(p, 10); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing file: %v; want fs.ErrNotExist", err)
		}
	}
}

func TestReadHuge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB (sparse where the file system can; not larger, NTFS would allocate it):
	// Read must stop at the limit, not read it all.
	if err := f.Truncate(64 << 20); err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	f.Close()
	if _, err := Read(p, 1<<20); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("huge file: %v; want ErrTooLarge (1 MiB)", err)
	}
}

func TestReadDirectory(t *testing.T) {
	d := t.TempDir()
	for _, read := range []func(string, int64) ([]byte, error){Read, ReadNoFollow} {
		if _, err := read(d, 10); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "directory") {
			t.Fatalf("directory: %v; want ErrNotRegular (a directory)", err)
		}
	}
	if _, err := OpenFile(d, os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("OpenFile of a directory: %v; want ErrNotRegular", err)
	}
}

func TestOpenFileRefusesTrunc(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "keep")
	if _, err := OpenFile(p, os.O_RDWR|os.O_TRUNC, 0o644); err == nil {
		t.Fatal("O_TRUNC accepted")
	}
	if b, _ := os.ReadFile(p); string(b) != "keep" {
		t.Fatalf("file changed to %q", b)
	}
}

func TestOpenFileCreatesAndAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	for _, s := range []string{"a\n", "b\n"} {
		f, err := OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if b, _ := os.ReadFile(p); string(b) != "a\nb\n" {
		t.Fatalf("appended file = %q, want a b", b)
	}
}

func TestCreateTemp(t *testing.T) {
	d := t.TempDir()
	f1, err := CreateTemp(d, "m.json.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := CreateTemp(d, "m.json.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if f1.Name() == f2.Name() || filepath.Dir(f1.Name()) != d || !strings.HasPrefix(filepath.Base(f1.Name()), "m.json.tmp-") {
		t.Fatalf("temp names %s, %s", f1.Name(), f2.Name())
	}
	if _, err := CreateTemp(d, "a/b*"); err == nil {
		t.Fatal("pattern with a separator accepted")
	}
}

// TestHardLinkRefused: a hard link to a file elsewhere, planted in the state directory,
// is neither read nor written by the no-follow opens; Read (an input file) accepts it.
func TestHardLinkRefused(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "precious")
	write(t, outside, "precious")
	p := filepath.Join(t.TempDir(), "setup.lock")
	if err := os.Link(outside, p); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if _, err := OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), "hard links") {
		t.Fatalf("OpenFile of a hard link: %v; want ErrLink", err)
	}
	if _, err := ReadNoFollow(p, 100); !errors.Is(err, ErrLink) {
		t.Fatalf("ReadNoFollow of a hard link: %v; want ErrLink", err)
	}
	if b, err := Read(p, 100); err != nil || string(b) != "precious" {
		t.Fatalf("Read of a hard-linked input = %q, %v", b, err)
	}
	if b, _ := os.ReadFile(outside); !bytes.Equal(b, []byte("precious")) {
		t.Fatalf("target changed to %q", b)
	}
}
