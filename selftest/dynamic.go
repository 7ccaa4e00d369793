package selftest

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ProviderKey is the provider the selftest installs its plan under: a name-based GUID
// (UUIDv5) under policy.ProviderKey, "selftest/provider". It differs from the real
// install's provider, so a selftest can run while wfpsandbox is installed for a real
// account: no key of the selftest's plan is one a real install uses (the filter and
// account-sublayer keys are also re-derived under this provider; they would differ
// anyway, since the temporary account's SID is new).
var ProviderKey = wfp.NameGUID(policy.ProviderKey, "selftest/provider")

// SharedSublayerKey replaces policy.SublayerKey (the --user-match allow layout's shared
// sublayer) in the selftest's plan.
var SharedSublayerKey = wfp.NameGUID(ProviderKey, "sublayer/shared")

// DynamicPlan returns a copy of plan for a FWPM_SESSION_FLAG_DYNAMIC session: the same
// filters (layers, conditions, actions, weights, hard/soft, ownership tags) under the
// selftest's own keys (ProviderKey, SharedSublayerKey or a re-derived account
// sublayer key, re-derived filter keys), with the PERSISTENT flags cleared — BFE refuses
// persistent objects from a dynamic session (FWP_E_DYNAMIC_SESSION_IN_PROGRESS), and
// dynamic objects are deleted when the session ends, also when the process is killed
// (learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_session0:
// "FWPM_SESSION_FLAG_DYNAMIC: When this flag is set, any objects added during the
// session are automatically deleted when the session ends"; DOC:fwp/object-management).
func DynamicPlan(plan *policy.Plan) (*policy.Plan, error) {
	if plan == nil || plan.Provider == nil || plan.Sublayer == nil {
		return nil, fmt.Errorf("selftest: incomplete plan")
	}
	out := *plan
	out.Provider = plan.Provider.Clone()
	out.Provider.Key = ProviderKey
	out.Provider.Name = "wfpsandbox selftest"
	out.Provider.Description = "Temporary objects of `wfpsandbox selftest` (dynamic session: removed when it ends)"
	out.Provider.Flags &^= wfp.ProviderFlagPersistent
	pk := ProviderKey

	out.Sublayer = plan.Sublayer.Clone()
	switch plan.Sublayer.Key {
	case policy.SublayerKey:
		out.Sublayer.Key = SharedSublayerKey
	case policy.SublayerKeyFor(plan.SID):
		out.Sublayer.Key = wfp.NameGUID(ProviderKey, "sublayer/"+plan.SID)
	default:
		return nil, fmt.Errorf("selftest: plan for %s uses sublayer %s, which is neither the shared nor the account's own", plan.SID, plan.Sublayer.Key)
	}
	out.Sublayer.ProviderKey = &pk
	out.Sublayer.Flags &^= wfp.SublayerFlagPersistent

	out.Filters = make([]*wfp.Filter, len(plan.Filters))
	for i, f := range plan.Filters {
		g := f.Clone()
		o, err := policy.ParseOwner(f.ProviderData)
		if err != nil {
			return nil, fmt.Errorf("selftest: filter %s: %w", f.Key, err)
		}
		g.Key = wfp.NameGUID(ProviderKey, "filter/"+o.Rule+"/"+o.SID)
		g.ProviderKey = &pk
		g.Sublayer = out.Sublayer.Key
		g.Flags &^= wfp.FilterFlagPersistent
		out.Filters[i] = g
	}
	return &out, nil
}
