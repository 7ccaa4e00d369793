package reconcile

import (
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ReasonMigrated is the reason of every change that moves an account of setup version 1's
// layout (one shared sublayer, FWP_MATCH_NOT_EQUAL on ALE_USER_ID) to its own sublayer.
const ReasonMigrated = "migrated from the shared-sublayer layout"

// migration is one other account moved from the shared sublayer to its own.
type migration struct {
	sid         string
	old         []*wfp.Filter // its filters in the shared sublayer, as read
	plan        *policy.Plan  // the translation: guards + old filters without user condition
	addSublayer bool          // its own sublayer is not there yet
}

// oldLayout reports whether f carries the setup-version-1 deny condition:
// ALE_USER_ID FWP_MATCH_NOT_EQUAL (undocumented for a security descriptor).
func oldLayout(f *wfp.Filter) bool {
	return slices.ContainsFunc(f.Conditions, func(c wfp.Condition) bool {
		return c.Field == wfp.FieldALEUserID && c.Match == wfp.MatchNotEqual
	})
}

// ownedSublayer reports whether s is wfpsandbox's (our provider key).
func ownedSublayer(s *wfp.Sublayer) bool {
	return s != nil && foreignSublayer(s, policy.ProviderKey) == ""
}

// readLayout reads, inside Install's transaction, what the layout migration and the
// sublayer cleanup need: the shared sublayer when it is not the plan's, the account's own
// sublayer when it is not the plan's, and the other accounts of the old layout.
func readLayout(e wfp.Engine, cur *current, plan *policy.Plan) error {
	own := policy.SublayerKeyFor(plan.SID)
	var err error
	shared := cur.sublayer
	if plan.Sublayer.Key != policy.SublayerKey {
		if shared, err = getSublayer(e, policy.SublayerKey); err != nil {
			return err
		}
		if ownedSublayer(shared) {
			cur.shared = shared
		}
	}
	if plan.Sublayer.Key != own {
		s, err := getSublayer(e, own)
		if err != nil {
			return err
		}
		if ownedSublayer(s) {
			cur.ownSub = s
		}
	}
	if !ownedSublayer(shared) {
		return nil
	}
	bySID := map[string][]*wfp.Filter{}
	var sids []string
	for _, f := range cur.filters {
		o, ok := owner(f)
		if !ok || o.SID == plan.SID || f.Sublayer != policy.SublayerKey {
			continue
		}
		if bySID[o.SID] == nil {
			sids = append(sids, o.SID)
		}
		bySID[o.SID] = append(bySID[o.SID], f)
	}
	slices.Sort(sids)
	for _, sid := range sids {
		fs := bySID[sid]
		if !slices.ContainsFunc(fs, oldLayout) {
			continue // a --user-match allow account: it stays in the shared sublayer
		}
		mp, err := policy.FromSharedLayout(sid, fs)
		if err != nil {
			cur.skipped = append(cur.skipped, err.Error())
			continue
		}
		m := migration{sid: mp.SID, old: fs, plan: mp}
		got, err := getSublayer(e, mp.Sublayer.Key)
		if err != nil {
			return err
		}
		switch {
		case got == nil:
			m.addSublayer = true
		case !ownedSublayer(got) || len(sublayerDiff(got, mp.Sublayer)) > 0:
			cur.skipped = append(cur.skipped, fmt.Sprintf("account %s: its own sublayer %s is already there and differs from wfpsandbox's; run setup for that account", sid, got.Key))
			continue
		}
		clash := ""
		for _, f := range mp.Filters {
			if cur.byKey[f.Key] != nil {
				if !slices.ContainsFunc(fs, func(o *wfp.Filter) bool { return o.Key == f.Key }) {
					clash = wfp.ObjectName("filter", f.Key, f.Name)
				}
				continue
			}
			held, err := getFilter(e, f.Key, f.Name)
			if err != nil {
				return err
			}
			if held != nil {
				clash = wfp.ObjectName("filter", held.Key, held.Name)
			}
		}
		if clash != "" {
			cur.skipped = append(cur.skipped, fmt.Sprintf("account %s: the key of its new %s is already taken; run setup for that account", sid, clash))
			continue
		}
		cur.migrations = append(cur.migrations, m)
	}
	return nil
}

// dropEmptySublayers deletes, at the end of steps, the shared sublayer (when it is not
// the plan's) and the account's own sublayer (when the plan is --user-match allow) once
// steps leave no filter in them. Filters of other providers are found by enumerating
// every filter, only when one of these sublayers is about to become empty of ours; such
// a filter keeps its sublayer in place (warn says so).
func dropEmptySublayers(e wfp.Engine, cur *current, plan *policy.Plan, steps []step, warn func(string, ...any)) ([]step, error) {
	type candidate struct {
		s      *wfp.Sublayer
		reason string
	}
	var cands []candidate
	if cur.shared != nil {
		cands = append(cands, candidate{cur.shared, "no filters left (" + ReasonMigrated + ")"})
	}
	if cur.ownSub != nil {
		cands = append(cands, candidate{cur.ownSub, "not in plan (the account's own sublayer of --user-match deny; the plan uses the shared one)"})
	}
	if len(cands) == 0 {
		return steps, nil
	}
	// Where each of our filters sits once steps are applied.
	final := map[wfp.GUID]wfp.GUID{}
	for _, f := range cur.filters {
		final[f.Key] = f.Sublayer
	}
	for _, s := range steps {
		if s.Kind != KindFilter {
			continue
		}
		if s.Op == OpDelete {
			delete(final, s.Key)
		}
	}
	for _, s := range steps {
		if s.Kind == KindFilter && s.Op == OpAdd {
			final[s.Key] = s.filter.Sublayer
		}
	}
	var all []*wfp.Filter
	listed := false
	for _, c := range cands {
		inUse := false
		for _, sk := range final {
			if sk == c.s.Key {
				inUse = true
				break
			}
		}
		if inUse {
			continue
		}
		if !listed {
			var err error
			if all, err = listFilters(e, nil); err != nil {
				return nil, err
			}
			listed = true
		}
		if i := slices.IndexFunc(all, func(f *wfp.Filter) bool {
			return f.Sublayer == c.s.Key && !wfp.SameProvider(f.ProviderKey, &plan.Provider.Key)
		}); i >= 0 {
			warn("a filter of another provider sits in wfpsandbox's sublayer; the sublayer is left in place",
				"sublayer", wfp.ObjectName("sublayer", c.s.Key, c.s.Name), "filter", wfp.ObjectName("filter", all[i].Key, all[i].Name),
				"owner", ownerOfKey(all[i].ProviderKey))
			continue
		}
		// A sublayer the provider replacement re-adds as read is simply not re-added.
		re := slices.IndexFunc(steps, func(s step) bool { return s.Kind == KindSublayer && s.Op == OpAdd && s.Key == c.s.Key })
		if re >= 0 {
			steps = slices.Delete(steps, re, re+1)
			continue
		}
		steps = append(steps, sublayerStep(OpDelete, c.s, c.reason))
	}
	return steps, nil
}
