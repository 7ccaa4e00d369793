//go:build !windows

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// On a system without WFP and no --engine, the WFP step fails as "unavailable": setup
// still completes (record written) and exits 3.
func TestSetupExitCode3WhenWFPFails(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	code, out, stderr := wfpsandbox(t, "setup", "--sid", sid, "--state-dir", stateDir)
	if code != exitWFPFailed {
		t.Fatalf("exit %d, want %d: %s%s", code, exitWFPFailed, out, stderr)
	}
	if !strings.Contains(out, "retried on the next run") {
		t.Errorf("output does not say it will be retried:\n%s", out)
	}
	m, err := state.Read(stateDir, sid)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Step(setup.StepWFP); !s.Failed() || !s.Unavailable {
		t.Errorf("record wfp step %+v", s)
	}
	// ensure sees it (no backoff) and, with --no-elevate, exits 4 naming the failure.
	code, out, _ = wfpsandbox(t, "ensure", "--state-dir", stateDir, "--no-elevate", "--retry-backoff", "0")
	if code != exitSetupNeeded || !strings.Contains(out, "step-failed") {
		t.Errorf("ensure: exit %d: %s", code, out)
	}
	// With the default backoff the retry is deferred, but the WFP policy is still
	// missing: never exit 0 ("current"), with or without --no-elevate; without it,
	// setup is not run (nor, on Windows, elevation asked for) before the retry is due.
	before, err := os.ReadFile(state.Path(stateDir, sid))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--no-elevate"}, {}} {
		code, out, stderr = wfpsandbox(t, append([]string{"ensure", "--state-dir", stateDir, "--format", "json"}, args...)...)
		var doc ensureDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("ensure %v: %v\n%s%s", args, err, out, stderr)
		}
		if code != exitSetupNeeded || doc.Current || doc.Action != "retry-deferred" || len(doc.Deferred) != 1 {
			t.Errorf("ensure %v with backoff: exit %d, current %v, action %q, deferred %v", args, code, doc.Current, doc.Action, doc.Deferred)
		}
	}
	if after, _ := os.ReadFile(state.Path(stateDir, sid)); string(after) != string(before) {
		t.Error("ensure ran setup although the retry was deferred")
	}
}
