package reconcile

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func TestInstallFresh(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	res, err := Install(w.rec, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 14 || len(res.Changes) != 14 {
		t.Fatalf("fresh install: %d writes, %d changes; want 14 and 14", res.Writes, len(res.Changes))
	}
	want := append([]string{"AddProvider", "AddSublayer"}, slices.Repeat([]string{"AddFilter"}, 12)...)
	if got := w.rec.writes(); !slices.Equal(got, want) {
		t.Fatalf("engine writes %v, want %v", got, want)
	}
	if w.rec.calls[0] != "Begin" || w.rec.calls[len(w.rec.calls)-1] != "Commit" {
		t.Fatalf("calls %v: want one transaction, Begin first and Commit last", w.rec.calls)
	}
	for _, c := range res.Changes {
		if c.Op != OpAdd || c.Reason != "missing" {
			t.Errorf("change %+v: want add, reason missing", c)
		}
	}
	// What is committed is the plan, semantically.
	got := w.filtersOf(t, sidA)
	if len(got) != 12 {
		t.Fatalf("%d filters committed, want 12", len(got))
	}
	byKey := map[wfp.GUID]*wfp.Filter{}
	for _, f := range got {
		byKey[f.Key] = f
	}
	for _, f := range p.Filters {
		g := byKey[f.Key]
		if g == nil {
			t.Fatalf("filter %q not committed", f.Name)
		}
		if d := filterDiff(g, f); len(d) > 0 {
			t.Errorf("filter %q committed with differences: %s", f.Name, d)
		}
	}
}

func TestInstallConvergedIsZeroWrites(t *testing.T) {
	for _, m := range []policy.UserMatch{policy.MatchDeny, policy.MatchAllow} {
		t.Run(string(m), func(t *testing.T) {
			w := newWorld(t)
			p := buildPlan(t, sidA, m)
			w.install(t, p)
			before := snapshot(t, w.bfe)
			res, err := Install(w.rec, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Writes != 0 || len(res.Changes) != 0 || len(w.rec.writes()) != 0 {
				t.Fatalf("converged host: result %+v, engine writes %v; want none", res, w.rec.writes())
			}
			if w.rec.calls[len(w.rec.calls)-1] != "Abort" {
				t.Errorf("calls %v: a transaction with nothing to write should be aborted, not committed", w.rec.calls)
			}
			if !reflect.DeepEqual(before, snapshot(t, w.bfe)) {
				t.Fatal("a converged install changed the engine")
			}
		})
	}
}

// Someone else's edits that do not change the meaning of a filter must not cause writes.
func TestInstallComparesSemantically(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, p)
	w.mutate(t, func(e wfp.Engine) error {
		for _, f := range p.Filters[:3] {
			g := f.Clone()
			slices.Reverse(g.Conditions) // conditions in another order
			if len(g.Conditions) < 2 {
				return errors.New("test needs filters with 2 conditions")
			}
			if err := replaceFilter(e, g); err != nil {
				return err
			}
		}
		return nil
	})
	res, err := Install(w.rec, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 0 {
		t.Fatalf("reordered conditions caused %d writes: %+v", res.Writes, res.Changes)
	}
}

// The DISABLED flag bits are output only: an engine reporting them must not make
// Install rewrite anything.
func TestInstallIgnoresOutputOnlyFlags(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, p)
	e := &disabledReporter{Engine: w.rec}
	res, err := Install(e, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 0 {
		t.Fatalf("output-only flags caused %d writes: %+v", res.Writes, res.Changes)
	}
	if e.reads == 0 {
		t.Fatal("test is broken: the disabledReporter never reported a flag")
	}
}

// disabledReporter reports every provider and filter it reads with the engine's
// output-only DISABLED flag set, as the BFE does for objects it does not enforce.
type disabledReporter struct {
	wfp.Engine
	reads int
}

func (d *disabledReporter) Provider(k wfp.GUID) (*wfp.Provider, error) {
	p, err := d.Engine.Provider(k)
	if p != nil {
		p = p.Clone()
		p.Flags |= wfp.ProviderFlagDisabled
		d.reads++
	}
	return p, err
}

func (d *disabledReporter) disable(f *wfp.Filter) *wfp.Filter {
	f = f.Clone()
	f.Flags |= wfp.FilterFlagDisabled
	d.reads++
	return f
}

func (d *disabledReporter) Filter(k wfp.GUID) (*wfp.Filter, error) {
	f, err := d.Engine.Filter(k)
	if f != nil {
		f = d.disable(f)
	}
	return f, err
}

func (d *disabledReporter) Filters(p *wfp.GUID) ([]*wfp.Filter, error) {
	fs, err := d.Engine.Filters(p)
	out := make([]*wfp.Filter, len(fs))
	for i, f := range fs {
		out[i] = d.disable(f)
	}
	return out, err
}

func TestInstallOneDrift(t *testing.T) {
	cases := []struct {
		name       string
		mutate     func(p *policy.Plan) func(e wfp.Engine) error
		wantWrites []string
		reason     string // substring of the changes' reason
	}{
		{
			name: "weight changed",
			mutate: func(p *policy.Plan) func(e wfp.Engine) error {
				return func(e wfp.Engine) error {
					g := p.Filters[4].Clone()
					g.Weight = wfp.U8(2)
					return replaceFilter(e, g)
				}
			},
			wantWrites: []string{"DeleteFilter", "AddFilter"},
			reason:     "drifted: weight",
		},
		{
			name: "condition value changed",
			mutate: func(p *policy.Plan) func(e wfp.Engine) error {
				return func(e wfp.Engine) error {
					g := p.Filters[5].Clone()
					for i, c := range g.Conditions {
						if c.Field == wfp.FieldIPRemotePort {
							g.Conditions[i].Value = wfp.U16(5353)
						}
					}
					return replaceFilter(e, g)
				}
			},
			wantWrites: []string{"DeleteFilter", "AddFilter"},
			reason:     "drifted: conditions",
		},
		{
			name: "flag cleared",
			mutate: func(p *policy.Plan) func(e wfp.Engine) error {
				return func(e wfp.Engine) error {
					g := p.Filters[6].Clone()
					g.Flags &^= wfp.FilterFlagClearActionRight
					return replaceFilter(e, g)
				}
			},
			wantWrites: []string{"DeleteFilter", "AddFilter"},
			reason:     "drifted: flags",
		},
		{
			name: "deleted",
			mutate: func(p *policy.Plan) func(e wfp.Engine) error {
				return func(e wfp.Engine) error { return e.DeleteFilter(p.Filters[7].Key) }
			},
			wantWrites: []string{"AddFilter"},
			reason:     "missing",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			p := buildPlan(t, sidA, policy.MatchAllow)
			w.install(t, p)
			w.mutate(t, tc.mutate(p))
			res, err := Install(w.rec, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.rec.writes(); !slices.Equal(got, tc.wantWrites) {
				t.Fatalf("engine writes %v, want %v (changes %+v)", got, tc.wantWrites, res.Changes)
			}
			if res.Writes != len(tc.wantWrites) {
				t.Errorf("Result.Writes = %d, engine saw %d", res.Writes, len(tc.wantWrites))
			}
			for _, c := range res.Changes {
				if !strings.Contains(c.Reason, tc.reason) {
					t.Errorf("change %+v: reason should contain %q", c, tc.reason)
				}
			}
			if again, err := Install(w.session(t), p, Options{}); err != nil || again.Writes != 0 {
				t.Fatalf("second install after repair: %+v, %v; want 0 writes", again, err)
			}
		})
	}
}

func TestInstallUpgradeRemovesOldRules(t *testing.T) {
	w := newWorld(t)
	v1 := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, v1)
	v2 := planV2(v1)
	res, err := Install(w.rec, v2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dropped := v1.Filters[len(v1.Filters)-1]
	o, _ := policy.ParseOwner(dropped.ProviderData)
	var sawDrop, sawChange int
	for _, c := range res.Changes {
		switch {
		case c.Key == dropped.Key && c.Op == OpDelete && strings.Contains(c.Reason, "not in plan") && strings.Contains(c.Reason, o.Rule):
			sawDrop++
		case c.Key == v2.Filters[0].Key && strings.Contains(c.Reason, "drifted"):
			sawChange++
		default:
			t.Errorf("unexpected change %+v", c)
		}
	}
	if sawDrop != 1 || sawChange != 2 {
		t.Fatalf("changes %+v: want the dropped rule deleted once and the changed rule deleted and added", res.Changes)
	}
	if want := []string{"DeleteFilter", "DeleteFilter", "AddFilter"}; !slices.Equal(w.rec.writes(), want) {
		t.Fatalf("engine writes %v, want %v", w.rec.writes(), want)
	}
	if n := len(w.filtersOf(t, sidA)); n != 11 {
		t.Fatalf("%d filters after upgrade, want 11", n)
	}
	// Switching to the deny shape moves every filter into the account's own sublayer:
	// its sublayer added, 11 blocks deleted and added again (drifted: sublayer and user
	// condition), the dropped rule added, 4 guards added, and the shared sublayer deleted
	// since no filter is left in it.
	deny := buildPlan(t, sidA, policy.MatchDeny)
	res, err = Install(w.session(t), deny, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 1+2*11+1+4+1 {
		t.Fatalf("allow→deny shape: %d writes, want 29: %+v", res.Writes, res.Changes)
	}
	if !slices.ContainsFunc(res.Changes, func(c Change) bool {
		return c.Kind == KindSublayer && c.Op == OpDelete && c.Key == policy.SublayerKey && strings.HasPrefix(c.Reason, "no filters left")
	}) {
		t.Fatalf("changes %+v: want the shared sublayer deleted", res.Changes)
	}
	// And back: the account's own sublayer goes once its filters have left it.
	res, err = Install(w.session(t), buildPlan(t, sidA, policy.MatchAllow), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 1+2*12+4+1 {
		t.Fatalf("deny→allow shape: %d writes, want 30 (shared sublayer, 12 delete+add, 4 guards deleted, own sublayer deleted): %+v", res.Writes, res.Changes)
	}
	if s, err := w.session(t).Sublayer(policy.SublayerKeyFor(sidA)); !errors.Is(err, wfp.ErrSublayerNotFound) {
		t.Fatalf("the account's own sublayer is still there after switching to allow: %v %v", s, err)
	}
}

// Switching profiles adds the new profile's rules, rewrites the rules whose weight
// changes, and removes the rules the new profile does not have.
func TestInstallSwitchesProfiles(t *testing.T) {
	w := newWorld(t)
	base := buildPlan(t, sidA, policy.MatchAllow)
	strict, err := policy.Build(policy.Options{SID: sidA, Profile: policy.Strict, UserMatch: policy.MatchAllow})
	if err != nil {
		t.Fatal(err)
	}
	extra := len(strict.Filters) - len(base.Filters)
	if extra <= 0 {
		t.Fatalf("strict has %d filters, baseline %d: the test assumes strict has more", len(strict.Filters), len(base.Filters))
	}
	w.install(t, base)
	count := func(res *Result, op Op, reason string) int {
		n := 0
		for _, c := range res.Changes {
			if c.Op == op && strings.HasPrefix(c.Reason, reason) {
				n++
			}
		}
		return n
	}
	res := w.install(t, strict)
	if count(res, OpAdd, "missing") != extra || count(res, OpDelete, "drifted") != 12 || count(res, OpAdd, "drifted") != 12 || len(res.Changes) != extra+24 {
		t.Fatalf("baseline→strict changes: %+v", res.Changes)
	}
	res = w.install(t, base)
	if count(res, OpDelete, "not in plan") != extra || count(res, OpDelete, "drifted") != 12 || len(res.Changes) != extra+24 {
		t.Fatalf("strict→baseline changes: %+v", res.Changes)
	}
	if rep, err := Verify(w.session(t), base); err != nil || !rep.Compliant {
		t.Fatalf("not compliant: %+v %v", rep, err)
	}
}

func TestInstallLeavesOtherAccountsAlone(t *testing.T) {
	w := newWorld(t)
	pa, pb := buildPlan(t, sidA, policy.MatchAllow), buildPlan(t, sidB, policy.MatchAllow)
	w.install(t, pa)
	w.install(t, pb)
	// B's filters drift and B has a stale rule: that is B's business, not A's install.
	w.mutate(t, func(e wfp.Engine) error {
		g := pb.Filters[0].Clone()
		g.Weight = wfp.U8(9)
		if err := replaceFilter(e, g); err != nil {
			return err
		}
		stale := pb.Filters[1].Clone()
		stale.Key = policy.FilterKey(sidB, "old-rule")
		stale.ProviderData = policy.Owner{SID: sidB, Rule: "old-rule"}.Encode()
		_, err := e.AddFilter(stale)
		return err
	})
	before := w.filtersOf(t, sidB)
	res, err := Install(w.rec, pa, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 0 {
		t.Fatalf("A's install touched something: %+v", res.Changes)
	}
	if !reflect.DeepEqual(before, w.filtersOf(t, sidB)) {
		t.Fatal("B's filters changed")
	}
	// And A's upgrade does not remove B's filters either.
	if _, err := Install(w.session(t), planV2(pa), Options{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, w.filtersOf(t, sidB)) {
		t.Fatal("B's filters changed during A's upgrade")
	}
}

// withoutID returns copies of fs without what the engine assigns on every add — the
// run-time ID and the effective weight (for auto-weighted filters the engine breaks
// ties by order of addition) — which a re-added filter cannot keep.
func withoutID(fs []*wfp.Filter) []*wfp.Filter {
	out := make([]*wfp.Filter, len(fs))
	for i, f := range fs {
		out[i] = f.Clone()
		out[i].ID, out[i].EffectiveWeight = 0, 0
	}
	return out
}

func TestInstallReplacesDriftedParents(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(e wfp.Engine, all []*wfp.Filter) error // all = every filter of our provider
		kind   Kind
		reason string
	}{
		{
			name: "provider renamed",
			mutate: func(e wfp.Engine, all []*wfp.Filter) error {
				p := policy.Provider()
				p.Name = "wfpsandbox (old)"
				return rebuild(e, all, p, policy.Sublayer())
			},
			kind: KindProvider, reason: `drifted: name "wfpsandbox (old)"`,
		},
		{
			name: "provider description",
			mutate: func(e wfp.Engine, all []*wfp.Filter) error {
				p := policy.Provider()
				p.Description = "something else"
				return rebuild(e, all, p, policy.Sublayer())
			},
			kind: KindProvider, reason: "drifted: description",
		},
		{
			name: "sublayer weight",
			mutate: func(e wfp.Engine, all []*wfp.Filter) error {
				s := policy.Sublayer()
				s.Weight = 0x8000
				return rebuild(e, all, policy.Provider(), s)
			},
			kind: KindSublayer, reason: "drifted: weight 0x8000, want 0xffff",
		},
		{
			name: "sublayer name",
			mutate: func(e wfp.Engine, all []*wfp.Filter) error {
				s := policy.Sublayer()
				s.Name = "renamed"
				return rebuild(e, all, policy.Provider(), s)
			},
			kind: KindSublayer, reason: "drifted: name",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			pa, pb := buildPlan(t, sidA, policy.MatchAllow), buildPlan(t, sidB, policy.MatchAllow)
			w.install(t, pa)
			w.install(t, pb)
			// B has an old rule too, and there is an untagged orphan: both survive.
			orphan := pb.Filters[2].Clone()
			orphan.Key = wfp.MustParseGUID("0aaaaaaa-0000-4000-8000-000000000001")
			orphan.ProviderData = nil
			orphan.Name = "orphan of an old version"
			w.mutate(t, func(e wfp.Engine) error {
				stale := pb.Filters[1].Clone()
				stale.Key = policy.FilterKey(sidB, "old-rule")
				stale.ProviderData = policy.Owner{SID: sidB, Rule: "old-rule"}.Encode()
				if _, err := e.AddFilter(stale); err != nil {
					return err
				}
				_, err := e.AddFilter(orphan)
				return err
			})
			pk := policy.ProviderKey
			all, err := w.session(t).Filters(&pk)
			if err != nil {
				t.Fatal(err)
			}
			w.mutate(t, func(e wfp.Engine) error { return tc.mutate(e, all) })
			otherBefore := withoutID(w.filtersOf(t, sidB))
			orphanBefore, err := w.session(t).Filter(orphan.Key)
			if err != nil {
				t.Fatal(err)
			}

			res, err := Install(w.rec, pa, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Order: all filter deletes, sublayer delete, [provider delete, provider
			// add], sublayer add, all filter adds.
			writes := w.rec.writes()
			nf := 12 + 13 + 1 // A's, B's (12 + old rule), the orphan
			want := slices.Repeat([]string{"DeleteFilter"}, nf)
			want = append(want, "DeleteSublayer")
			if tc.kind == KindProvider {
				want = append(want, "DeleteProvider", "AddProvider")
			}
			want = append(want, "AddSublayer")
			want = append(want, slices.Repeat([]string{"AddFilter"}, nf)...)
			if !slices.Equal(writes, want) {
				t.Fatalf("engine writes %v\nwant %v", writes, want)
			}
			found := false
			for _, c := range res.Changes {
				if c.Kind == tc.kind && strings.Contains(c.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s change with reason %q in %+v", tc.kind, tc.reason, res.Changes)
			}
			// Other account's filters and the orphan survive byte for byte (but for
			// their run-time IDs).
			if got := withoutID(w.filtersOf(t, sidB)); !reflect.DeepEqual(otherBefore, got) {
				for i := range got {
					if !reflect.DeepEqual(otherBefore[i], got[i]) {
						t.Errorf("B's filter changed:\nbefore %+v\nafter  %+v", *otherBefore[i], *got[i])
					}
				}
				t.FailNow()
			}
			orphanAfter, err := w.session(t).Filter(orphan.Key)
			if err != nil {
				t.Fatalf("orphan lost: %v", err)
			}
			if !reflect.DeepEqual(withoutID([]*wfp.Filter{orphanBefore}), withoutID([]*wfp.Filter{orphanAfter})) {
				t.Fatalf("orphan changed: %+v → %+v", orphanBefore, orphanAfter)
			}
			// A is converged; B is exactly as before: its own 12 filters match and its
			// old rule is still there (an "extra" for B's next install to remove).
			if rep, err := Verify(w.session(t), pa); err != nil || !rep.Compliant {
				t.Fatalf("verify A after repair: %+v, %v", rep, err)
			}
			rep, err := Verify(w.session(t), pb)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Matching != 12 || len(rep.Findings) != 1 || !hasFinding(rep, policy.FilterKey(sidB, "old-rule"), ProblemExtra) {
				t.Fatalf("verify B after A's repair: %+v", rep)
			}
		})
	}
}

// rebuild deletes every filter in all, the sublayer and the provider, and adds them
// back with the given provider and sublayer: how someone else would "edit" them.
func rebuild(e wfp.Engine, all []*wfp.Filter, p *wfp.Provider, s *wfp.Sublayer) error {
	for _, f := range all {
		if err := e.DeleteFilter(f.Key); err != nil {
			return err
		}
	}
	if err := e.DeleteSublayer(policy.SublayerKey); err != nil {
		return err
	}
	if err := e.DeleteProvider(policy.ProviderKey); err != nil {
		return err
	}
	if err := e.AddProvider(p); err != nil {
		return err
	}
	if err := e.AddSublayer(s); err != nil {
		return err
	}
	for _, f := range all {
		if _, err := e.AddFilter(verbatim(f)); err != nil {
			return err
		}
	}
	return nil
}

func TestInstallDryRun(t *testing.T) {
	w := newWorld(t)
	v1 := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, v1)
	before := snapshot(t, w.bfe)
	v2 := planV2(v1)
	dry, err := Install(w.rec, v2, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Writes != 0 || len(w.rec.writes()) != 0 {
		t.Fatalf("dry run wrote: %+v, engine writes %v", dry, w.rec.writes())
	}
	if !reflect.DeepEqual(before, snapshot(t, w.bfe)) {
		t.Fatal("dry run changed the engine")
	}
	if got := w.rec.calls; got[0] != "Begin" || got[len(got)-1] != "Abort" {
		t.Fatalf("dry run calls %v: want a transaction that is aborted", got)
	}
	real, err := Install(w.session(t), v2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dry.Changes, real.Changes) {
		t.Fatalf("dry run predicted %+v\nreal run did %+v", dry.Changes, real.Changes)
	}
}

func TestInstallErrorsWrapEngineCode(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	// Find the 3rd AddFilter of a clean fresh install, then fail exactly that call.
	clean := newWorld(t)
	if _, err := Install(clean.rec, p, Options{}); err != nil {
		t.Fatal(err)
	}
	target, adds := 0, 0
	for i, c := range clean.rec.calls {
		if c == "AddFilter" {
			if adds++; adds == 3 {
				target = i + 1
			}
		}
	}
	s := w.bfe.Open()
	defer s.Close()
	s.InjectFault(func(c memengine.Call) error {
		if c.Index == target {
			return wfp.ErrTimeout
		}
		return nil
	})
	_, err := Install(s, p, Options{})
	if !errors.Is(err, wfp.ErrTimeout) {
		t.Fatalf("error %v does not wrap FWP_E_TIMEOUT", err)
	}
	for _, want := range []string{"add filter", p.Filters[2].Key.String(), p.Filters[2].Name, sidA} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
