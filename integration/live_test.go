//go:build windows && wfpintegration

package integration

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/selftest"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestLiveBFE is the product's prober (selftest.NewProber: the code `wfpsandbox
// selftest` runs) pointed at the persistent install: control, then per user-match shape
// reconcile.Install of the baseline plan for the prober's account and a policy phase
// judged by the selftest's hypotheses, a BFE restart and a phase after it, an uninstall
// and a control after it, and the CLI's setup, verify and uninstall; see the package
// documentation. Phases share state (the account, what is installed), so they run in
// order and a failed setup phase stops the rest.
func TestLiveBFE(t *testing.T) {
	requireElevated(t)
	requireCleanHost(t)
	registerUninstallAll(t)      // whatever fails below, nothing of wfpsandbox stays installed
	ensureRunning(t, "seclogon") // CreateProcessWithLogonW goes through it
	// The probe helper is part of the product: the CLI's hidden selftest-probe subcommand.
	cliExe := newWorkDir(t).build(t, "github.com/wfpsandbox/wfpsandbox/cmd/wfpsandbox", "wfpsandbox.exe")
	p := newProber(t, cliExe)
	sid := p.Account().SID

	if !t.Run("control", func(t *testing.T) {
		if err := p.Phase(t.Context(), selftest.PhaseControl); err != nil {
			t.Fatal(err)
		}
		rep := p.Report()
		rep.Evaluate()
		logReport(t, "control", rep)
		for _, c := range rep.Checks {
			if c.ID == selftest.CheckLogon && (!c.Ran || !c.OK) {
				t.Fatalf("the probe could not run as the account (CreateProcessWithLogonW): %s", c.Detail)
			}
		}
	}) {
		t.FailNow() // without a working control nothing below means anything
	}

	plans := map[policy.UserMatch]*policy.Plan{}
	for _, shape := range []policy.UserMatch{policy.MatchAllow, policy.MatchDeny} {
		if !t.Run("install-"+string(shape), func(t *testing.T) {
			plans[shape] = installPlan(t, sid, shape)
		}) {
			t.FailNow() // the phases below assume the plan is installed
		}
		t.Run("policy-"+string(shape), func(t *testing.T) {
			rep := policyPhase(t, p, "policy-"+string(shape), selftest.Installed{Plan: plans[shape], Engine: openEngine(t), By: "reconcile.Install"})
			also := alwaysAsserted
			if shape == policy.MatchAllow {
				also = append(slices.Clone(also), allowAsserted)
			}
			requireHypotheses(t, rep, also...)
		})
		t.Run("live-read-nonadmin-"+string(shape), func(t *testing.T) { testLiveReadAsNonAdmin(t, p, plans[shape]) })
	}

	t.Run("bfe-restart", func(t *testing.T) {
		// The deny-shape plan is installed. Persistent filters are stored by BFE and
		// re-added to the kernel when it starts (wfp-facts §4, §10.3); a BFE restart is
		// the reboot-free approximation of that.
		if err := restartBFE(t); err != nil {
			if errors.Is(err, errNotStoppable) {
				t.Skipf("persistence across a BFE restart NOT checked on this host: %v (only a reboot can check it here)", err)
			}
			t.Fatal(err)
		}
		plan := plans[policy.MatchDeny]
		e := openEngineAfterRestart(t)
		requireCompliant(t, e, plan)
		checkInstalledFilters(t, e, plan)
		rep := policyPhase(t, p, "after-bfe-restart", selftest.Installed{Plan: plan, Engine: e, By: "reconcile.Install", AfterRestart: true})
		requireHypotheses(t, rep, append(slices.Clone(alwaysAsserted), restartAsserted)...)
	})

	t.Run("uninstall", func(t *testing.T) {
		e := openEngine(t)
		res, err := reconcile.Uninstall(e, sid, reconcile.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("reconcile.Uninstall(%s): %v", sid, err)
		}
		t.Logf("uninstall: %d writes", res.Writes)
		requireNothingLeft(t)
		requireNoneBlocked(t, p, "after-uninstall")
	})

	t.Run("cli", func(t *testing.T) {
		testCLI(t, cliExe, p)
	})
}

// requireNoneBlocked runs a control phase again (nothing of wfpsandbox installed) and
// fails for every attempt that is blocked now but was not in the prober's first
// control.
func requireNoneBlocked(t *testing.T, p *selftest.Prober, name string) {
	t.Helper()
	rep, err := p.ControlPhase(t.Context(), name)
	if err != nil {
		t.Fatalf("phase %s: %v", name, err)
	}
	for _, c := range rep.Checks {
		if c.ID == selftest.CheckLogon && (!c.Ran || !c.OK) {
			t.Fatalf("phase %s: the probe could not run as the account: %s", name, c.Detail)
		}
	}
	if blocked := rep.BlockedSince(p.Report()); len(blocked) > 0 {
		t.Errorf("%s, with nothing of wfpsandbox installed, still blocked:\n  %s", name, strings.Join(blocked, "\n  "))
	}
}

// openEngineAfterRestart opens a session, retrying for a while: BFE's RPC endpoint
// may not accept sessions the instant the service reports RUNNING.
func openEngineAfterRestart(t *testing.T) wfp.Engine {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		e, err := tryOpenEngine()
		if err == nil {
			t.Cleanup(func() { e.Close() })
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("winengine.Open after the BFE restart: %v", err)
		}
	}
}

// requireNothingLeft fails unless no object of the wfpsandbox provider is installed.
func requireNothingLeft(t *testing.T) {
	t.Helper()
	left, err := leftovers(openEngine(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("uninstall left wfpsandbox objects behind:\n  %s", strings.Join(left, "\n  "))
	}
}
