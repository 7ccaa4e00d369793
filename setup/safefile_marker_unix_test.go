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
	"github.com/wfpsandbox/wfpsandbox/internal/testutil"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// The record's read and write paths (kept apart from the lock, log and config cases).

// setUp runs one setup for sidA and returns its record.
func setUp(t *testing.T, h *host) *state.Record {
	t.Helper()
	if rep := h.run(h.opts("sandbox")); rep.WFPFailed() {
		t.Fatalf("setup: %+v", rep.Steps)
	}
	return h.record(sidA)
}

func TestWriteRecordReplacesALinkNotItsTarget(t *testing.T) {
	h := newHost(t)
	rec := setUp(t, h)
	path := state.Path(h.dir, sidA)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	outside := plantSymlink(t, filepath.Dir(path), filepath.Base(path))
	if err := state.Write(h.dir, rec); err != nil {
		t.Fatal(err)
	}
	untouched(t, outside)
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("record after write: %v, %v", fi, err)
	}
}

func TestReadRecordRefusesLinks(t *testing.T) {
	h := newHost(t)
	setUp(t, h)
	path := state.Path(h.dir, sidA)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	plantSymlink(t, filepath.Dir(path), filepath.Base(path))
	_, err := state.Read(h.dir, sidA)
	var ce *state.CorruptError
	if !errors.As(err, &ce) || ce.Kind != state.CorruptUnreadable || !errors.Is(err, safefile.ErrLink) {
		t.Fatalf("state.Read(symlink): %v; want an unreadable record (a link)", err)
	}
}

// TestLinkedAccountsDirIsRefused: records are renamed into accounts/; a link or
// junction planted in its place would send them wherever it points.
func TestLinkedAccountsDirIsRefused(t *testing.T) {
	h := newHost(t)
	rec := setUp(t, h)
	accounts := filepath.Join(h.dir, state.AccountsDir)
	if err := os.RemoveAll(accounts); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, accounts); err != nil {
		t.Fatal(err)
	}
	if err := state.Write(h.dir, rec); !errors.Is(err, safefile.ErrLink) {
		t.Fatalf("state.Write through a linked accounts/: %v, want ErrLink", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Fatalf("a record landed in the link's target: %v", ents)
	}
}

// TestFIFORecordDoesNotHangSetup: a FIFO in place of a record (or of the old single
// marker) used to block setup forever while it held the lock (so every later setup,
// uninstall and ensure waited too). Now it is an unusable record: set aside, full
// setup.
func TestFIFORecordDoesNotHangSetup(t *testing.T) {
	for _, name := range []string{"record", "old marker"} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t)
			path := state.Path(h.dir, sidA)
			if name == "old marker" {
				path = filepath.Join(h.dir, state.LegacyMarkerFile)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Skip(err)
			}
			testutil.Within(t, 10*time.Second, func() {
				_, err := state.Read(h.dir, sidA)
				if !errors.Is(err, safefile.ErrNotRegular) {
					t.Errorf("state.Read(FIFO): %v; want not a regular file", err)
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
					t.Errorf("the FIFO was not set aside")
				}
			})
			if m := h.record(sidA); m.Account.SID != sidA {
				t.Errorf("new record %+v", m)
			}
		})
	}
}
