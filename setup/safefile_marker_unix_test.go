//go:build unix

package setup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// The marker's read and write paths (kept apart from the lock, log and config cases:
// the marker is being redesigned into per-account records, and these tests move with
// its read and write call sites).

func TestWriteMarkerReplacesALinkNotItsTarget(t *testing.T) {
	dir := t.TempDir()
	outside := plantSymlink(t, dir, MarkerFile)
	m, _, err := decodeMarker([]byte(goodMarker))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteMarker(dir, m); err != nil {
		t.Fatal(err)
	}
	untouched(t, outside)
	if fi, err := os.Lstat(filepath.Join(dir, MarkerFile)); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("marker after write: %v, %v", fi, err)
	}
}

func TestReadMarkerRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	plantSymlink(t, dir, MarkerFile)
	_, err := ReadMarker(dir)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Kind != CorruptUnreadable || !errors.Is(err, safefile.ErrLink) {
		t.Fatalf("ReadMarker(symlink): %v; want an unreadable marker (a link)", err)
	}
}

// TestFIFOMarkerDoesNotHangSetup: a FIFO in place of the marker used to block setup
// forever while it held the lock (so every later setup, uninstall and ensure waited
// too). Now it is an unusable marker: set aside, full setup.
func TestFIFOMarkerDoesNotHangSetup(t *testing.T) {
	h := newHost(t)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(h.dir, MarkerFile), 0o644); err != nil {
		t.Skip(err)
	}
	inTime(t, 10*time.Second, func() {
		_, err := ReadMarker(h.dir)
		if !errors.Is(err, safefile.ErrNotRegular) {
			t.Errorf("ReadMarker(FIFO): %v; want not a regular file", err)
		}
		if _, err := Check(context.Background(), CheckOptions{Account: "sandbox", StateDir: h.dir, Resolve: fakeResolve}); err != nil {
			t.Errorf("Check: %v", err)
		}
		rep, err := Run(context.Background(), h.opts("sandbox"))
		if err != nil {
			t.Errorf("Run: %v", err)
			return
		}
		if rep.SetAside == "" {
			t.Errorf("the FIFO marker was not set aside")
		}
	})
	if m := h.marker(); m.Account.SID != sidA {
		t.Errorf("new marker %+v", m)
	}
}
