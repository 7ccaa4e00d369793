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
// With a SID it deletes the filters of the wfpsandbox provider tagged for that account,
// then the account's own sublayer (policy.SublayerKeyFor) and the shared sublayer when no
// filter of ours is left in them; every other account's filters and sublayers stay
// exactly as they are. With sid "" it deletes every filter of the provider, tagged or not
// (orphans of older versions included). Then, if no filter of the provider remains —
// untagged filters remain unless sid is "" — it deletes every sublayer of the provider
// (shared, per-account, orphans: every layout) and the provider.
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
	left := map[wfp.GUID]bool{} // sublayers that keep one of our filters
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
			left[f.Sublayer] = true
		}
	}
	slices.SortFunc(subs, func(a, b *wfp.Sublayer) int { return compareGUID(a.Key, b.Key) })
	if remaining > 0 {
		// Other accounts keep their filters, their sublayers and the provider. The
		// account's own sublayer goes, and the shared one once none of our filters is
		// left in it — unless a filter of another provider sits there (then it stays).
		var drop []*wfp.Sublayer
		for _, s := range subs {
			if left[s.Key] {
				continue
			}
			if s.Key == policy.SublayerKeyFor(sid) || s.Key == policy.SublayerKey {
				drop = append(drop, s)
			}
		}
		if len(drop) == 0 {
			return steps, nil
		}
		all, err := listFilters(e, nil)
		if err != nil {
			return nil, err
		}
		for _, s := range drop {
			if i := slices.IndexFunc(all, func(f *wfp.Filter) bool { return f.Sublayer == s.Key && !wfp.SameProvider(f.ProviderKey, &pk) }); i >= 0 {
				warn("a filter of another provider sits in wfpsandbox's sublayer; the sublayer is left in place",
					"sublayer", wfp.ObjectName("sublayer", s.Key, s.Name), "filter", wfp.ObjectName("filter", all[i].Key, all[i].Name),
					"owner", ownerOfKey(all[i].ProviderKey))
				continue
			}
			reason := "no filters left"
			if s.Key != policy.SublayerKey {
				reason = "uninstall (the account's own sublayer)"
			}
			steps = append(steps, sublayerStep(OpDelete, s, reason))
		}
		return steps, nil
	}
	for _, s := range subs {
		reason := "no filters left"
		if o, ok := policy.ParseOwner(s.Data); ok == nil && o.Rule == policy.SublayerRule && s.Key == policy.SublayerKeyFor(o.SID) {
			reason = "no filters left (account " + o.SID + "'s own sublayer)"
		} else if s.Key != policy.SublayerKey {
			reason = "orphan"
		}
		steps = append(steps, sublayerStep(OpDelete, s, reason))
	}
	if !slices.ContainsFunc(subs, func(s *wfp.Sublayer) bool { return s.Key == policy.SublayerKey }) {
		s, err := getSublayer(e, policy.SublayerKey)
		if err != nil {
			return nil, err
		}
		if s != nil {
			warn("a sublayer of another owner holds wfpsandbox's sublayer key; left in place",
				"sublayer", wfp.ObjectName("sublayer", s.Key, s.Name), "owner", ownerOfKey(s.ProviderKey))
		}
	}
	if prov != nil {
		steps = append(steps, providerStep(OpDelete, prov, "no filters left"))
	}
	return steps, nil
}
