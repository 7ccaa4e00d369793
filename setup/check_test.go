package setup

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func (h *host) check(o CheckOptions) *CheckResult {
	h.t.Helper()
	o.StateDir, o.Resolve = h.dir, fakeResolve
	if o.Logger == nil {
		o.Logger = h.log.logger()
	}
	c, err := Check(context.Background(), o)
	if err != nil {
		h.t.Fatalf("Check: %v", err)
	}
	return c
}

// editMarker rewrites the marker through f (simulating an older install).
func (h *host) editMarker(f func(*Marker)) {
	h.t.Helper()
	m := h.marker()
	f(m)
	if err := WriteMarker(h.dir, m); err != nil {
		h.t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	h := newHost(t)
	if c := h.check(CheckOptions{Account: "sandbox"}); !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonNoMarker}) {
		t.Errorf("before setup: %v", c.Reasons)
	}
	if c := h.check(CheckOptions{}); !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonNoMarker}) {
		t.Errorf("before setup, no account: %v", c.Reasons)
	}
	h.run(h.opts("sandbox"))

	t.Run("current", func(t *testing.T) {
		for _, o := range []CheckOptions{{}, {Account: "sandbox"}, {Account: sidA, Profile: policy.Baseline}, {Open: h.open}} {
			if c := h.check(o); !c.Current() {
				t.Errorf("Check(%+v) reasons %v", o, c.Reasons)
			}
		}
		c := h.check(CheckOptions{Open: h.open})
		if !c.Live || !c.LiveCheck.Current {
			t.Errorf("live policy not read: %+v", c)
		}
	})
	t.Run("account SID changed", func(t *testing.T) {
		c := h.check(CheckOptions{Account: "other"})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonAccountChanged, ReasonPlanChanged}) {
			t.Errorf("reasons %v", c.Reasons)
		}
	})
	t.Run("profile changed", func(t *testing.T) {
		c := h.check(CheckOptions{Profile: policy.Strict})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonProfileChanged, ReasonPlanChanged}) {
			t.Errorf("reasons %v", c.Reasons)
		}
	})
	t.Run("plan changed", func(t *testing.T) {
		c := h.check(CheckOptions{UserMatch: policy.MatchAllow})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonPlanChanged}) {
			t.Errorf("reasons %v", c.Reasons)
		}
	})
	t.Run("engine unreadable falls back to the marker", func(t *testing.T) {
		c := h.check(CheckOptions{Open: func() (wfp.Engine, error) { return nil, wfp.ErrAccessDenied }})
		if !c.Current() || c.Live || c.LiveError == "" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("live drift", func(t *testing.T) {
		plan, _ := policy.Build(policy.Options{SID: sidA})
		e, err := h.open()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.DeleteFilter(plan.Filters[0].Key); err != nil {
			t.Fatal(err)
		}
		e.Close()
		c := h.check(CheckOptions{Open: h.open})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonPolicyDrift}) {
			t.Errorf("reasons %v", c.Reasons)
		}
		// Without the engine the marker alone says current.
		if c := h.check(CheckOptions{}); !c.Current() {
			t.Errorf("marker-only reasons %v", c.Reasons)
		}
		h.run(h.opts("sandbox")) // repair
		if c := h.check(CheckOptions{Open: h.open}); !c.Current() {
			t.Errorf("after repair: %v", c.Reasons)
		}
	})
	t.Run("setup version bumped", func(t *testing.T) {
		// This build's marker, seen by a build whose SetupVersion was bumped.
		m := h.marker()
		rs := NeedsSetup(m, nil, Want{SetupVersion: SetupVersion + 1, SID: sidA, Profile: "baseline", PlanHash: m.PlanHash})
		if !slices.Equal(reasonCodes(rs), []ReasonCode{ReasonVersionChanged}) {
			t.Errorf("after a bump: %v", rs)
		}
		// A marker of another setup version, seen by this build.
		h.editMarker(func(m *Marker) { m.SetupVersion = SetupVersion + 1 })
		c := h.check(CheckOptions{})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonVersionChanged}) {
			t.Errorf("reasons %v", c.Reasons)
		}
		rep := h.run(h.opts("sandbox"))
		if !hasReason(rep.Reasons, ReasonVersionChanged) || h.marker().SetupVersion != SetupVersion {
			t.Errorf("rerun did not record this version: %v", rep.Reasons)
		}
	})
	t.Run("step missing", func(t *testing.T) {
		h.editMarker(func(m *Marker) { m.Steps = m.Steps[:1] })
		c := h.check(CheckOptions{})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonIncomplete}) {
			t.Errorf("reasons %v", c.Reasons)
		}
		h.run(h.opts("sandbox"))
	})
}

func TestCheckDefersFailedStepRetry(t *testing.T) {
	h := newHost(t)
	h.openErr = &wfp.CallError{Call: "FwpmEngineOpen0", Code: wfp.ErrEPTNotRegistered}
	h.run(h.opts("sandbox"))
	finished := h.marker().Steps[1].Finished

	at := func(d time.Duration) *CheckResult {
		return h.check(CheckOptions{Now: func() time.Time { return finished.Add(d) }})
	}
	if c := at(30 * time.Second); !c.Current() || len(c.Deferred) != 1 || !c.Deferred[0].Due.Equal(finished.Add(time.Minute)) {
		t.Errorf("30 s after one failure: reasons %v deferred %v; want deferred to +1m", c.Reasons, c.Deferred)
	}
	if c := at(61 * time.Second); !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonStepFailed}) {
		t.Errorf("61 s after one failure: %v", c.Reasons)
	}
	if c := h.check(CheckOptions{RetryBackoff: -1}); c.Current() {
		t.Error("RetryBackoff < 0 deferred anyway")
	}
	// Three failures in a row: 4 minutes.
	h.run(h.opts("sandbox"))
	h.run(h.opts("sandbox"))
	m := h.marker()
	finished = m.Steps[1].Finished
	if m.Steps[1].Failures != 3 {
		t.Fatalf("failures = %d", m.Steps[1].Failures)
	}
	if c := at(3 * time.Minute); !c.Current() {
		t.Errorf("3 min after 3 failures: %v", c.Reasons)
	}
	if c := at(4*time.Minute + time.Second); c.Current() {
		t.Error("4 min after 3 failures: still deferred")
	}
	// Another reason makes the failed step due at once.
	if c := h.check(CheckOptions{Profile: policy.Strict}); !hasReason(c.Reasons, ReasonStepFailed) || len(c.Deferred) != 0 {
		t.Errorf("with a profile change: reasons %v deferred %v", c.Reasons, c.Deferred)
	}
}

func TestRetryDueCapped(t *testing.T) {
	t0 := time.Unix(0, 0)
	if got := retryDue(t0, 100, time.Minute); got.Sub(t0) != maxRetryBackoff {
		t.Errorf("100 failures: %v", got.Sub(t0))
	}
}

func TestCheckBadAccount(t *testing.T) {
	h := newHost(t)
	_, err := Check(context.Background(), CheckOptions{StateDir: h.dir, Account: "nobody", Resolve: fakeResolve})
	if !errors.Is(err, ErrInput) {
		t.Errorf("err = %v, want ErrInput", err)
	}
}

// TestCheckAfterSetupWithExtraRules: a setup given extra rules (a policy file) must not
// make a bare "ensure" think the plan changed — that would prompt for elevation on
// every start (openai/codex issue 31556).
func TestCheckAfterSetupWithExtraRules(t *testing.T) {
	h := newHost(t)
	extra := policy.BaselineRules()[0]
	extra.ID, extra.Name = "extra-test", "extra test rule"
	o := h.opts("sandbox")
	o.Extra = []policy.Rule{extra}
	if rep := h.run(o); rep.WFPFailed() || rep.FilterCount != 13 {
		t.Fatalf("setup with an extra rule: %+v", rep)
	}
	c := h.check(CheckOptions{Open: h.open})
	if !c.Current() || c.Live {
		t.Errorf("bare check: reasons %v live %v (%s)", c.Reasons, c.Live, c.LiveError)
	}
	c = h.check(CheckOptions{Open: h.open, Extra: []policy.Rule{extra}})
	if !c.Current() || !c.Live {
		t.Errorf("check with the same rules: reasons %v live %v (%s)", c.Reasons, c.Live, c.LiveError)
	}
	if c := h.check(CheckOptions{Profile: policy.Baseline}); !hasReason(c.Reasons, ReasonPlanChanged) {
		t.Errorf("explicit options without the extra rule: %v", c.Reasons)
	}
}

func TestCheckAfterComputerRename(t *testing.T) {
	h := newHost(t)
	h.run(h.opts("sandbox"))
	h.editMarker(func(m *Marker) { m.Account.Domain = "OLDNAME" }) // OLDNAME\sandbox no longer resolves
	if c := h.check(CheckOptions{}); !c.Current() || c.Account.SID != sidA {
		t.Errorf("after a rename: %+v", c)
	}
}
