package reconcile

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Verify compares what e holds with plan and writes nothing: it reads inside a
// read-only transaction (FWPM_TXN_READ_ONLY) that it aborts. The report is compliant when there are no findings:
//   - the provider, the sublayer or one of the plan's filters is missing, drifted (see
//     Install for how objects are compared) or held by an object of another owner;
//   - a filter of the plan's account that the plan does not have is installed (extra),
//     in whatever sublayer (an old layout's leftovers included); for a --user-match allow
//     plan, the account's own sublayer of the deny layout is extra too;
//   - a filter of another provider sits in wfpsandbox's sublayer, or an untagged
//     non-block filter of wfpsandbox's provider does (foreign: a permit there, weighted
//     above our blocks, would override them);
//   - the engine reports the provider or one of the plan's filters DISABLED (installed
//     as planned, but not enforced);
//   - a filter of another owner can override one of the plan's blocks for the account
//     (ProblemOverride; see effective.go).
//
// Other accounts' filters and untagged block filters of the provider are not findings.
// Verify enumerates every filter of the engine (to find foreign filters in the sublayer).
func Verify(e wfp.Engine, plan *policy.Plan) (*Report, error) {
	if err := checkPlan(plan); err != nil {
		return nil, err
	}
	rep := &Report{SID: plan.SID, Planned: len(plan.Filters), Findings: []Finding{}}
	err := inReadTransaction(e, func() error { return verifyInto(e, plan, rep) })
	if err != nil {
		return nil, fmt.Errorf("verify wfpsandbox policy for %s: %w", plan.SID, err)
	}
	rep.Compliant = len(rep.Findings) == 0
	return rep, nil
}

func verifyInto(e wfp.Engine, plan *policy.Plan, rep *Report) error {
	find := func(k Kind, key wfp.GUID, name string, p Problem, format string, args ...any) {
		rep.Findings = append(rep.Findings, Finding{Kind: k, Key: key, Name: name, Problem: p, Detail: fmt.Sprintf(format, args...)})
	}
	if err := checkParents(e, plan, find); err != nil {
		return err
	}
	pk, sk := plan.Provider.Key, plan.Sublayer.Key

	if own := policy.SublayerKeyFor(plan.SID); own != sk {
		s, err := getSublayer(e, own)
		if err != nil {
			return err
		}
		if ownedSublayer(s) {
			find(KindSublayer, own, s.Name, ProblemExtra, "the account's own sublayer (--user-match deny layout) is installed but the plan uses the shared one; install removes it")
		}
	}

	all, err := listFilters(e, nil)
	if err != nil {
		return err
	}
	byKey := map[wfp.GUID]*wfp.Filter{}
	for _, f := range all {
		byKey[f.Key] = f
	}
	planned := map[wfp.GUID]bool{}
	for _, want := range plan.Filters {
		planned[want.Key] = true
		got := byKey[want.Key]
		if got == nil { // the enumeration may leave out disabled filters: ask by key
			if got, err = getFilter(e, want.Key, want.Name); err != nil {
				return err
			}
		}
		if checkFilter(got, want, pk, find) {
			rep.Matching++
		}
	}

	sortByKey(all)
	for _, f := range all {
		if planned[f.Key] {
			continue
		}
		if wfp.SameProvider(f.ProviderKey, &pk) {
			o, tagged := owner(f)
			switch {
			case tagged && o.SID == plan.SID:
				find(KindFilter, f.Key, f.Name, ProblemExtra, "rule %q of %s is not in the plan (an older version or another profile); install removes it", o.Rule, o.SID)
			case !tagged && f.Sublayer == sk && f.Action.Type != wfp.ActionBlock:
				// wfpsandbox writes no untagged filters, and a permit here can hide the
				// account's blocks whoever wrote it; install leaves untagged filters alone.
				find(KindFilter, f.Key, f.Name, ProblemForeign,
					"filter of wfpsandbox's provider without an ownership tag (not written by this wfpsandbox; action %s, layer %s) sits in wfpsandbox's sublayer, where a permit can override wfpsandbox's blocks; install does not remove it (uninstall --all does)",
					f.Action.Type, f.Layer)
			}
			continue
		}
		if f.Sublayer == sk {
			find(KindFilter, f.Key, f.Name, ProblemForeign,
				"filter of %s (action %s, layer %s) sits in wfpsandbox's sublayer, where a permit can override wfpsandbox's blocks",
				ownerOfKey(f.ProviderKey), f.Action.Type, f.Layer)
		}
	}
	// Is it effective: foreign filters that can override the account's blocks (effective.go).
	return effectiveInto(e, plan, all, rep)
}

// finder records one finding.
type finder func(k Kind, key wfp.GUID, name string, p Problem, format string, args ...any)

// checkParents reads the plan's provider and sublayer by key and records what is
// missing, foreign, drifted or disabled about them: the part Verify and CheckLive share.
func checkParents(e wfp.Engine, plan *policy.Plan, find finder) error {
	pk, sk := plan.Provider.Key, plan.Sublayer.Key
	prov, err := getProvider(e, pk)
	if err != nil {
		return err
	}
	switch {
	case prov == nil:
		find(KindProvider, pk, plan.Provider.Name, ProblemMissing, "no provider with wfpsandbox's key")
	case foreignProvider(prov, plan.Provider) != "":
		find(KindProvider, pk, prov.Name, ProblemForeign, "%s", foreignProvider(prov, plan.Provider))
	case len(providerDiff(prov, plan.Provider)) > 0:
		find(KindProvider, pk, prov.Name, ProblemDrifted, "%s", providerDiff(prov, plan.Provider))
	case prov.Flags&wfp.ProviderFlagDisabled != 0:
		find(KindProvider, pk, prov.Name, ProblemDisabled, "the engine reports FWPM_PROVIDER_FLAG_DISABLED: its filters are not enforced")
	}
	sub, err := getSublayer(e, sk)
	if err != nil {
		return err
	}
	switch {
	case sub == nil:
		find(KindSublayer, sk, plan.Sublayer.Name, ProblemMissing, "no sublayer with the plan's key")
	case foreignSublayer(sub, pk) != "":
		find(KindSublayer, sk, sub.Name, ProblemForeign, "%s", foreignSublayer(sub, pk))
	case len(sublayerDiff(sub, plan.Sublayer)) > 0:
		find(KindSublayer, sk, sub.Name, ProblemDrifted, "%s", sublayerDiff(sub, plan.Sublayer))
	}
	return nil
}

// checkFilter records what is wrong with got, the installed holder of planned filter
// want's key (nil: none), and reports whether it is installed as planned.
func checkFilter(got, want *wfp.Filter, pk wfp.GUID, find finder) bool {
	switch {
	case got == nil:
		find(KindFilter, want.Key, want.Name, ProblemMissing, "not installed")
	case foreignFilter(got, pk) != "":
		find(KindFilter, want.Key, got.Name, ProblemForeign, "%s", foreignFilter(got, pk))
	case len(filterDiff(got, want)) > 0:
		find(KindFilter, want.Key, got.Name, ProblemDrifted, "%s", filterDiff(got, want))
	case got.Flags&wfp.FilterFlagDisabled != 0:
		find(KindFilter, want.Key, got.Name, ProblemDisabled, "the engine reports FWPM_FILTER_FLAG_DISABLED: it does not block")
	default:
		return true
	}
	return false
}
