package selftest

import (
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func dynPlan(t *testing.T, m policy.UserMatch) *policy.Plan {
	t.Helper()
	plan, err := policy.Build(policy.Options{SID: testSID, UserMatch: m})
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := DynamicPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

func TestInstallReadBackEnum(t *testing.T) {
	for _, m := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
		e := memengine.NewBFE().Open()
		dyn := dynPlan(t, m)
		if err := Install(e, dyn); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		drift, err := ReadBack(e, dyn)
		if err != nil || len(drift) != 0 {
			t.Fatalf("%s: drift %v, %v", m, drift, err)
		}
		if d, err := EnumScoped(e, ProviderKey); err != nil || d != "" {
			t.Errorf("%s: enumeration %q %v", m, d, err)
		}
		// Drift is seen: a filter deleted, another's condition changed.
		if err := e.DeleteFilter(dyn.Filters[len(dyn.Filters)-1].Key); err != nil {
			t.Fatal(err)
		}
		changed := *dyn
		changed.Filters = append([]*wfp.Filter{}, dyn.Filters...)
		f := dyn.Filters[0].Clone()
		f.Conditions[0].Value = wfp.U16(9999)
		changed.Filters[0] = f
		drift, err = ReadBack(e, &changed)
		if err != nil || len(drift) != 2 || !strings.Contains(drift[0], "conditions") || !strings.Contains(drift[1], "missing") {
			t.Errorf("%s: drift %v, %v", m, drift, err)
		}
	}
}

// A failing add leaves nothing: the transaction is aborted.
func TestInstallAbortsOnFailure(t *testing.T) {
	bfe := memengine.NewBFE()
	e := bfe.Open()
	dyn := dynPlan(t, policy.MatchDeny)
	bad := *dyn
	bad.Filters = append([]*wfp.Filter{}, dyn.Filters...)
	f := dyn.Filters[3].Clone()
	f.Layer = wfp.LayerID{} // no such layer
	bad.Filters[3] = f
	err := Install(e, &bad)
	if err == nil || !strings.Contains(err.Error(), "FwpmFilterAdd0") || !strings.Contains(err.Error(), f.Key.String()) {
		t.Fatalf("install of a bad plan: %v", err)
	}
	if _, err := e.Provider(ProviderKey); err == nil {
		t.Errorf("the provider is left after an aborted install")
	}
	fs, err := e.Filters(nil)
	if err != nil || len(fs) != 0 {
		t.Errorf("filters left: %d %v", len(fs), err)
	}
	// A plan that is not a DynamicPlan is refused before anything is added.
	plan, _ := policy.Build(policy.Options{SID: testSID})
	if err := Install(e, plan); err == nil || !strings.Contains(err.Error(), "not a DynamicPlan") {
		t.Errorf("persistent plan: %v", err)
	}
}

// refusing is an engine that refuses FWP_MATCH_NOT_EQUAL at add time, as the
// documentation implies BFE does.
type refusing struct{ wfp.Engine }

func (r refusing) AddFilter(f *wfp.Filter) (uint64, error) {
	for _, c := range f.Conditions {
		if c.Match == wfp.MatchNotEqual {
			return 0, &wfp.CallError{Call: "FwpmFilterAdd0", Code: wfp.ErrInvalidParameter}
		}
	}
	return r.Engine.AddFilter(f)
}

// accepting is an engine that accepts a NOT_EQUAL filter without keeping it (a BFE that
// does not refuse the construction; whether the contract engine refuses it changes
// with the layout work, so it is not relied on here).
type accepting struct{ wfp.Engine }

func (a accepting) AddFilter(f *wfp.Filter) (uint64, error) {
	if len(f.Conditions) > 0 && f.Conditions[0].Match == wfp.MatchNotEqual {
		return 1, nil
	}
	return a.Engine.AddFilter(f)
}

// Whatever the engine answers, the NOT_EQUAL probe is never committed and the plan is
// unchanged; the check says refused (OK) or accepted.
func TestNotEqualCheck(t *testing.T) {
	dyn := dynPlan(t, policy.MatchDeny)
	f, err := NotEqualSDFilter(dyn)
	if err != nil || f.Conditions[0].Match != wfp.MatchNotEqual || f.Action.Type != wfp.ActionPermit || f.Sublayer != dyn.Sublayer.Key {
		t.Fatalf("probe filter %+v, %v", f, err)
	}
	for _, tc := range []struct {
		name   string
		wrap   func(wfp.Engine) wfp.Engine
		wantOK bool
	}{
		{"accepting", func(e wfp.Engine) wfp.Engine { return accepting{e} }, false},
		{"refusing", func(e wfp.Engine) wfp.Engine { return refusing{e} }, true},
	} {
		e := tc.wrap(memengine.NewBFE().Open())
		if err := Install(e, dyn); err != nil {
			t.Fatal(err)
		}
		c := NotEqualCheck(e, dyn)
		if c.ID != CheckNotEqualSD || !c.Ran || c.OK != tc.wantOK {
			t.Errorf("%s: %+v", tc.name, c)
		}
		if _, err := e.Filter(f.Key); err == nil {
			t.Errorf("%s: the NOT_EQUAL probe filter was committed", tc.name)
		}
		if drift, err := ReadBack(e, dyn); err != nil || len(drift) != 0 {
			t.Errorf("%s: the plan changed: %v %v", tc.name, drift, err)
		}
	}
}
