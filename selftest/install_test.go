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
