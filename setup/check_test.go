package setup

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/state"
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

// editRecord rewrites sandbox's record through f (simulating an older install).
func (h *host) editRecord(f func(*state.Record)) {
	h.t.Helper()
	m := h.record(sidA)
	f(m)
	if err := state.Write(h.dir, m); err != nil {
		h.t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	h := newHost(t)
	if c := h.check(CheckOptions{Account: "sandbox"}); !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonNoRecord}) {
		t.Errorf("before setup: %v", c.Reasons)
	}
	if c := h.check(CheckOptions{}); !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonNoRecord}) {
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
	t.Run("another account", func(t *testing.T) {
		// Another account has no record of its own: sandbox's says nothing about it.
		c := h.check(CheckOptions{Account: "other"})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonNoRecord}) {
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
	t.Run("engine unreadable falls back to the record", func(t *testing.T) {
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
		// Without the engine the record alone says current.
		if c := h.check(CheckOptions{}); !c.Current() {
			t.Errorf("record-only reasons %v", c.Reasons)
		}
		h.run(h.opts("sandbox")) // repair
		if c := h.check(CheckOptions{Open: h.open}); !c.Current() {
			t.Errorf("after repair: %v", c.Reasons)
		}
	})
	t.Run("setup version bumped", func(t *testing.T) {
		// This build's record, seen by a build whose SetupVersion was bumped.
		m := h.record(sidA)
		rs := NeedsSetup(m, nil, Want{SetupVersion: SetupVersion + 1, SID: sidA, Profile: "baseline", PlanHash: m.PlanHash})
		if !slices.Equal(reasonCodes(rs), []ReasonCode{ReasonVersionChanged}) {
			t.Errorf("after a bump: %v", rs)
		}
		// A record of another setup version, seen by this build.
		h.editRecord(func(m *state.Record) { m.SetupVersion = SetupVersion + 1 })
		c := h.check(CheckOptions{})
		if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonVersionChanged}) {
			t.Errorf("reasons %v", c.Reasons)
		}
		rep := h.run(h.opts("sandbox"))
		if !hasReason(rep.Reasons, ReasonVersionChanged) || h.record(sidA).SetupVersion != SetupVersion {
			t.Errorf("rerun did not record this version: %v", rep.Reasons)
		}
	})
	t.Run("step missing", func(t *testing.T) {
		h.editRecord(func(m *state.Record) { m.Steps = m.Steps[:1] })
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
	finished := h.record(sidA).Steps[1].Finished

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
	m := h.record(sidA)
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

// extraFile is a policy file with one extra rule (SSH blocked).
func extraFile(t *testing.T) *policy.File {
	t.Helper()
	f, err := policy.ParseFile("extra.toml", []byte("[[rule]]\nid = \"ssh\"\naction = \"block\"\nprotocol = \"tcp\"\nports = [22]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCheckAfterSetupWithPolicyFile: the record holds a policy file's rules, so a bare
// check rebuilds the exact plan — it neither calls the host changed (which would
// prompt for elevation on every start, openai/codex issue 31556) nor calls it current
// when the file's filters are gone.
func TestCheckAfterSetupWithPolicyFile(t *testing.T) {
	h := newHost(t)
	o := h.opts("sandbox")
	o.Policy = extraFile(t)
	if rep := h.run(o); rep.WFPFailed() || rep.FilterCount != 18 { // 4 guards, 12 blocks, the file's rule at connect v4 and v6
		t.Fatalf("setup with a policy file: %+v", rep)
	}
	if rules := h.record(sidA).Rules; len(rules) != 1 || rules[0].ID != "ssh" || rules[0].Ports[0] != "22" {
		t.Fatalf("recorded rules %+v", rules)
	}
	c := h.check(CheckOptions{Open: h.open})
	if !c.Current() || !c.Live || c.LiveCheck.Planned != 18 {
		t.Errorf("bare check: reasons %v live %v (%s) planned %d", c.Reasons, c.Live, c.LiveError, c.LiveCheck.Planned)
	}
	if c := h.check(CheckOptions{Open: h.open, Policy: extraFile(t)}); !c.Current() || !c.Live {
		t.Errorf("check with the same file: reasons %v live %v (%s)", c.Reasons, c.Live, c.LiveError)
	}
	// A profile given on its own keeps the recorded rules (only a policy file replaces them).
	if c := h.check(CheckOptions{Profile: policy.Baseline}); !c.Current() {
		t.Errorf("--profile baseline: %v", c.Reasons)
	}
	// Delete the file's two filters: a bare check sees it.
	plan, err := policy.Build(policy.Options{SID: sidA, Extra: extraFile(t).Options(sidA).Extra})
	if err != nil {
		t.Fatal(err)
	}
	e, err := h.open()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range plan.Filters[len(plan.Filters)-2:] { // the file's rule, v4 and v6
		if err := e.DeleteFilter(f.Key); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	c = h.check(CheckOptions{Open: h.open})
	if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonPolicyDrift}) || c.LiveCheck.Matching != 16 {
		t.Errorf("after deleting the file's filters: reasons %v", c.Reasons)
	}
	// ensure's setup, FromRecord, reinstalls them without the file.
	o = h.opts("sandbox")
	o.FromRecord = true
	if rep := h.run(o); rep.WFPFailed() || rep.Writes != 2 || rep.FilterCount != 18 {
		t.Errorf("setup from the record: writes %d, filters %d", rep.Writes, rep.FilterCount)
	}
	if c := h.check(CheckOptions{Open: h.open}); !c.Current() || !c.Live {
		t.Errorf("after the repair: %v", c.Reasons)
	}
}

// TestTwoAccounts: each account has its own record; neither is ever "changed" by the
// other's setup, and forgetting one leaves the other.
func TestTwoAccounts(t *testing.T) {
	h := newHost(t)
	h.run(h.opts("sandbox"))
	o := h.opts("other")
	o.Profile = policy.Strict
	h.run(o)
	for _, acct := range []string{"sandbox", "other", sidA, sidB} {
		if c := h.check(CheckOptions{Account: acct, Open: h.open}); !c.Current() || !c.Live {
			t.Errorf("check %s: reasons %v live %v (%s)", acct, c.Reasons, c.Live, c.LiveError)
		}
	}
	if c := h.check(CheckOptions{Account: "other"}); c.Profile != "strict" {
		t.Errorf("other's profile from its record: %s", c.Profile)
	}
	all, err := CheckAll(context.Background(), CheckOptions{StateDir: h.dir, Resolve: fakeResolve, Open: h.open})
	if err != nil || len(all) != 2 || all[0].Account.SID != sidA || all[1].Account.SID != sidB ||
		!all[0].Current() || !all[1].Current() {
		t.Fatalf("CheckAll = %+v, %v", all, err)
	}
	if _, err := Check(context.Background(), CheckOptions{StateDir: h.dir, Resolve: fakeResolve}); !errors.Is(err, ErrInput) {
		t.Errorf("Check with no account and two records: %v, want ErrInput", err)
	}
	if _, err := state.Remove(h.dir, sidB); err != nil {
		t.Fatal(err)
	}
	if c := h.check(CheckOptions{}); !c.Current() || c.Account.SID != sidA {
		t.Errorf("after forgetting other: %+v", c)
	}
}

// TestInvalidRecordIsNeverStuck: a record that parses but holds values setup never
// writes is a corrupt record — setup is needed and, for that account, setup sets it
// aside and writes a good one.
func TestInvalidRecordIsNeverStuck(t *testing.T) {
	for name, edit := range map[string]func(string) string{
		"unknown profile": func(s string) string { return strings.Replace(s, `"profile": "baseline"`, `"profile": "bogus"`, 1) },
		"bad plan hash": func(s string) string {
			return regexp.MustCompile(`"planHash": "[0-9a-f]+"`).ReplaceAllString(s, `"planHash": "x"`)
		},
		"negative filter count": func(s string) string { return strings.Replace(s, `"filterCount": 16`, `"filterCount": -16`, 1) },
		"malformed SID":         func(s string) string { return strings.ReplaceAll(s, `"sid": "`+sidA, `"sid": "S-1-5-21-oops`) },
		"another account's SID": func(s string) string { return strings.ReplaceAll(s, sidA, sidB) },
		"zero start time": func(s string) string {
			return regexp.MustCompile(`\n  "started": "[^"]+"`).ReplaceAllString(s, "\n  \"started\": \"0001-01-01T00:00:00Z\"")
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t)
			h.run(h.opts("sandbox"))
			path := state.Path(h.dir, sidA)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := edit(string(data))
			if bad == string(data) {
				t.Fatal("the edit changed nothing")
			}
			if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, o := range []CheckOptions{{}, {Account: "sandbox"}} {
				c, err := Check(context.Background(), CheckOptions{Account: o.Account, StateDir: h.dir, Resolve: fakeResolve})
				if err != nil {
					t.Fatalf("Check(%q): %v", o.Account, err)
				}
				if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonCorruptRecord}) || c.Account.SID != sidA || c.Record != nil {
					t.Errorf("Check(%q) = reasons %v, account %s; want corrupt-record for %s", o.Account, c.Reasons, c.Account.SID, sidA)
				}
			}
			rep := h.run(h.opts(sidA))
			if rep.SetAside == "" || !hasReason(rep.Reasons, ReasonCorruptRecord) {
				t.Errorf("setup: set aside %q, reasons %v", rep.SetAside, rep.Reasons)
			}
			if got, _ := os.ReadFile(rep.SetAside); string(got) != bad {
				t.Errorf("the backup is not the invalid record")
			}
			if c := h.check(CheckOptions{Open: h.open}); !c.Current() {
				t.Errorf("after setup: %v", c.Reasons)
			}
		})
	}
}

// TestRecordOfAnAccountNotOnThisHost: a record whose SID is no account here is not
// usable, and says so, rather than making the check fail.
func TestRecordOfAnAccountNotOnThisHost(t *testing.T) {
	h := newHost(t)
	h.run(h.opts("sandbox"))
	gone := func(s string) (account.Account, error) {
		if strings.EqualFold(s, sidA) || s == "sandbox" || s == `HOST\sandbox` {
			return account.Account{}, account.ErrNoSuchAccount
		}
		return fakeResolve(s)
	}
	c, err := Check(context.Background(), CheckOptions{StateDir: h.dir, Resolve: gone})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reasonCodes(c.Reasons), []ReasonCode{ReasonCorruptRecord}) || c.Account.SID != sidA ||
		!strings.Contains(c.Reasons[0].Detail, "uninstall --sid "+sidA) || !c.AccountMissing {
		t.Errorf("reasons %v account %+v", c.Reasons, c.Account)
	}
}

func TestCheckAfterComputerRename(t *testing.T) {
	h := newHost(t)
	h.run(h.opts("sandbox"))
	h.editRecord(func(m *state.Record) { m.Account.Domain = "OLDNAME" }) // OLDNAME\sandbox no longer resolves: the SID does
	if c := h.check(CheckOptions{}); !c.Current() || c.Account.SID != sidA {
		t.Errorf("after a rename: %+v", c)
	}
}
