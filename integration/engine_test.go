//go:build windows && wfpintegration

package integration

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"
)

// openEngine opens a non-dynamic session with the live BFE (persistent objects cannot
// be added from a dynamic one) and closes it when the (sub)test ends. Each phase opens
// its own: a BFE restart ends every session.
func openEngine(t *testing.T) wfp.Engine {
	t.Helper()
	e, err := tryOpenEngine()
	if err != nil {
		t.Fatalf("winengine.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close the engine session: %v", err)
		}
	})
	return e
}

func tryOpenEngine() (wfp.Engine, error) {
	e, err := winengine.Open(winengine.Options{
		Name:           "wfpsandbox integration test",
		Description:    "integration/ tests of github.com/wfpsandbox/wfpsandbox",
		TxnWaitTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, err // not e: a nil *Engine in a non-nil interface
	}
	return e, nil
}

// testLogger sends reconcile's records to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// requireCleanHost fails the test when anything of the wfpsandbox provider is
// installed: the test's cleanup removes all of it, and a developer's real install must
// not be the price of running the tests.
func requireCleanHost(t *testing.T) {
	t.Helper()
	e := openEngine(t)
	left, err := leftovers(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("wfpsandbox objects are already installed on this host and the test's cleanup would remove them; "+
			"run `wfpsandbox uninstall --all` first if that is intended:\n  %s", strings.Join(left, "\n  "))
	}
}

// registerUninstallAll removes every object of the wfpsandbox provider when the test
// ends, whatever happened (requireCleanHost made sure there was nothing before).
func registerUninstallAll(t *testing.T) {
	t.Cleanup(func() {
		e, err := tryOpenEngine() // not openEngine: no Fatal inside a cleanup
		if err != nil {
			t.Errorf("cleanup: winengine.Open: %v — run `wfpsandbox uninstall --all`", err)
			return
		}
		defer e.Close()
		res, err := reconcile.Uninstall(e, "", reconcile.Options{Logger: testLogger(t)})
		if err != nil {
			t.Errorf("cleanup: uninstall everything of the wfpsandbox provider: %v — run `wfpsandbox uninstall --all`", err)
			return
		}
		if left, err := leftovers(e); err != nil || len(left) > 0 {
			t.Errorf("cleanup: after uninstall (%d writes) still installed: %v %v", res.Writes, left, err)
		}
	})
}

// leftovers lists every object of the wfpsandbox provider the engine still holds,
// asked in every way the engine allows: by key, by provider-scoped enumeration, and by
// enumerating everything and filtering here (wfp-facts §10.5: how BFE treats an enum
// template with a zero layer key is not documented, so the unscoped enumeration is the
// cross-check).
func leftovers(e wfp.Engine) ([]string, error) {
	var left []string
	pk, sk := policy.ProviderKey, policy.SublayerKey
	if p, err := e.Provider(pk); err == nil {
		left = append(left, fmt.Sprintf("provider {%s} %q", p.Key, p.Name))
	} else if !errors.Is(err, wfp.ErrProviderNotFound) {
		return nil, fmt.Errorf("get the wfpsandbox provider: %w", err)
	}
	if s, err := e.Sublayer(sk); err == nil {
		left = append(left, fmt.Sprintf("sublayer {%s} %q", s.Key, s.Name))
	} else if !errors.Is(err, wfp.ErrSublayerNotFound) {
		return nil, fmt.Errorf("get the wfpsandbox sublayer: %w", err)
	}
	if subs, err := e.Sublayers(&pk); err == nil {
		for _, s := range subs {
			if s.Key != sk {
				left = append(left, fmt.Sprintf("sublayer {%s} %q", s.Key, s.Name))
			}
		}
	} else if !errors.Is(err, wfp.ErrProviderNotFound) {
		return nil, fmt.Errorf("enumerate the wfpsandbox provider's sublayers: %w", err)
	}
	scoped, err := e.Filters(&pk)
	if err != nil && !errors.Is(err, wfp.ErrProviderNotFound) {
		return nil, fmt.Errorf("enumerate the wfpsandbox provider's filters: %w", err)
	}
	for _, f := range scoped {
		left = append(left, fmt.Sprintf("filter {%s} %q (provider-scoped enumeration)", f.Key, f.Name))
	}
	all, err := e.Filters(nil)
	if err != nil {
		return nil, fmt.Errorf("enumerate all filters: %w", err)
	}
	for _, f := range all {
		if (f.ProviderKey != nil && *f.ProviderKey == pk) || f.Sublayer == sk {
			left = append(left, fmt.Sprintf("filter {%s} %q (full enumeration)", f.Key, f.Name))
		}
	}
	subs, err := e.Sublayers(nil)
	if err != nil {
		return nil, fmt.Errorf("enumerate all sublayers: %w", err)
	}
	for _, s := range subs {
		if s.Key != sk && s.ProviderKey != nil && *s.ProviderKey == pk {
			left = append(left, fmt.Sprintf("sublayer {%s} %q", s.Key, s.Name))
		}
	}
	provs, err := e.Providers()
	if err != nil {
		return nil, fmt.Errorf("enumerate all providers: %w", err)
	}
	for _, p := range provs {
		if p.Key == pk && !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "provider ") }) {
			left = append(left, fmt.Sprintf("provider {%s} %q (enumeration only)", p.Key, p.Name))
		}
	}
	return left, nil
}

// installPlan installs the baseline plan for sid in the given user-match shape with
// the library (policy.Build, reconcile.Install through winengine), then checks it:
// Verify is compliant, a second Install writes nothing, and the engine — read back
// directly, not through reconcile — holds exactly the plan's filters under the
// wfpsandbox provider and sublayer, persistent, with an ALE_USER_ID condition.
func installPlan(t *testing.T, sid string, shape policy.UserMatch) *policy.Plan {
	t.Helper()
	plan, err := policy.Build(policy.Options{SID: sid, Profile: policy.Baseline, UserMatch: shape})
	if err != nil {
		t.Fatalf("policy.Build(%s, %s): %v", sid, shape, err)
	}
	grantRead(t, plan) // as setup does: a standard user may read the objects
	e := openEngine(t)
	res, err := reconcile.Install(e, plan, reconcile.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("reconcile.Install (%s): %v", shape, err)
	}
	t.Logf("install (%s): %d writes", shape, res.Writes)
	if res.Writes == 0 {
		t.Errorf("install (%s) wrote nothing, but the host did not hold this plan", shape)
	}
	requireCompliant(t, e, plan)

	again, err := reconcile.Install(e, plan, reconcile.Options{})
	if err != nil {
		t.Fatalf("second reconcile.Install (%s): %v", shape, err)
	}
	if again.Writes != 0 || len(again.Changes) != 0 {
		t.Errorf("second install on a converged host made %d writes: %+v", again.Writes, again.Changes)
	}
	checkInstalledFilters(t, e, plan)
	return plan
}

// requireCompliant fails unless reconcile.Verify finds the plan installed as planned.
func requireCompliant(t *testing.T, e wfp.Engine, plan *policy.Plan) {
	t.Helper()
	rep, err := reconcile.Verify(e, plan)
	if err != nil {
		t.Fatalf("reconcile.Verify: %v", err)
	}
	if !rep.Compliant {
		t.Fatalf("reconcile.Verify: not compliant (%d of %d filters matching): %+v", rep.Matching, rep.Planned, rep.Findings)
	}
}

// checkInstalledFilters reads the filters back from the engine and compares keys and
// the properties that make them block: provider, sublayer, layer, persistence, hard
// action, block action, the user condition's match type. Both enumerations must agree.
func checkInstalledFilters(t *testing.T, e wfp.Engine, plan *policy.Plan) {
	t.Helper()
	pk := policy.ProviderKey
	scoped, err := e.Filters(&pk)
	if err != nil {
		t.Fatalf("enumerate the provider's filters: %v", err)
	}
	all, err := e.Filters(nil)
	if err != nil {
		t.Fatalf("enumerate all filters: %v", err)
	}
	var viaAll []*wfp.Filter
	for _, f := range all {
		if f.ProviderKey != nil && *f.ProviderKey == pk {
			viaAll = append(viaAll, f)
		}
	}
	keys := func(fs []*wfp.Filter) []string {
		var ks []string
		for _, f := range fs {
			ks = append(ks, f.Key.String())
		}
		slices.Sort(ks)
		return ks
	}
	if !slices.Equal(keys(scoped), keys(viaAll)) {
		t.Errorf("provider-scoped enumeration %v differs from full enumeration %v (wfp-facts §10.5)", keys(scoped), keys(viaAll))
	}
	if !slices.Equal(keys(scoped), keys(plan.Filters)) {
		t.Fatalf("installed filter keys %v, plan's %v", keys(scoped), keys(plan.Filters))
	}
	want := map[wfp.GUID]*wfp.Filter{}
	for _, f := range plan.Filters {
		want[f.Key] = f
	}
	for _, f := range scoped {
		w := want[f.Key]
		var problems []string
		if f.Sublayer != plan.Sublayer.Key {
			problems = append(problems, fmt.Sprintf("sublayer %s, want the plan's %s", f.Sublayer, plan.Sublayer.Key))
		}
		if f.Layer != w.Layer {
			problems = append(problems, fmt.Sprintf("layer %s, want %s", f.Layer, w.Layer))
		}
		if f.Flags&^wfp.FilterFlagDisabled != w.Flags {
			problems = append(problems, fmt.Sprintf("flags %s, want %s", f.Flags, w.Flags))
		}
		if f.Flags&wfp.FilterFlagDisabled != 0 {
			problems = append(problems, "engine reports FWPM_FILTER_FLAG_DISABLED")
		}
		if f.Action.Type != w.Action.Type {
			problems = append(problems, fmt.Sprintf("action %s, want %s", f.Action.Type, w.Action.Type))
		}
		// Every ALE_USER_ID condition is FWP_MATCH_EQUAL (the only match type documented
		// for a security descriptor): on every filter under allow, on the guards only
		// under deny.
		user := slices.IndexFunc(f.Conditions, func(c wfp.Condition) bool { return c.Field == wfp.FieldALEUserID })
		wantUser := plan.UserMatch == policy.MatchAllow || w.Action.Type == wfp.ActionPermit && slices.ContainsFunc(w.Conditions, func(c wfp.Condition) bool { return c.Field == wfp.FieldALEUserID })
		switch {
		case wantUser && user < 0:
			problems = append(problems, "no ALE_USER_ID condition")
		case !wantUser && user >= 0:
			problems = append(problems, "an ALE_USER_ID condition on an unconditioned filter of the account's sublayer")
		case user >= 0 && f.Conditions[user].Match != wfp.MatchEqual:
			problems = append(problems, fmt.Sprintf("ALE_USER_ID match %s, want FWP_MATCH_EQUAL", f.Conditions[user].Match))
		}
		if len(problems) > 0 {
			t.Errorf("filter {%s} %q: %s", f.Key, f.Name, strings.Join(problems, "; "))
		}
	}
}
