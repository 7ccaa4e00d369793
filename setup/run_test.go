package setup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func TestRunInstallsAndWritesRecord(t *testing.T) {
	h := newHost(t)
	rep := h.run(h.opts("sandbox"))
	if rep.WFPFailed() {
		t.Fatalf("WFP step failed: %+v", rep.Steps)
	}
	if !hasReason(rep.Reasons, ReasonNoRecord) {
		t.Errorf("first run reasons = %v, want no-record", reasonCodes(rep.Reasons))
	}
	if v := h.verify(sidA, policy.Baseline, ""); !v.Compliant || v.Planned != 16 {
		t.Fatalf("engine not compliant after setup: %+v", v)
	}
	m := h.record(sidA)
	if m.SetupVersion != SetupVersion || m.Account.SID != sidA || m.Account.Name != "sandbox" ||
		m.Profile != "baseline" || m.FilterCount != 16 || m.PlanHash != rep.PlanHash || m.ToolVersion != "test" {
		t.Errorf("record = %+v", m)
	}
	s, ok := m.Step(StepWFP)
	if !ok || s.Status != StatusOK || s.Attempts != 1 || s.Writes != 18 || s.Finished.Before(s.Started) {
		t.Errorf("record wfp step = %+v, want ok after 1 attempt with 18 writes (provider, the account's sublayer, 4 guards, 12 blocks)", s)
	}
	// A second run on a converged host: nothing needed, zero writes, still ok.
	rep2 := h.run(h.opts("sandbox"))
	if len(rep2.Reasons) != 0 {
		t.Errorf("second run reasons = %v, want none", rep2.Reasons)
	}
	if s, _ := rep2.Step(StepWFP); s.Status != StatusOK || s.Writes != 0 {
		t.Errorf("converged run wfp step = %+v, want ok with 0 writes", s)
	}
	for _, want := range []string{"step account: ok", "step wfp: ok", "setup done", "event=100", "event=110"} {
		if !strings.Contains(h.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, h.log.String())
		}
	}
}

// TestWFPFailureIsNonFatalAndRetried is the end-to-end non-fatal path: a WFP error
// leaves the other steps done and the failure recorded; the next run retries it.
func TestWFPFailureIsNonFatalAndRetried(t *testing.T) {
	h := newHost(t)
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmFilterAdd0" {
			return wfp.ErrAccessDenied
		}
		return nil
	}
	rep, err := Run(context.Background(), h.opts("sandbox"))
	if err != nil {
		t.Fatalf("Run failed although only WFP failed: %v", err)
	}
	if !rep.WFPFailed() {
		t.Fatalf("report does not say the WFP step failed: %+v", rep.Steps)
	}
	s, _ := rep.Step(StepWFP)
	if s.Call != "FwpmFilterAdd0" || s.Code != wfp.ErrAccessDenied.Error() || s.Unavailable || s.Failures != 1 {
		t.Errorf("wfp step = %+v, want FwpmFilterAdd0 / ERROR_ACCESS_DENIED, 1 failure", s)
	}
	if s.Attempts != 1 {
		t.Errorf("access denied tried %d times in one run, want 1 (not transient)", s.Attempts)
	}
	if a, _ := rep.Step(StepAccount); a.Status != StatusOK {
		t.Errorf("account step = %+v", a)
	}
	if n := h.filters(); n != 0 {
		t.Errorf("%d filters installed after an aborted transaction", n)
	}
	m := h.record(sidA)
	if ms, _ := m.Step(StepWFP); ms.Status != StatusFailed || !strings.Contains(ms.Error, "ERROR_ACCESS_DENIED") {
		t.Errorf("record wfp step = %+v, want failed with the code", ms)
	}
	if !strings.Contains(h.log.String(), "event=101") || !strings.Contains(h.log.String(), "call=FwpmFilterAdd0") {
		t.Errorf("log lacks the WFP failure event naming the call:\n%s", h.log.String())
	}
	// Check (ensure) sees the failure as a reason to run.
	c, err := Check(context.Background(), CheckOptions{StateDir: h.dir, Resolve: fakeResolve, RetryBackoff: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !hasReason(c.Reasons, ReasonStepFailed) {
		t.Errorf("Check reasons = %v, want step-failed", reasonCodes(c.Reasons))
	}
	// A second failing run counts consecutive failures.
	rep = h.run(h.opts("sandbox"))
	if s, _ := rep.Step(StepWFP); s.Failures != 2 {
		t.Errorf("second failure: failures = %d, want 2", s.Failures)
	}
	// The fault is gone: the next run retries and succeeds.
	h.fault = nil
	rep = h.run(h.opts("sandbox"))
	if rep.WFPFailed() {
		t.Fatalf("retry failed: %+v", rep.Steps)
	}
	if !hasReason(rep.Reasons, ReasonStepFailed) {
		t.Errorf("retry run reasons = %v, want step-failed", reasonCodes(rep.Reasons))
	}
	if v := h.verify(sidA, policy.Baseline, ""); !v.Compliant {
		t.Errorf("not compliant after the retry: %+v", v.Findings)
	}
	if ms, _ := h.record(sidA).Step(StepWFP); ms.Status != StatusOK || ms.Failures != 0 || ms.Error != "" {
		t.Errorf("record after retry = %+v", ms)
	}
}

func TestWFPUnavailable(t *testing.T) {
	h := newHost(t)
	h.openErr = &wfp.CallError{Call: "FwpmEngineOpen0", Code: wfp.ErrRPCCannotSupport}
	rep := h.run(h.opts("sandbox"))
	s, _ := rep.Step(StepWFP)
	if !rep.WFPFailed() || !s.Unavailable || s.Call != "FwpmEngineOpen0" || s.Attempts != 1 {
		t.Errorf("wfp step = %+v, want failed, unavailable, FwpmEngineOpen0, 1 attempt", s)
	}
	if rep.RecordPath == "" {
		t.Error("no record written")
	}
}

func TestTransientWFPErrorRetriedWithinRun(t *testing.T) {
	h := newHost(t)
	begins := 0
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmTransactionBegin0" {
			begins++
			if begins <= 2 {
				return wfp.ErrTimeout
			}
		}
		return nil
	}
	rep := h.run(h.opts("sandbox"))
	s, _ := rep.Step(StepWFP)
	if rep.WFPFailed() || s.Attempts != 3 {
		t.Errorf("wfp step = %+v, want ok after 3 attempts", s)
	}
	// With only 2 attempts allowed, the same fault fails the step.
	h2 := newHost(t)
	begins = 0
	h2.fault = h.fault
	o := h2.opts("sandbox")
	o.WFPAttempts = 2
	rep = h2.run(o)
	if s, _ := rep.Step(StepWFP); !rep.WFPFailed() || s.Attempts != 2 || s.Code != wfp.ErrTimeout.Error() {
		t.Errorf("wfp step = %+v, want failed FWP_E_TIMEOUT after 2 attempts", s)
	}
}

func TestRunBadInputChangesNothing(t *testing.T) {
	h := newHost(t)
	for _, acct := range []string{"", "nobody", "S-1-5-18"} {
		_, err := Run(context.Background(), h.opts(acct))
		if !errors.Is(err, ErrInput) {
			t.Errorf("Run(%q) = %v, want ErrInput", acct, err)
		}
	}
	if h.opens != 0 {
		t.Errorf("engine opened %d times for bad input", h.opens)
	}
	// Not even the state directory (or the lock in it) is created.
	if _, err := os.Stat(h.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad input created the state directory %s: %v", h.dir, err)
	}
	for _, acct := range []string{"", "nobody", "S-1-5-18"} {
		if err := CheckInput(h.opts(acct)); !errors.Is(err, ErrInput) {
			t.Errorf("CheckInput(%q) = %v, want ErrInput", acct, err)
		}
	}
	if err := CheckInput(h.opts(sidB)); err != nil {
		t.Errorf("CheckInput(%s) = %v", sidB, err)
	}
	if ents, err := state.List(h.dir); err != nil || len(ents) != 0 {
		t.Errorf("records after bad input: %+v, %v", ents, err)
	}
	// An unusable record or old marker stays where it is: only a run that goes ahead
	// sets it aside.
	corrupt := []byte(`{"format": 1, "setupVer`)
	if err := os.MkdirAll(filepath.Join(h.dir, state.AccountsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(h.dir, state.LegacyMarkerFile), state.Path(h.dir, sidA)} {
		if err := os.WriteFile(p, corrupt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, acct := range []string{"nobody", "S-1-5-18"} {
		if rep, err := Run(context.Background(), h.opts(acct)); !errors.Is(err, ErrInput) || rep.SetAside != "" {
			t.Errorf("Run(%q) with a corrupt record = set aside %q, %v; want nothing set aside, ErrInput", acct, rep.SetAside, err)
		}
	}
	o := h.opts("sandbox")
	o.FromRecord = true // with no usable record: bad input
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrInput) {
		t.Errorf("FromRecord with a corrupt record: %v, want ErrInput", err)
	}
	for _, p := range []string{filepath.Join(h.dir, state.LegacyMarkerFile), state.Path(h.dir, sidA)} {
		if got, err := os.ReadFile(p); err != nil || string(got) != string(corrupt) {
			t.Errorf("%s after bad input: %q, %v; want it untouched", p, got, err)
		}
	}
	if !strings.Contains(h.log.String(), "event=102") {
		t.Errorf("no setup-error event logged:\n%s", h.log.String())
	}
}

func TestRunWithoutNameLookupAcceptsSID(t *testing.T) {
	h := newHost(t)
	o := h.opts(sidB)
	o.Resolve = func(string) (acct account.Account, err error) {
		return acct, fmt.Errorf("resolving: %w", account.ErrNotWindows)
	}
	rep := h.run(o)
	if rep.Account.SID != sidB || rep.WFPFailed() {
		t.Errorf("report = %+v", rep)
	}
	o.Account = "sandbox"
	if _, err := Run(context.Background(), o); !errors.Is(err, account.ErrNotWindows) {
		t.Errorf("a name without lookup: %v, want ErrNotWindows", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	h := newHost(t)
	o := h.opts("sandbox")
	o.DryRun = true
	rep := h.run(o)
	if !rep.DryRun || len(rep.Changes) != 18 || rep.Writes != 0 || rep.WFPFailed() {
		t.Errorf("dry run report: dryRun %v, %d changes, %d writes", rep.DryRun, len(rep.Changes), rep.Writes)
	}
	if _, err := os.Stat(h.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run created the state directory: %v", err)
	}
	if n := h.filters(); n != 0 {
		t.Errorf("dry run installed %d filters", n)
	}
}

func TestRunWithoutAccountLogsAndNeedsNoLogger(t *testing.T) {
	if _, err := Run(context.Background(), Options{StateDir: t.TempDir()}); !errors.Is(err, ErrInput) {
		t.Errorf("no account, no logger: %v", err)
	}
	h := newHost(t)
	if _, err := Run(context.Background(), h.opts(" ")); !errors.Is(err, ErrInput) || !strings.Contains(h.log.String(), "event=102") {
		t.Errorf("blank account: %v\n%s", err, h.log.String())
	}
}

// TestFailureCountIsPerAccountAndPlan: the consecutive-failure count (which grows
// ensure's retry backoff) continues only for the same account and plan; a failure
// recorded for another account starts the count afresh.
func TestFailureCountIsPerAccountAndPlan(t *testing.T) {
	h := newHost(t)
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmFilterAdd0" {
			return wfp.ErrAccessDenied
		}
		return nil
	}
	h.run(h.opts("sandbox"))
	rep := h.run(h.opts("sandbox"))
	if s, _ := rep.Step(StepWFP); s.Failures != 2 {
		t.Fatalf("same account: failures = %d, want 2", s.Failures)
	}
	rep = h.run(h.opts("other"))
	if s, _ := rep.Step(StepWFP); s.Failures != 1 {
		t.Errorf("another account after two failures of the first: failures = %d, want 1", s.Failures)
	}
}
