//go:build windows && wfpintegration

package integration

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// testCLI runs the built wfpsandbox.exe once through setup, verify and uninstall on the
// live BFE (nothing is installed when it starts), and checks the exit codes the README
// documents (0 ok, 1 verify found drift) and, with a policy phase of the prober judged
// by the selftest's hypotheses, that the CLI-installed policy blocks what it claims and
// nothing else.
func testCLI(t *testing.T, cliExe string, p *selftest.Prober) {
	t.Helper()
	sid := p.Account().SID
	requireExit(t, 0, cliExe, "setup", "--sid", sid, "--profile", "baseline", "--user-match", "deny", "--format", "json")
	requireExit(t, 0, cliExe, "verify", "--sid", sid, "--profile", "baseline", "--user-match", "deny")
	// verify with the other shape must see drift: the installed conditions are the deny shape's.
	requireExit(t, 1, cliExe, "verify", "--sid", sid, "--profile", "baseline", "--user-match", "allow")

	// What setup installed is policy.Build's plan for the same flags (verify said so).
	plan, err := policy.Build(policy.Options{SID: sid, Profile: policy.Baseline, UserMatch: policy.MatchDeny})
	if err != nil {
		t.Fatal(err)
	}
	rep := policyPhase(t, p, "cli-setup", selftest.Installed{Plan: plan, Engine: openEngine(t), By: "wfpsandbox setup"})
	requireHypotheses(t, rep, alwaysAsserted...)

	requireExit(t, 0, cliExe, "uninstall", "--sid", sid)
	requireExit(t, 1, cliExe, "verify", "--sid", sid, "--profile", "baseline", "--user-match", "deny")
	requireExit(t, 0, cliExe, "uninstall", "--all") // nothing left: zero writes, still success
	requireNothingLeft(t)
}

// requireExit runs the CLI and fails unless it exits with want; the output goes to the
// test log either way.
func requireExit(t *testing.T, want int, exe string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("wfpsandbox %v: %v", args, err)
	}
	t.Logf("wfpsandbox %v → exit %d\n%s", args, code, out.String())
	if code != want {
		t.Fatalf("wfpsandbox %v exited with %d, want %d", args, code, want)
	}
}
