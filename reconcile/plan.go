package reconcile

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// checkPlan refuses a plan the reconciler could not converge or must not install: it
// must pass policy.Plan.Validate; every filter must belong to the plan's provider, carry
// an ownership tag of the plan's account, and have a key of its own; the sublayer must
// belong to the provider.
func checkPlan(plan *policy.Plan) error {
	if plan == nil || plan.Provider == nil || plan.Sublayer == nil {
		return errors.New("reconcile: the plan has no provider or no sublayer")
	}
	pk := plan.Provider.Key
	if !wfp.SameProvider(plan.Sublayer.ProviderKey, &pk) {
		return fmt.Errorf("reconcile: the plan's sublayer %s does not belong to its provider %s", plan.Sublayer.Key, pk)
	}
	// The plan's own checks first: above all, no filter without a user condition
	// outside its account's sublayer or above its guard (it would apply to every account).
	if err := plan.Validate(); err != nil {
		return fmt.Errorf("reconcile: the plan for %s is not valid: %w", plan.SID, err)
	}
	seen := map[wfp.GUID]bool{}
	for _, f := range plan.Filters {
		name := func() string { return wfp.ObjectName("filter", f.Key, f.Name) }
		if !wfp.SameProvider(f.ProviderKey, &pk) {
			return fmt.Errorf("reconcile: the plan's %s does not belong to the plan's provider %s", name(), pk)
		}
		o, err := policy.ParseOwner(f.ProviderData)
		if err != nil {
			return fmt.Errorf("reconcile: the plan's %s: %w", name(), err)
		}
		if o.SID != plan.SID {
			return fmt.Errorf("reconcile: the plan's %s is tagged for %s, the plan is for %s", name(), o.SID, plan.SID)
		}
		if seen[f.Key] {
			return fmt.Errorf("reconcile: the plan has two filters with key %s", f.Key)
		}
		seen[f.Key] = true
	}
	return nil
}

// owner returns a filter's ownership tag, and false for a filter without one.
func owner(f *wfp.Filter) (policy.Owner, bool) {
	o, err := policy.ParseOwner(f.ProviderData)
	return o, err == nil
}

// current is what Install reads inside its transaction.
type current struct {
	provider *wfp.Provider            // holder of the plan's provider key, nil when absent
	sublayer *wfp.Sublayer            // holder of the plan's sublayer key, nil when absent
	filters  []*wfp.Filter            // the filters of the plan's provider, sorted by key
	byKey    map[wfp.GUID]*wfp.Filter // filters, by key
	foreign  map[wfp.GUID]*wfp.Filter // filters of other owners holding a key of the plan
	// otherSublayers are the provider's sublayers other than the plan's, read only when
	// the provider must be replaced (they refer to it, so they must go and come back).
	otherSublayers []*wfp.Sublayer
	// shared is the shared sublayer (policy.SublayerKey) when it is not the plan's and is
	// wfpsandbox's; nil otherwise.
	shared *wfp.Sublayer
	// ownSub is the account's own sublayer (policy.SublayerKeyFor) when it is not the
	// plan's (a --user-match allow plan) and is wfpsandbox's; nil otherwise.
	ownSub *wfp.Sublayer
	// migrations are the other accounts whose setup-version-1 filters (NOT_EQUAL on
	// ALE_USER_ID, in the shared sublayer) this install moves to their own sublayers.
	migrations []migration
	// skipped explains, per account, why its old-layout filters are left as they are.
	skipped []string
}

// readCurrent reads the provider and sublayer by key, enumerates the provider's
// filters, and looks up by key each planned filter the enumeration did not return
// (to find a foreign filter holding the key before trying to add one). When the
// provider has drifted it also enumerates the provider's sublayers.
func readCurrent(e wfp.Engine, plan *policy.Plan) (*current, error) {
	cur := &current{byKey: map[wfp.GUID]*wfp.Filter{}, foreign: map[wfp.GUID]*wfp.Filter{}}
	var err error
	if cur.provider, err = getProvider(e, plan.Provider.Key); err != nil {
		return nil, err
	}
	if cur.sublayer, err = getSublayer(e, plan.Sublayer.Key); err != nil {
		return nil, err
	}
	pk := plan.Provider.Key
	if cur.filters, err = listFilters(e, &pk); err != nil {
		return nil, err
	}
	for _, f := range cur.filters {
		cur.byKey[f.Key] = f
	}
	for _, want := range plan.Filters {
		if cur.byKey[want.Key] != nil {
			continue
		}
		got, err := getFilter(e, want.Key, want.Name)
		if err != nil {
			return nil, err
		}
		switch {
		case got == nil:
		case foreignFilter(got, pk) != "":
			cur.foreign[want.Key] = got
		default: // ours, though the enumeration did not return it
			cur.filters = append(cur.filters, got)
			cur.byKey[got.Key] = got
		}
	}
	sortByKey(cur.filters)
	if err := readLayout(e, cur, plan); err != nil {
		return nil, err
	}
	if p := cur.provider; p != nil && foreignProvider(p, plan.Provider) == "" && len(providerDiff(p, plan.Provider)) > 0 {
		subs, err := listSublayers(e, pk)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if s.Key != plan.Sublayer.Key {
				cur.otherSublayers = append(cur.otherSublayers, s)
			}
		}
	}
	return cur, nil
}

// sortByKey sorts filters by key, in the order of the keys' string forms.
func sortByKey(fs []*wfp.Filter) {
	slices.SortFunc(fs, func(a, b *wfp.Filter) int { return compareGUID(a.Key, b.Key) })
}

// compareGUID orders GUIDs as their string forms sort.
func compareGUID(a, b wfp.GUID) int {
	if c := cmp.Compare(a.Data1, b.Data1); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Data2, b.Data2); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Data3, b.Data3); c != 0 {
		return c
	}
	return bytes.Compare(a.Data4[:], b.Data4[:])
}

// checkForeign returns a *ForeignError for the first object of another owner that holds
// one of the plan's keys.
func checkForeign(cur *current, plan *policy.Plan) error {
	if p := cur.provider; p != nil {
		if why := foreignProvider(p, plan.Provider); why != "" {
			owner := "another owner"
			if p.ServiceName != "" {
				owner = fmt.Sprintf("the Windows service %q", p.ServiceName)
			}
			return &ForeignError{Kind: KindProvider, Key: p.Key, Name: p.Name, Owner: owner,
				Reason: "it holds wfpsandbox's provider key and " + why}
		}
	}
	if s := cur.sublayer; s != nil && foreignSublayer(s, plan.Provider.Key) != "" {
		return &ForeignError{Kind: KindSublayer, Key: s.Key, Name: s.Name, Owner: ownerOfKey(s.ProviderKey),
			Reason: "it holds wfpsandbox's sublayer key"}
	}
	for _, want := range plan.Filters {
		if f := cur.foreign[want.Key]; f != nil {
			return &ForeignError{Kind: KindFilter, Key: f.Key, Name: f.Name, Owner: ownerOfKey(f.ProviderKey),
				Reason: fmt.Sprintf("it holds the key of wfpsandbox's filter %q", want.Name)}
		}
	}
	return nil
}

// installSteps computes the change set that turns cur into plan. See Install.
func installSteps(cur *current, plan *policy.Plan) ([]step, error) {
	if err := checkForeign(cur, plan); err != nil {
		return nil, err
	}
	var steps []step
	add := func(s step) { steps = append(steps, s) }

	replaceProvider, replaceSublayer := false, false
	parent := ""
	switch {
	case cur.provider == nil:
		add(providerStep(OpAdd, plan.Provider, "missing"))
	default:
		if d := providerDiff(cur.provider, plan.Provider); len(d) > 0 {
			replaceProvider, parent = true, "provider drifted"
			add(providerStep(OpDelete, cur.provider, "drifted: "+d.String()))
			add(providerStep(OpAdd, plan.Provider, "drifted: "+d.String()))
		}
	}
	switch {
	case cur.sublayer == nil:
		add(sublayerStep(OpAdd, plan.Sublayer, "missing"))
	default:
		reason := ""
		if d := sublayerDiff(cur.sublayer, plan.Sublayer); len(d) > 0 {
			reason = "drifted: " + d.String()
			if parent == "" {
				parent = "sublayer drifted"
			}
		} else if replaceProvider {
			reason = "parent replaced: provider drifted"
		}
		if reason != "" {
			replaceSublayer = true
			add(sublayerStep(OpDelete, cur.sublayer, reason))
			add(sublayerStep(OpAdd, plan.Sublayer, reason))
		}
	}
	if replaceProvider {
		// Other sublayers of the provider (an older version's) refer to it too: they go
		// and come back exactly as read, so the filters in them can come back as well.
		for _, s := range cur.otherSublayers {
			add(sublayerStep(OpDelete, s, "parent replaced: provider drifted"))
			add(sublayerStep(OpAdd, s.Clone(), "parent replaced: provider drifted; re-added as read"))
		}
	}

	planned := map[wfp.GUID]*wfp.Filter{}
	for _, f := range plan.Filters {
		planned[f.Key] = f
	}
	stale := func(f *wfp.Filter) (string, bool) {
		if planned[f.Key] != nil {
			return "", false
		}
		o, ok := owner(f)
		if !ok || o.SID != plan.SID {
			return "", false
		}
		return fmt.Sprintf("not in plan (rule %q of an older version or another profile)", o.Rule), true
	}

	migrated := map[wfp.GUID]bool{}
	for _, m := range cur.migrations {
		if m.addSublayer {
			add(sublayerStep(OpAdd, m.plan.Sublayer, ReasonMigrated))
		}
		for _, f := range m.old {
			migrated[f.Key] = true
		}
		for _, f := range m.plan.Filters {
			add(filterStep(OpAdd, f, ReasonMigrated))
		}
	}

	if replaceProvider || replaceSublayer {
		// Every filter of the provider goes, so that the sublayer and provider can be
		// deleted (FWP_E_IN_USE otherwise); the plan's filters come back from the plan,
		// migrated accounts' from their translation, every other account's (and untagged
		// ones) exactly as read.
		why := "parent replaced: " + parent
		for _, f := range cur.filters {
			reason := why
			if migrated[f.Key] {
				reason = ReasonMigrated
			} else if want := planned[f.Key]; want != nil {
				if d := filterDiff(f, want); len(d) > 0 {
					reason = "drifted: " + d.String()
				}
			} else if r, ok := stale(f); ok {
				reason = r
			}
			add(filterStep(OpDelete, f, reason))
		}
		for _, want := range plan.Filters {
			reason := "missing"
			if got := cur.byKey[want.Key]; got != nil {
				reason = why
				if d := filterDiff(got, want); len(d) > 0 {
					reason = "drifted: " + d.String()
				}
			}
			add(filterStep(OpAdd, want, reason))
		}
		for _, f := range cur.filters {
			if _, isStale := stale(f); isStale || planned[f.Key] != nil || migrated[f.Key] {
				continue
			}
			acct := "untagged"
			if o, ok := owner(f); ok {
				acct = "account " + o.SID
			}
			add(filterStep(OpAdd, verbatim(f), why+"; re-added as read ("+acct+")"))
		}
		return steps, nil
	}

	for _, f := range cur.filters {
		if r, ok := stale(f); ok {
			add(filterStep(OpDelete, f, r))
		} else if migrated[f.Key] {
			add(filterStep(OpDelete, f, ReasonMigrated))
		}
	}
	for _, want := range plan.Filters {
		got := cur.byKey[want.Key]
		if got == nil {
			add(filterStep(OpAdd, want, "missing"))
			continue
		}
		if d := filterDiff(got, want); len(d) > 0 {
			reason := "drifted: " + d.String()
			if got.Sublayer == policy.SublayerKey && oldLayout(got) {
				reason = ReasonMigrated
			}
			add(filterStep(OpDelete, got, reason))
			add(filterStep(OpAdd, want, reason))
		}
	}
	return steps, nil
}

// verbatim is a filter as read, ready to add again: without the output-only flag bits
// and the engine-assigned ID and effective weight.
func verbatim(f *wfp.Filter) *wfp.Filter {
	c := f.Clone()
	c.Flags &^= filterOutputOnly
	c.ID, c.EffectiveWeight = 0, 0
	return c
}

func providerStep(op Op, p *wfp.Provider, reason string) step {
	return step{Change: Change{Op: op, Kind: KindProvider, Key: p.Key, Name: p.Name, Reason: reason}, provider: p}
}

func sublayerStep(op Op, s *wfp.Sublayer, reason string) step {
	return step{Change: Change{Op: op, Kind: KindSublayer, Key: s.Key, Name: s.Name, Reason: reason}, sublayer: s}
}

func filterStep(op Op, f *wfp.Filter, reason string) step {
	return step{Change: Change{Op: op, Kind: KindFilter, Key: f.Key, Name: f.Name, Reason: reason}, filter: f}
}
