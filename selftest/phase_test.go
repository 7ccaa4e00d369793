package selftest

import (
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// A phase against an installed policy gets its own report: the prober's controls and
// control checks, its own config and policy results, and it settles the hypotheses on
// its own; the prober's report is not touched.
func TestPhaseReport(t *testing.T) {
	allow := Config{Profile: policy.Baseline, UserMatch: policy.MatchAllow}
	base := run(t, deny, faithful(deny), allChecksOK)
	base.Host.FirewallOn = map[string]bool{"Public": true}
	base.Account, base.Other = testSID, "S-1-5-21-9-9-9-500"
	base.NotRun = append(base.NotRun, "a note")
	ph, err := base.PhaseReport(allow, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if ph.Config.UserMatch != policy.MatchAllow || ph.Account != base.Account || ph.Other != base.Other || len(ph.NotRun) != 1 {
		t.Fatalf("phase report %+v", ph)
	}
	ph.Host.FirewallOn["Public"] = false
	if !base.Host.FirewallOn["Public"] {
		t.Error("the phase report shares the host facts' map with the prober's")
	}
	for _, id := range []string{CheckLogon, CheckChildren} {
		if _, ok := ph.check(id); !ok {
			t.Errorf("control check %s not carried over", id)
		}
	}
	if _, ok := ph.check(CheckInstall); ok {
		t.Error("the install check of the prober's own phase was carried over")
	}
	h := faithful(allow)
	for i := range ph.Cells {
		c := &ph.Cells[i]
		if b := base.Cell(c.Probe, c.Identity); b == nil || c.Control != b.Control {
			t.Fatalf("%s as %s: control %+v, prober's %+v", c.Probe, c.Identity, c.Control, b)
		}
		if c.Policy.Outcome != OutcomeNotRun {
			t.Fatalf("%s as %s: a policy result before the phase ran", c.Probe, c.Identity)
		}
		p, _ := ph.probe(c.Probe)
		_, c.Policy = h(p, c.Identity)
	}
	for _, c := range allChecksOK[:3] {
		ph.SetCheck(c)
	}
	ph.Evaluate()
	if s := status(t, ph, "children-blocked"); s != NotObservable {
		t.Errorf("children-blocked under allow: %s", s)
	}
	if ph.Verdict.ExitCode != ExitHeld {
		t.Errorf("allow phase verdict %+v", ph.Verdict)
	}
	if status(t, base, "children-blocked") != Confirmed || base.Config.UserMatch != policy.MatchDeny {
		t.Error("the prober's report changed")
	}
	// Another profile lays out other probes: refused.
	if _, err := base.PhaseReport(Config{Profile: policy.Strict, UserMatch: policy.MatchDeny}, time.Unix(1, 0)); err == nil {
		t.Error("a strict phase against a baseline prober was accepted")
	}
}

// The checks of a phase against a persistent install read the real plan back; Run's
// report never has the persistence check, so its hypothesis keeps Run's wording.
func TestInstalledChecks(t *testing.T) {
	plan, err := policy.Build(policy.Options{SID: testSID, UserMatch: policy.MatchDeny})
	if err != nil {
		t.Fatal(err)
	}
	e := memengine.NewBFE().Open()
	get := func(cs []Check, id string) Check {
		for _, c := range cs {
			if c.ID == id {
				return c
			}
		}
		t.Fatalf("no check %s in %+v", id, cs)
		return Check{}
	}
	// Not installed: the read fails, install is refuted.
	cs := InstalledChecks(Installed{Plan: plan, Engine: e, By: "reconcile.Install"})
	if c := get(cs, CheckInstall); !c.Ran || c.OK {
		t.Errorf("install of nothing: %+v", c)
	}
	if err := e.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e.AddProvider(plan.Provider); err != nil {
		t.Fatal(err)
	}
	if err := e.AddSublayer(plan.Sublayer); err != nil {
		t.Fatal(err)
	}
	for _, f := range plan.Filters {
		if _, err := e.AddFilter(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.CommitTransaction(); err != nil {
		t.Fatal(err)
	}
	cs = InstalledChecks(Installed{Plan: plan, Engine: e, By: "reconcile.Install", AfterRestart: true})
	for _, id := range []string{CheckInstall, CheckVerify, CheckEnumScoped, CheckPersistence} {
		if c := get(cs, id); !c.Ran || !c.OK {
			t.Errorf("%s: %+v", id, c)
		}
	}
	for _, id := range []string{CheckNotEqualSD, CheckCleanup} {
		if c := get(cs, id); c.Ran {
			t.Errorf("%s ran: %+v", id, c)
		}
	}
	r := run(t, deny, faithful(deny), append(allChecksOK[3:], cs...))
	if s := status(t, r, "persistent-filters-survive-bfe-restart"); s != Confirmed {
		t.Errorf("persistence with the check: %s", s)
	}
	if r.Verdict.ExitCode != ExitHeld {
		t.Errorf("verdict %+v", r.Verdict)
	}
	// A filter gone after the restart: install and persistence refuted.
	if err := e.DeleteFilter(plan.Filters[len(plan.Filters)-1].Key); err != nil {
		t.Fatal(err)
	}
	cs = InstalledChecks(Installed{Plan: plan, Engine: e, AfterRestart: true})
	if c := get(cs, CheckPersistence); !c.Ran || c.OK || !strings.Contains(c.Detail, "not in the engine") {
		t.Errorf("persistence with a filter gone: %+v", c)
	}
	// No engine: nothing read back, so verify is not run.
	cs = InstalledChecks(Installed{Plan: plan})
	if c := get(cs, CheckVerify); c.Ran {
		t.Errorf("verify without an engine: %+v", c)
	}
	// Run's report: no persistence check, the hypothesis says why in Run's words.
	r = run(t, deny, faithful(deny), allChecksOK)
	h := r.hypothesis("persistent-filters-survive-bfe-restart")
	if h.Status != NotObservable || h.Safety || len(h.Evidence) != 1 || !strings.Contains(h.Evidence[0], "adds nothing persistent") {
		t.Errorf("Run's persistence hypothesis: %+v", h)
	}
}

func TestBlockedSince(t *testing.T) {
	base := run(t, deny, faithful(deny), allChecksOK)
	again := run(t, deny, faithful(deny), allChecksOK)
	if got := again.BlockedSince(base); len(got) != 0 {
		t.Errorf("the same controls: %v", got)
	}
	// One attempt blocked now; raw ICMP was blocked in both (not counted).
	c := again.Cell("dns-udp-loopback-v4", Identity{WhoAccount, TokenNormal})
	c.Control = *blocked
	got := again.BlockedSince(base)
	if len(got) != 1 || !strings.Contains(got[0], "dns-udp-loopback-v4 as account/normal") {
		t.Errorf("one still blocked: %v", got)
	}
}

// A phase against another plan reads that plan's filter; the prober's plans stay.
func TestWithReadKey(t *testing.T) {
	id := Identity{WhoAccount, TokenNormal}
	plans := map[Identity][]probeproto.Attempt{}
	plans[id], _ = Attempts(Probes(deny), id, Addresses{}, "old")
	got := withReadKey(plans, "new")
	n := 0
	for i, a := range got[id] {
		if a.Kind == probeproto.KindWFPRead {
			n++
			if a.Key != "new" || plans[id][i].Key != "old" {
				t.Errorf("read attempt: %+v, prober's %+v", a, plans[id][i])
			}
		} else if a != plans[id][i] {
			t.Errorf("%s changed: %+v", a.Name, a)
		}
	}
	if n != 1 {
		t.Errorf("%d read attempts", n)
	}
}
