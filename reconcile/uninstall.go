package reconcile

import (
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Uninstall removes wfpsandbox's objects from e in one transaction, aborted on any
// error.
//
// With a SID it deletes the filters of the wfpsandbox provider tagged for that account.
// With sid "" it deletes every filter of the provider, tagged or not (orphans of older
// versions included). Then, if no filter of the provider remains — untagged filters
// remain unless sid is "" — it deletes every sublayer of the provider and the provider.
// Only objects of the wfpsandbox provider are removed: when a filter of another
// provider sits in the sublayer, the sublayer cannot be deleted (FWP_E_IN_USE) and the
// error names that filter; when the object holding the provider key is not
// wfpsandbox's, nothing is removed (*ForeignError).
//
// A host with nothing to remove costs zero writes and succeeds. Deletes run filters →
// sublayers → provider. With opts.DryRun nothing is written.
func Uninstall(e wfp.Engine, sid string, opts Options) (*Result, error) {
	who := "every account"
	if sid != "" {
		s, err := account.ParseSID(sid)
		if err != nil {
			return nil, fmt.Errorf("uninstall: %w", err)
		}
		sid, who = s.String(), s.String()
	}
	log := opts.logger()
	res := &Result{DryRun: opts.DryRun, Changes: []Change{}}
	err := inTransaction(e, func() (bool, error) {
		steps, err := uninstallSteps(e, sid, log.Warn)
		if err != nil {
			return false, err
		}
		return run(e, steps, policy.ProviderKey, opts, res)
	})
	if err != nil {
		return nil, fmt.Errorf("uninstall wfpsandbox policy for %s: %w", who, err)
	}
	log.Info("uninstall done", "sid", who, "changes", len(res.Changes), "writes", res.Writes, "dryRun", res.DryRun)
	return res, nil
}

func uninstallSteps(e wfp.Engine, sid string, warn func(string, ...any)) ([]step, error) {
	pk := policy.ProviderKey
	prov, err := getProvider(e, pk)
	if err != nil {
		return nil, err
	}
	if prov != nil {
		if why := foreignProvider(prov, policy.Provider()); why != "" {
			return nil, &ForeignError{Kind: KindProvider, Key: prov.Key, Name: prov.Name, Owner: "another owner",
				Reason: "it holds wfpsandbox's provider key and " + why}
		}
	}
	filters, err := listFilters(e, &pk)
	if err != nil {
		return nil, err
	}
	subs, err := listSublayers(e, pk)
	if err != nil {
		return nil, err
	}
	sortByKey(filters)
	var steps []step
	remaining := 0
	for _, f := range filters {
		o, tagged := owner(f)
		switch {
		case sid == "" && tagged:
			steps = append(steps, filterStep(OpDelete, f, "uninstall (account "+o.SID+")"))
		case sid == "":
			steps = append(steps, filterStep(OpDelete, f, "orphan"))
		case tagged && o.SID == sid:
			steps = append(steps, filterStep(OpDelete, f, "uninstall"))
		default:
			remaining++
		}
	}
	if remaining > 0 {
		return steps, nil
	}
	slices.SortFunc(subs, func(a, b *wfp.Sublayer) int { return compareGUID(a.Key, b.Key) })
	for _, s := range subs {
		reason := "no filters left"
		if s.Key != policy.SublayerKey {
			reason = "orphan"
		}
		steps = append(steps, sublayerStep(OpDelete, s, reason))
	}
	if !slices.ContainsFunc(subs, func(s *wfp.Sublayer) bool { return s.Key == policy.SublayerKey }) {
		if s, err := getSublayer(e, policy.SublayerKey); err == nil && s != nil {
			warn("a sublayer of another owner holds wfpsandbox's sublayer key; left in place",
				"sublayer", wfp.ObjectName("sublayer", s.Key, s.Name), "owner", ownerOfKey(s.ProviderKey))
		}
	}
	if prov != nil {
		steps = append(steps, providerStep(OpDelete, prov, "no filters left"))
	}
	return steps, nil
}
