//go:build windows && wfpintegration

package integration

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// newProber makes the product's prober (selftest.NewProber: the temporary account, the
// work directory with a copy of helper — the built CLI, whose hidden selftest-probe
// subcommand is the probe helper — the AppContainer loopback exemption and the
// listeners) for the baseline profile, judged by default against the deny shape, and
// undoes all of it when the test ends. Its report's errors from that undo (the account
// or the work directory left behind) fail the test.
func newProber(t *testing.T, helper string) *selftest.Prober {
	t.Helper()
	p, err := selftest.NewProber(t.Context(), selftest.ProberOptions{
		Config:  selftest.Config{Profile: policy.Baseline, UserMatch: policy.MatchDeny},
		Version: "integration",
		Helper:  helper,
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("selftest.NewProber: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("the prober's cleanup: %v", err)
		}
	})
	rep := p.Report()
	t.Logf("prober: account %s (%s), other account %s, host %+v", p.Account().Name, rep.Account, rep.Other, rep.Host)
	for _, n := range rep.NotRun {
		t.Logf("not run: %s", n)
	}
	return p
}

// Hypotheses the suite asserts besides the report's safety ones (each is in doc.go's
// list): they are facts about Windows the selftest only reports, but the suite is
// where they must hold before anything else is believed.
var (
	// alwaysAsserted holds in every phase against the persistent install: 1 (UDP
	// blocks fail sendto with WSAEACCES), 6 (scoped enumeration), 7 (logon and
	// children start), 8 (a non-admin reads the objects: the plan grants BUILTIN\Users
	// read, as setup does).
	alwaysAsserted = []string{"udp-sendto-wsaeacces", "provider-scoped-enumeration", "logon-and-children", "non-admin-reads-objects"}
	// allowAsserted is design §4's prediction for the allow shape (3).
	allowAsserted = "allow-shape-children-escape"
	// restartAsserted is 4: persistent filters come back after a BFE restart.
	restartAsserted = "persistent-filters-survive-bfe-restart"
)

// policyPhase probes the policy in (installed outside the prober's session) and returns
// the phase's evaluated report; it fails the test if the phase could not run.
func policyPhase(t *testing.T, p *selftest.Prober, name string, in selftest.Installed) *selftest.Report {
	t.Helper()
	rep, err := p.PolicyPhase(t.Context(), name, in)
	if rep != nil {
		logReport(t, name, rep)
	}
	if err != nil {
		t.Fatalf("phase %s: %v", name, err)
	}
	return rep
}

// requireHypotheses fails unless every safety hypothesis of rep and every one named in
// also is confirmed, naming each that is not with its claim and evidence. A hypothesis
// that was not observable fails too: the suite runs where everything can be observed.
func requireHypotheses(t *testing.T, rep *selftest.Report, also ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, h := range rep.Hypotheses {
		seen[h.ID] = true
		if !h.Safety && !slices.Contains(also, h.ID) {
			continue
		}
		if h.Status == selftest.Confirmed {
			continue
		}
		what := "a safety claim"
		if !h.Safety {
			what = "a hypothesis this suite asserts"
		}
		prefix := ""
		if h.ID == allowAsserted {
			prefix = "design §4 HYPOTHESIS NOT CONFIRMED: "
		}
		t.Errorf("%s%s is %s (%s, --user-match %s): %s\n  %s", prefix, h.ID, h.Status, what, rep.Config.UserMatch, h.Claim,
			strings.Join(h.Evidence, "\n  "))
	}
	for _, id := range also {
		if !seen[id] {
			t.Errorf("the report has no hypothesis %s", id)
		}
	}
	if len(rep.Errors) > 0 {
		t.Errorf("the phase recorded errors: %v", rep.Errors)
	}
}

// logReport writes the phase's verdict, hypotheses (with every evidence line), what was
// not run and the cells that went against their expectation to the test log.
func logReport(t *testing.T, name string, rep *selftest.Report) {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "phase %s (--profile %s --user-match %s): %s — %s\n", name, rep.Config.Profile, rep.Config.UserMatch,
		rep.Verdict.Status, rep.Verdict.Summary)
	for _, c := range rep.Checks {
		fmt.Fprintf(&sb, "  check %s: ran %v ok %v %s\n", c.ID, c.Ran, c.OK, c.Detail)
	}
	for _, h := range rep.Hypotheses {
		fmt.Fprintf(&sb, "  %-15s %s (safety %v)\n", h.Status, h.ID, h.Safety)
		for _, e := range h.Evidence {
			fmt.Fprintf(&sb, "      %s\n", e)
		}
	}
	for _, c := range rep.Cells {
		if c.Verdict != selftest.CellHeld && c.Verdict != selftest.CellRecorded {
			fmt.Fprintf(&sb, "  cell %s\n", c.Line())
		}
	}
	t.Log(sb.String())
}
