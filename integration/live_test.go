//go:build windows && wfpintegration

package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// childShapes are the token shapes of design §4's escape routes.
var childShapes = []string{probeproto.AsRestrictedDenyOnly, probeproto.AsRestrictedSIDs, probeproto.AsAppContainer}

// TestLiveBFE installs the policy on the live BFE and watches what it blocks; see the
// package documentation for the phases. Phases share state (the account, what is
// installed), so they run in order and a failed setup phase stops the rest.
func TestLiveBFE(t *testing.T) {
	requireElevated(t)
	requireCleanHost(t)
	registerUninstallAll(t)      // whatever fails below, nothing of wfpsandbox stays installed
	ensureRunning(t, "seclogon") // CreateProcessWithLogonW goes through it
	user := newTempUser(t)
	dir := newWorkDir(t)
	// The probe helper is part of the product: the CLI's hidden selftest-probe subcommand.
	cliExe := dir.build(t, "github.com/wfpsandbox/wfpsandbox/cmd/wfpsandbox", "wfpsandbox.exe")
	probeExe := cliExe
	attempts := planAttempts()
	p := &prober{dir: dir, exe: probeExe, user: user, lis: startListeners(t, attempts), attempts: attempts}

	control := map[string]*result{} // by token shape, for the sandbox account
	if !t.Run("control", func(t *testing.T) {
		self := p.run(t, "control", whoSelf, probeproto.AsPlain)
		requireNoneBlocked(t, p, self, "the test's own account, nothing installed")
		p.checkArrival(t, self, true)
		control[probeproto.AsPlain] = p.run(t, "control", whoSandbox, probeproto.AsPlain)
		requireNoneBlocked(t, p, control[probeproto.AsPlain], "the sandbox account, nothing installed (a block here is not wfpsandbox's)")
		p.checkArrival(t, control[probeproto.AsPlain], true)
	}) {
		t.FailNow() // without a working control nothing below means anything
	}
	// The children's control runs are recorded, not asserted: what they show is
	// compared per shape in the hypothesis subtests. A child that cannot be started
	// fails its own subtest and leaves the rest of the run alone.
	for _, as := range childShapes {
		t.Run("control-"+as, func(t *testing.T) { control[as] = p.run(t, "control", whoSandbox, as) })
	}

	for _, shape := range []policy.UserMatch{policy.MatchAllow, policy.MatchDeny} {
		phase := "policy-" + string(shape)
		installed := false
		t.Run("install-"+string(shape), func(t *testing.T) {
			plan := installPlan(t, user.SID, shape)
			installed = true
			self := p.run(t, phase, whoSelf, probeproto.AsPlain)
			requireNoneBlocked(t, p, self, "the test's own account, policy for another account installed")
			p.checkArrival(t, self, true)
			sandbox := p.run(t, phase, whoSandbox, probeproto.AsPlain)
			requireAllBlocked(t, p, sandbox, control[probeproto.AsPlain])
			p.checkArrival(t, sandbox, false)
			t.Run("live-read-nonadmin", func(t *testing.T) { testLiveReadAsNonAdmin(t, p, plan) })
		})
		if !installed {
			t.FailNow() // the phases below assume the plan is installed
		}
		for _, as := range childShapes {
			t.Run(fmt.Sprintf("hypothesis-%s-%s", shape, as), func(t *testing.T) {
				if control[as] == nil {
					t.Fatalf("no control run for the %s child (see control-%s)", as, as)
				}
				checkHypothesis(t, p, shape, as, control[as], p.run(t, phase, whoSandbox, as))
			})
		}
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
		plan, err := policy.Build(policy.Options{SID: user.SID, Profile: policy.Baseline, UserMatch: policy.MatchDeny})
		if err != nil {
			t.Fatal(err)
		}
		e := openEngineAfterRestart(t)
		requireCompliant(t, e, plan)
		checkInstalledFilters(t, e, plan)
		sandbox := p.run(t, "after-bfe-restart", whoSandbox, probeproto.AsPlain)
		requireAllBlocked(t, p, sandbox, control[probeproto.AsPlain])
		p.checkArrival(t, sandbox, false)
	})

	t.Run("uninstall", func(t *testing.T) {
		e := openEngine(t)
		res, err := reconcile.Uninstall(e, user.SID, reconcile.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("reconcile.Uninstall(%s): %v", user.SID, err)
		}
		t.Logf("uninstall: %d writes", res.Writes)
		requireNothingLeft(t)
		sandbox := p.run(t, "after-uninstall", whoSandbox, probeproto.AsPlain)
		requireNoneBlocked(t, p, sandbox, "the sandbox account after uninstall")
		p.checkArrival(t, sandbox, true)
	})

	t.Run("cli", func(t *testing.T) {
		testCLI(t, cliExe, user, p, control[probeproto.AsPlain])
	})
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
