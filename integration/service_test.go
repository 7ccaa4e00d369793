//go:build windows && wfpintegration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/service"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"golang.org/x/sys/windows/svc/mgr"
)

// Service test settings.
const (
	servicePoll     = 2 * time.Second  // config.toml [service] poll
	repairWait      = 30 * time.Second // a deleted filter must be back within this (15 polls)
	firstProxyPort  = 3128
	secondProxyPort = 8080
	strangerPort    = 9999 // what the caller outside callers tries to set
)

// serviceStatusDoc is `wfpsandbox service <sub> --format json` (cmd/wfpsandbox
// serviceDoc).
type serviceStatusDoc struct {
	Action     string                `json:"action"`
	Installed  bool                  `json:"installed"`
	State      string                `json:"state"`
	PID        uint32                `json:"pid"`
	Account    *service.StatusResult `json:"account"`
	Pipe       string                `json:"pipe"`
	PolicyKept bool                  `json:"policyKept"`
}

// ensureJSON is the part of `wfpsandbox ensure --format json` the test reads
// (cmd/wfpsandbox ensureDoc).
type ensureJSON struct {
	Current       bool                         `json:"current"`
	Action        string                       `json:"action"`
	ExitCode      int                          `json:"exitCode"`
	Live          bool                         `json:"live"`
	LiveReason    string                       `json:"liveReason"`
	Via           string                       `json:"via"`
	ServiceChange *service.SetProxyPortsResult `json:"serviceChange"`
}

// refusedAtOpen is what the CLI's and service.Ask's messages contain when CreateFileW
// on the pipe failed with ERROR_ACCESS_DENIED (service/client_windows.go).
const refusedAtOpen = "refused this account"

// TestService runs the optional service through the real service control manager,
// the real named pipe and the live BFE; see the package documentation for the
// phases and hypotheses 9-13. Phases share state (what is installed, the running
// service), so a failed phase stops the rest.
func TestService(t *testing.T) {
	requireElevated(t)
	requireCleanHost(t)
	requireNoService(t)
	// Cleanups run last-registered first: the service goes (registerServiceUninstall),
	// then stray processes (registerStrayKill), the work directory, the two
	// accounts and, last, every WFP object of the wfpsandbox provider.
	registerUninstallAll(t)
	ensureRunning(t, "seclogon") // CreateProcessWithLogonW goes through it
	caller := newTempUser(t)     // in [service] callers
	stranger := newTempUser(t)   // not in callers
	dir := newWorkDir(t)
	cliExe := dir.build(t, "github.com/wfpsandbox/wfpsandbox/cmd/wfpsandbox", "wfpsandbox.exe")
	helperExe := copyTestBinary(t, dir)
	registerStrayKill(t, cliExe, helperExe)
	registerServiceUninstall(t)
	// Under the work directory: the service (SYSTEM) and both accounts can read it
	// (Everyone: read and execute, inherited), only SYSTEM and Administrators write.
	stateDir := filepath.Join(dir.Root, "state")
	sid := caller.SID

	requireExit(t, 0, cliExe, "setup", "--sid", sid, "--profile", "strict", "--proxy-port", fmt.Sprint(firstProxyPort),
		"--state-dir", stateDir, "--format", "json")
	cfg := fmt.Sprintf("[service]\npoll = %q\ncallers = [%q]\n", servicePoll.String(), sid)
	if err := os.WriteFile(filepath.Join(stateDir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, rec := recordedPlan(t, stateDir, sid)
	requireAsPlanned(t, openEngine(t), plan)

	phase := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the phases below rest on this one
		}
	}

	phase("install-start", func(t *testing.T) {
		// Fact (SCM): CreateServiceW registers the service; it is not started by
		// install (automatic start means at boot), so it is stopped — or, if the SCM
		// started it anyway, running (seen under Wine; harmless).
		requireExit(t, 0, cliExe, "service", "install", "--state-dir", stateDir)
		// Fact (SERVICE_FAILURE_ACTIONS_FLAG): without fFailureActionsOnNonCrashFailures a
		// service that stops with an error exit code is not restarted; install sets it.
		if m, err := mgr.Connect(); err != nil {
			t.Errorf("connect to the SCM: %v", err)
		} else {
			if s, err := m.OpenService(service.ServiceName); err != nil {
				t.Errorf("open the service: %v", err)
			} else {
				acts, aerr := s.RecoveryActions()
				flag, ferr := s.RecoveryActionsOnNonCrashFailures()
				if aerr != nil || ferr != nil || len(acts) != 3 || !flag {
					t.Errorf("recovery: actions %v (%v), on non-crash failures %v (%v); want 3 restarts, true", acts, aerr, flag, ferr)
				}
				s.Close()
			}
			m.Disconnect()
		}
		st := scmStatus(t, cliExe)
		if !st.Installed || st.State != "stopped" && st.State != "running" {
			t.Errorf("after service install: installed %v, state %q; want installed, stopped", st.Installed, st.State)
		}
		requireExit(t, 0, cliExe, "service", "start")
		st = scmStatus(t, cliExe)
		if st.State != "running" || st.PID == 0 {
			t.Fatalf("after service start: state %q, pid %d; want running with a process", st.State, st.PID)
		}
	})

	phase("status-admin", func(t *testing.T) {
		// RunAsService reports Running only once the pipe's first instance exists
		// (service.Serve's ready), and `service start` waited for Running: the first
		// question is answered, no retry.
		r := runCLI(t, cliExe, "service", "status", "--sid", sid, "--format", "json")
		var st serviceStatusDoc
		if r.code == 0 {
			decodeJSON(t, r, &st)
		}
		if r.code != 0 || st.Pipe != "answered" {
			t.Fatalf("right after 'service start' the service did not answer status over %s (Running must follow the pipe):\n%s\nservice log: %s",
				service.PipeName, r, serviceLog(stateDir))
		}
		// Hypothesis 9 (an administrator's side): the pipe admits an elevated
		// administrator and the service identifies it from its token.
		requireStatusOf(t, st.Account, sid, plan, rec, []uint16{firstProxyPort})
		// ensure elevated reads the live policy itself (via direct), and is current.
		r = requireRun(t, 0, runCLI(t, cliExe, "ensure", "--sid", sid, "--state-dir", stateDir, "--no-elevate", "--format", "json"))
		var ed ensureJSON
		decodeJSON(t, r, &ed)
		if !ed.Current || !ed.Live || ed.Via != "direct" {
			t.Errorf("ensure as the test's (elevated) account: current %v, live %v, via %q; want current, live, direct", ed.Current, ed.Live, ed.Via)
		}
	})

	phase("status-caller", func(t *testing.T) {
		// Hypothesis 9: a standard account named in [service] callers opens the pipe
		// (its DACL grants the SID callerAccess), is identified from its token at
		// SECURITY_IDENTIFICATION, and is answered status — a second process, another
		// logon, the real pipe.
		r := requireRun(t, 0, runCLIAs(t, caller, dir, cliExe, "caller-status", "service", "status", "--sid", sid, "--format", "json"))
		var st serviceStatusDoc
		decodeJSON(t, r, &st)
		if st.Pipe != "answered" {
			t.Fatalf("hypothesis 9 refuted? the caller in [service] callers got no status over the pipe: %q", st.Pipe)
		}
		requireStatusOf(t, st.Account, sid, plan, rec, []uint16{firstProxyPort})

		// ensure as the caller: current. Whether it read the live policy itself
		// (hypothesis 8) or asked the service is recorded, not asserted.
		r = requireRun(t, 0, runCLIAs(t, caller, dir, cliExe, "caller-ensure", "ensure", "--sid", sid, "--state-dir", stateDir,
			"--no-elevate", "--format", "json"))
		var ed ensureJSON
		decodeJSON(t, r, &ed)
		if !ed.Current {
			t.Errorf("ensure as the caller: not current: %s", r)
		}
		t.Logf("ensure as the caller: current %v, via %q, live %v %s", ed.Current, ed.Via, ed.Live, ed.LiveReason)
	})

	phase("stranger-denied", func(t *testing.T) {
		before := takeSnapshot(t, openEngine(t))
		// Hypothesis 10: a standard account whose SID is not in [service] callers (nor
		// Administrators, SYSTEM) is refused by the pipe's DACL: CreateFileW fails with
		// ERROR_ACCESS_DENIED, which the CLI reports as "refused this account" with exit
		// 0 (no service to ask, as when none runs). Were it admitted, the service's own
		// check would answer "denied" (CodeDenied): still denied, but the DACL would not
		// be what PipeSDDL says, and that is a failure too.
		r := runCLIAs(t, stranger, dir, cliExe, "stranger-status", "service", "status", "--sid", sid, "--format", "json")
		switch {
		case r.code == 0:
			var st serviceStatusDoc
			decodeJSON(t, r, &st)
			if st.Account != nil || st.Pipe == "answered" {
				t.Fatalf("hypothesis 10 refuted, and worse: a caller outside [service] callers was answered status: %+v", st.Account)
			}
			if !strings.Contains(st.Pipe, refusedAtOpen) {
				t.Errorf("hypothesis 10: the stranger's status was not refused at CreateFileW (ERROR_ACCESS_DENIED) but: %q", st.Pipe)
			}
		case strings.Contains(r.stdout+r.stderr, "("+service.CodeDenied+")"):
			t.Errorf("hypothesis 10 refuted: the pipe's DACL admitted a caller outside [service] callers; the service's per-request check denied it:\n%s", r)
		default:
			t.Errorf("the stranger's status: unexpected outcome:\n%s", r)
		}

		// set-proxy-ports for the caller's account, sent by the stranger with the
		// product's client: refused the same way, and nothing changes.
		out := askAs(t, stranger, dir, helperExe, "stranger-set-proxy-ports", &service.Request{
			Version: service.ProtocolVersion, Op: service.OpSetProxyPorts, SID: sid, ProxyPorts: []uint16{strangerPort}})
		switch {
		case out.Response != nil && out.Response.OK:
			t.Errorf("a caller outside [service] callers had set-proxy-ports applied: %+v", out.Response.SetProxyPorts)
		case out.Response != nil && out.Response.Error != nil && out.Response.Error.Code == service.CodeDenied:
			t.Errorf("hypothesis 10 refuted: the pipe's DACL admitted a caller outside [service] callers; the service denied set-proxy-ports (%s)", out.Response.Error.Message)
		case out.Response != nil:
			t.Errorf("the stranger's set-proxy-ports: unexpected response %+v", out.Response.Error)
		case !out.NotAvailable || !strings.Contains(out.Error, refusedAtOpen):
			t.Errorf("hypothesis 10: the stranger's set-proxy-ports was not refused at CreateFileW but: %s", out.Error)
		}
		// Fact to keep: whatever refused it, the policy and the record are unchanged —
		// every filter has the same run-time ID and definition.
		requireUnchanged(t, "after the stranger's requests", before, takeSnapshot(t, openEngine(t)))
		if _, rec2 := recordedPlan(t, stateDir, sid); rec2.PlanHash != rec.PlanHash || !slices.Equal(rec2.ProxyPorts, rec.ProxyPorts) {
			t.Errorf("the stranger's requests changed the record: plan %s ports %v, was %s %v", rec2.PlanHash, rec2.ProxyPorts, rec.PlanHash, rec.ProxyPorts)
		}
	})

	phase("repair", func(t *testing.T) {
		e := openEngine(t)
		before := takeSnapshot(t, e)
		var victim *wfp.Filter
		for _, f := range plan.Filters {
			if f.Action.Type == wfp.ActionBlock {
				victim = f
				break
			}
		}
		if victim == nil {
			t.Fatal("the strict plan has no block filter")
		}
		old := before[victim.Key]
		if old == nil {
			t.Fatalf("planned filter {%s} %q is not installed", victim.Key, victim.Name)
		}
		// Fact: FwpmFilterDeleteByKey0 from this session (not the service's) deletes a
		// persistent filter of ours.
		if err := e.DeleteFilter(victim.Key); err != nil {
			t.Fatalf("delete filter {%s} %q: %v", victim.Key, victim.Name, err)
		}
		t.Logf("deleted {%s} %q (id %d)", victim.Key, victim.Name, old.ID)
		// Hypothesis 11: the service's poll (every 2 s; by-key reads) or a change
		// notification notices it and adds the filter again, with the same key. A
		// repair may come before the first read below (a notification is fast), so
		// "back" is: found after FWP_E_FILTER_NOT_FOUND was seen, or found with another
		// run-time ID than the deleted filter's.
		start := time.Now()
		var back *wfp.Filter
		sawMissing := false
		for {
			f, err := e.Filter(victim.Key)
			switch {
			case err == nil && (sawMissing || f.ID != old.ID):
				back = f
			case err == nil:
				t.Fatalf("filter {%s} is installed with the deleted filter's id %d after FwpmFilterDeleteByKey0 succeeded "+
					"(the delete did nothing, or BFE gave the re-added filter the same id: either way this test cannot tell a repair)", victim.Key, f.ID)
			case errors.Is(err, wfp.ErrFilterNotFound):
				sawMissing = true
			default:
				t.Fatalf("get {%s} by key: %v", victim.Key, err)
			}
			if back != nil {
				break
			}
			if time.Since(start) > repairWait {
				t.Fatalf("hypothesis 11 refuted: filter {%s} %q not repaired within %s of a %s poll\nservice log: %s",
					victim.Key, victim.Name, repairWait, servicePoll, serviceLog(stateDir))
			}
			time.Sleep(250 * time.Millisecond)
		}
		if !sawMissing {
			t.Logf("the filter was back (new id) before this test first read it")
		}
		t.Logf("filter {%s} repaired after %s: id %d (was %d)", victim.Key, time.Since(start).Round(time.Millisecond), back.ID, old.ID)
		if !sameFilter(back, old) {
			t.Errorf("the repaired filter differs from the deleted one:\n  was %s\n  now %s", describeFilter(old), describeFilter(back))
		}
		// The repair added the missing filter and touched nothing else: every other
		// filter keeps its run-time ID (a reconcile.Install of a plan that differs by
		// one missing filter writes one add).
		after := takeSnapshot(t, e)
		delete(before, victim.Key)
		delete(after, victim.Key)
		requireUnchanged(t, "after the repair (the repaired filter aside)", before, after)
		requireAsPlanned(t, e, plan)
	})

	var newPlan *policy.Plan
	phase("set-proxy-ports", func(t *testing.T) {
		e := openEngine(t)
		before := takeSnapshot(t, e)
		// First the caller's set-proxy-ports of the ports it already has, with the
		// product's client: accepted (the caller is in callers), zero writes, every
		// filter as it was. This also makes sure the service path works for the caller
		// before ensure is run: ensure falls back to an elevation prompt when the
		// service refuses, which a process of a standard account on a runner must not
		// reach.
		same := askAs(t, caller, dir, helperExe, "caller-set-same-ports", &service.Request{
			Version: service.ProtocolVersion, Op: service.OpSetProxyPorts, SID: sid, ProxyPorts: []uint16{firstProxyPort}})
		switch {
		case same.Response == nil:
			t.Fatalf("the caller's set-proxy-ports %d got no response: %s", firstProxyPort, same.Error)
		case !same.Response.OK || same.Response.SetProxyPorts == nil:
			t.Fatalf("the caller's set-proxy-ports %d was refused: %+v", firstProxyPort, same.Response.Error)
		case same.Response.SetProxyPorts.Writes != 0:
			t.Errorf("set-proxy-ports of the recorded ports made %d writes: %+v", same.Response.SetProxyPorts.Writes, same.Response.SetProxyPorts.Changes)
		}
		requireUnchanged(t, "after set-proxy-ports of the recorded ports", before, takeSnapshot(t, e))

		// ensure as the caller with only a new proxy port: it has the service apply it
		// (no elevation: action service-set-proxy-ports, via service).
		r := requireRun(t, 0, runCLIAs(t, caller, dir, cliExe, "caller-set-proxy-ports", "ensure", "--sid", sid,
			"--state-dir", stateDir, "--proxy-port", fmt.Sprint(secondProxyPort), "--format", "json"))
		var ed ensureJSON
		decodeJSON(t, r, &ed)
		if ed.Action != "service-set-proxy-ports" || ed.Via != "service" || ed.ServiceChange == nil {
			t.Fatalf("ensure --proxy-port %d as the caller: action %q via %q; want service-set-proxy-ports via service", secondProxyPort, ed.Action, ed.Via)
		}
		var rec2 *recordT
		newPlan, rec2 = recordedPlan(t, stateDir, sid)
		if !slices.Equal(rec2.ProxyPorts, []uint16{secondProxyPort}) || rec2.PlanHash != ed.ServiceChange.PlanHash {
			t.Errorf("the record after set-proxy-ports: ports %v, plan %s; the service reported plan %s", rec2.ProxyPorts, rec2.PlanHash, ed.ServiceChange.PlanHash)
		}

		// What may change: the filters whose definition differs between the plan of
		// the old ports and that of the new (policy: the proxy ports are conditions of
		// the two loopback-connect permits only).
		oldByKey := map[wfp.GUID]*wfp.Filter{}
		for _, f := range plan.Filters {
			oldByKey[f.Key] = f
		}
		expected := map[wfp.GUID]bool{}
		for _, f := range newPlan.Filters {
			o := oldByKey[f.Key]
			if o == nil {
				t.Fatalf("the new plan has a filter the old one has not: {%s} %q", f.Key, f.Name)
			}
			if !sameFilter(o, f) {
				expected[f.Key] = true
				if f.Action.Type != wfp.ActionPermit {
					t.Errorf("the proxy ports change a filter that is not a permit: {%s} %q %s", f.Key, f.Name, f.Action.Type)
				}
			}
		}
		if len(expected) == 0 || len(newPlan.Filters) != len(plan.Filters) {
			t.Fatalf("the plans of ports %d and %d differ in %d filters (of %d and %d)", firstProxyPort, secondProxyPort,
				len(expected), len(plan.Filters), len(newPlan.Filters))
		}
		// Hypothesis 12: the service's change (one setup.Run, one reconcile.Install
		// transaction) deleted and added only those filters, with the same keys; every
		// other filter — every block among them — keeps its run-time ID and definition.
		for _, c := range ed.ServiceChange.Changes {
			if c.Kind != reconcile.KindFilter || !expected[c.Key] {
				t.Errorf("set-proxy-ports changed %s %s {%s} %q (%s): not a proxy-port permit", c.Op, c.Kind, c.Key, c.Name, c.Reason)
			}
		}
		after := takeSnapshot(t, e)
		if !slices.Equal(after.keys(), before.keys()) {
			t.Fatalf("set-proxy-ports changed the set of installed keys: %v, was %v", after.keys(), before.keys())
		}
		for k := range expected {
			if sameFilter(after[k], before[k]) {
				t.Errorf("permit {%s} %q still has the old definition: %s", k, before[k].Name, describeFilter(after[k]))
			}
			delete(before, k)
			delete(after, k)
		}
		requireUnchanged(t, "after set-proxy-ports (the proxy-port permits aside)", before, after)
		// And the new permits are those of the new plan (Verify compares every field).
		requireAsPlanned(t, e, newPlan)
	})

	phase("stop-uninstall", func(t *testing.T) {
		e := openEngine(t)
		before := takeSnapshot(t, e)
		requireExit(t, 0, cliExe, "service", "stop")
		if st := scmStatus(t, cliExe); !st.Installed || st.State != "stopped" {
			t.Errorf("after service stop: installed %v, state %q", st.Installed, st.State)
		}
		var un serviceStatusDoc
		decodeJSON(t, requireRun(t, 0, runCLI(t, cliExe, "service", "uninstall", "--format", "json")), &un)
		if !un.PolicyKept {
			t.Errorf("service uninstall does not say the policy is kept: %+v", un)
		}
		// Fact (SCM): DeleteService removes the service once it is stopped and no
		// handle to it is open; the CLI closed its handles when it exited, so this
		// should be at once — polled briefly all the same.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			st := scmStatus(t, cliExe)
			if !st.Installed {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("after service uninstall the service is still registered (state %q)", st.State)
				break
			}
		}
		// Hypothesis 13: stopping the service and deleting it removes nothing of the
		// persistent policy — same filters, same run-time IDs — and verify, from the
		// record, finds it compliant (exit 0).
		requireUnchanged(t, "after service stop and uninstall", before, takeSnapshot(t, e))
		requireAsPlanned(t, e, newPlan)
		// The CLI's verify, from the record: exit 0, or 1 only for overrides (logged).
		r := runCLI(t, cliExe, "verify", "--sid", sid, "--state-dir", stateDir, "--format", "json")
		if r.code != 0 && r.code != 1 {
			t.Fatalf("verify: %s", r)
		}
		var rep reconcile.Report
		decodeJSON(t, r, &rep)
		if compliant := checkAsPlanned(t, "the CLI's verify", &rep, newPlan); compliant != (r.code == 0) {
			t.Errorf("verify exited %d with compliant %v", r.code, compliant)
		}
		if _, err := os.Stat(filepath.Join(stateDir, "accounts", sid+".json")); err != nil {
			t.Errorf("the caller's record is gone after service uninstall: %v", err)
		}
	})
}

// recordT is a setup record.
type recordT = state.Record

// recordedPlan is the plan the account's record holds, rebuilt as the service and
// verify rebuild it (setup.RecordedPlan), and the record.
func recordedPlan(t *testing.T, stateDir, sid string) (*policy.Plan, *recordT) {
	t.Helper()
	plan, rec, recErr, err := setup.RecordedPlan(stateDir, sid, setup.Given{})
	if err != nil || recErr != nil || rec == nil {
		t.Fatalf("the record of %s in %s: %v %v (record %v)", sid, stateDir, err, recErr, rec != nil)
	}
	if plan.Hash() != rec.PlanHash {
		t.Fatalf("the record's plan builds to %s, the record says %s", plan.Hash(), rec.PlanHash)
	}
	return plan, rec
}

// requireStatusOf checks a status answer: the account, its record's plan and
// ports, current, and a live verify (as SYSTEM sees it) finding every planned filter.
func requireStatusOf(t *testing.T, st *service.StatusResult, sid string, plan *policy.Plan, rec *recordT, ports []uint16) {
	t.Helper()
	switch {
	case st == nil:
		t.Fatal("the status answer has no account")
	case st.Verify == nil:
		t.Fatalf("the status answer has no verify report: %+v", st)
	}
	var bad []string
	if st.SID != sid {
		bad = append(bad, fmt.Sprintf("sid %s", st.SID))
	}
	if st.Profile != string(policy.Strict) || !slices.Equal(st.ProxyPorts, ports) {
		bad = append(bad, fmt.Sprintf("profile %s ports %v, want strict %v", st.Profile, st.ProxyPorts, ports))
	}
	if st.PlanHash != rec.PlanHash {
		bad = append(bad, fmt.Sprintf("plan %s, the record's is %s", st.PlanHash, rec.PlanHash))
	}
	if len(bad) > 0 {
		t.Errorf("status of %s: %s", sid, strings.Join(bad, "; "))
	}
	// The live verify, as the service (SYSTEM) sees it.
	if checkAsPlanned(t, "the service's status verify", st.Verify, plan) && !st.Current {
		t.Errorf("status of %s: every planned filter as planned, nothing overridden, but current is false (setup version %d)", sid, st.SetupVersion)
	}
}

// requireAsPlanned verifies plan on the engine (reconcile.Verify) with checkAsPlanned.
func requireAsPlanned(t *testing.T, e wfp.Engine, plan *policy.Plan) {
	t.Helper()
	rep, err := reconcile.Verify(e, plan)
	if err != nil {
		t.Fatalf("reconcile.Verify: %v", err)
	}
	checkAsPlanned(t, "reconcile.Verify", rep, plan)
}

// checkAsPlanned fails the test unless a verify report finds every planned filter
// installed as planned. A finding that another owner's filter can override one of
// our blocks (reconcile.ProblemOverride) is the host's other software, not the
// service's doing: it is logged, not failed (TestLiveBFE's requireCompliant is the
// strict check, on the baseline profile). It reports whether the report is fully
// compliant.
func checkAsPlanned(t *testing.T, what string, rep *reconcile.Report, plan *policy.Plan) bool {
	t.Helper()
	var bad, overrides []string
	for _, f := range rep.Findings {
		line := fmt.Sprintf("%s %s {%s} %q: %s", f.Problem, f.Kind, f.Key, f.Name, f.Detail)
		if f.Problem == reconcile.ProblemOverride {
			overrides = append(overrides, line)
		} else {
			bad = append(bad, line)
		}
	}
	if rep.Planned != len(plan.Filters) || rep.Matching != len(plan.Filters) {
		bad = append(bad, fmt.Sprintf("%d of %d filters matching, want %d of %d", rep.Matching, rep.Planned, len(plan.Filters), len(plan.Filters)))
	}
	if len(overrides) > 0 {
		t.Logf("%s: another owner's filter can override a block (the host's, logged only):\n  %s", what, strings.Join(overrides, "\n  "))
	}
	if len(bad) > 0 {
		t.Errorf("%s: the policy is not as planned:\n  %s", what, strings.Join(bad, "\n  "))
	}
	return rep.Compliant
}

// scmStatus is `service status --format json` as the test's account: the service
// control manager's view, no pipe.
func scmStatus(t *testing.T, cliExe string) *serviceStatusDoc {
	t.Helper()
	var st serviceStatusDoc
	decodeJSON(t, requireRun(t, 0, runCLI(t, cliExe, "service", "status", "--format", "json")), &st)
	return &st
}

// requireRun fails the test unless r exited with want, and returns r.
func requireRun(t *testing.T, want uint32, r *cliRun) *cliRun {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d:\n%s", r.code, want, r)
	}
	return r
}

// requireUnchanged fails unless two snapshots hold the same filters with the same
// run-time IDs and definitions: nothing was deleted, added or re-added.
func requireUnchanged(t *testing.T, when string, before, after snapshot) {
	t.Helper()
	var bad []string
	for k, b := range before {
		a := after[k]
		switch {
		case a == nil:
			bad = append(bad, "gone: "+describeFilter(b))
		case a.ID != b.ID:
			bad = append(bad, fmt.Sprintf("re-added (id %d, was %d): %s", a.ID, b.ID, describeFilter(a)))
		case !sameFilter(a, b):
			bad = append(bad, fmt.Sprintf("changed:\n    was %s\n    now %s", describeFilter(b), describeFilter(a)))
		}
	}
	for k, a := range after {
		if before[k] == nil {
			bad = append(bad, "new: "+describeFilter(a))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s, the wfpsandbox filters differ:\n  %s", when, strings.Join(bad, "\n  "))
	}
}

// serviceLog is the service's log file in the state directory, for failure messages.
func serviceLog(stateDir string) string {
	matches, _ := filepath.Glob(filepath.Join(stateDir, "*.log"))
	var sb strings.Builder
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			fmt.Fprintf(&sb, "\n%s: %v", m, err)
			continue
		}
		if len(b) > 16<<10 {
			b = b[len(b)-16<<10:]
		}
		fmt.Fprintf(&sb, "\n--- %s (tail) ---\n%s", m, b)
	}
	if sb.Len() == 0 {
		return "(no *.log in " + stateDir + ")"
	}
	return sb.String()
}
