//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// A link planted as the state directory's accounts/ makes uninstall and setup refuse
// before they change the host: uninstall used to remove the filters and then delete
// the record behind the link (a file outside the state directory), setup to install
// and then fail writing the record.
func TestLinkedAccountsDirRefusedBeforeAnyChange(t *testing.T) {
	for _, cmd := range [][]string{{"uninstall", "--sid", sid}, {"uninstall", "--all"}, {"setup", "--sid", sid, "--profile", "strict"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			h := newSimHost(t)
			if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
				t.Fatalf("setup: exit %d: %s", code, stderr)
			}
			elsewhere := t.TempDir()
			accounts := filepath.Join(h.state, state.AccountsDir)
			outside := filepath.Join(elsewhere, sid+".json")
			if err := os.Rename(state.Path(h.state, sid), outside); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(accounts); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, accounts); err != nil {
				t.Fatal(err)
			}
			hostFile := strings.TrimPrefix(h.engine, "memory:")
			before, err := os.ReadFile(hostFile)
			if err != nil {
				t.Fatal(err)
			}
			code, _, stderr := wfpsandbox(t, h.args(cmd[0], cmd[1:]...)...)
			if code != exitError || !strings.Contains(stderr, accounts) || !strings.Contains(stderr, "remove it") {
				t.Errorf("exit %d, stderr %q; want exit %d naming %s and what to do", code, stderr, exitError, accounts)
			}
			if after, err := os.ReadFile(hostFile); err != nil || !bytes.Equal(before, after) {
				t.Errorf("the simulated host changed (%v)", err)
			}
			if _, err := os.Stat(outside); err != nil {
				t.Errorf("the record behind the link: %v", err)
			}
		})
	}
}

// A link planted as the log is not written through, and setup says so on stderr: the
// audit log used to stop without a word (the refusal was a debug record).
func TestLinkedLogIsReported(t *testing.T) {
	h := newSimHost(t)
	if err := os.MkdirAll(h.state, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(h.state, setup.LogFile)
	if err := os.Symlink(target, logPath); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...)
	if code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, logPath) || !strings.Contains(stderr, "remove it") {
		t.Errorf("stderr does not warn about the linked log %s:\n%s", logPath, stderr)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "secret\n" {
		t.Errorf("the link's target changed: %q, %v", b, err)
	}
}
