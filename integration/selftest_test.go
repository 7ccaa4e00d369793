//go:build windows && wfpintegration

package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// TestSelftest runs the product's `wfpsandbox selftest` — the code users run — once per
// user-match shape and asserts on its report: it ran (exit 0 or 1, not 2), no safety
// hypothesis was refuted, and every safety hypothesis was confirmed (exit 0). Each
// hypothesis and its evidence is logged, so a failing run says which claim fell.
//
// TestLiveBFE runs the same prober (selftest.NewProber) against what the selftest does
// not install: the persistent install through reconcile, across a BFE restart, and the
// CLI's setup.
func TestSelftest(t *testing.T) {
	requireElevated(t)
	ensureRunning(t, "seclogon") // CreateProcessWithLogonW goes through it
	dir := newWorkDir(t)
	exe := dir.build(t, "github.com/wfpsandbox/wfpsandbox/cmd/wfpsandbox", "wfpsandbox.exe")
	for _, shape := range []string{"deny", "allow"} {
		t.Run(shape, func(t *testing.T) {
			report := filepath.Join(dir.Root, "report-"+shape+".json")
			cmd := exec.Command(exe, "selftest", "--user-match", shape, "--report", report)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code, err = ee.ExitCode(), nil
			}
			if err != nil {
				t.Fatalf("run %s selftest: %v", exe, err)
			}
			t.Logf("selftest --user-match %s: exit %d\n%s", shape, code, out.String())
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("no report: %v", err)
			}
			var rep selftest.Report
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatalf("report: %v", err)
			}
			if code == selftest.ExitError || rep.Verdict.ExitCode != code {
				t.Fatalf("the selftest could not run (exit %d, verdict %+v): %v", code, rep.Verdict, rep.Errors)
			}
			for _, h := range rep.Hypotheses {
				if h.Safety && h.Status != selftest.Confirmed {
					t.Errorf("%s (%s): %s\n  %v", h.ID, h.Status, h.Claim, h.Evidence)
				}
			}
		})
	}
}
