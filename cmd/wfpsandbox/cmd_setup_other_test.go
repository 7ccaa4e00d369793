//go:build !windows

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/setup"
)

// On a system without WFP and no --engine, the WFP step fails as "unavailable": setup
// still completes (marker written) and exits 3.
func TestSetupExitCode3WhenWFPFails(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	code, out, stderr := wfpsandbox(t, "setup", "--sid", sid, "--state-dir", state)
	if code != exitWFPFailed {
		t.Fatalf("exit %d, want %d: %s%s", code, exitWFPFailed, out, stderr)
	}
	if !strings.Contains(out, "retried on the next run") {
		t.Errorf("output does not say it will be retried:\n%s", out)
	}
	m, err := setup.ReadMarker(state)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Step(setup.StepWFP); !s.Failed() || !s.Unavailable {
		t.Errorf("marker wfp step %+v", s)
	}
	// ensure sees it (no backoff) and, with --no-elevate, exits 4 naming the failure.
	code, out, _ = wfpsandbox(t, "ensure", "--state-dir", state, "--no-elevate", "--retry-backoff", "0")
	if code != exitSetupNeeded || !strings.Contains(out, "step-failed") {
		t.Errorf("ensure: exit %d: %s", code, out)
	}
	// With the default backoff the retry is deferred: current, no elevation.
	code, out, _ = wfpsandbox(t, "ensure", "--state-dir", state, "--no-elevate")
	if code != exitOK || !strings.Contains(out, "deferred") {
		t.Errorf("ensure with backoff: exit %d: %s", code, out)
	}
}
