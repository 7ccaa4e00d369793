package reconcile

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// A provider or sublayer that is not persistent (left by a failed or dynamic attempt)
// must be replaced by a persistent one before persistent filters can be added to it.
func TestInstallReplacesNonPersistentParents(t *testing.T) {
	p := buildPlan(t, sidA, policy.MatchAllow)
	cases := []struct {
		name       string
		setup      func(e wfp.Engine) error
		wantWrites []string
		reason     string
	}{
		{
			name: "provider",
			setup: func(e wfp.Engine) error {
				pr := policy.Provider()
				pr.Flags = 0
				return e.AddProvider(pr)
			},
			wantWrites: append([]string{"DeleteProvider", "AddProvider", "AddSublayer"}, slices.Repeat([]string{"AddFilter"}, 12)...),
			reason:     "drifted: flags 0x0, want 0x1",
		},
		{
			name: "sublayer",
			setup: func(e wfp.Engine) error {
				if err := e.AddProvider(policy.Provider()); err != nil {
					return err
				}
				s := policy.Sublayer()
				s.Flags = 0
				return e.AddSublayer(s)
			},
			wantWrites: append([]string{"DeleteSublayer", "AddSublayer"}, slices.Repeat([]string{"AddFilter"}, 12)...),
			reason:     "drifted: flags 0x0, want 0x1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.mutate(t, tc.setup)
			res, err := Install(w.rec, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(w.rec.writes(), tc.wantWrites) {
				t.Fatalf("engine writes %v\nwant %v", w.rec.writes(), tc.wantWrites)
			}
			if !strings.Contains(res.Changes[0].Reason, tc.reason) {
				t.Errorf("first change %+v: reason should contain %q", res.Changes[0], tc.reason)
			}
			if rep, err := Verify(w.session(t), p); err != nil || !rep.Compliant {
				t.Fatalf("not compliant after install: %+v %v", rep, err)
			}
		})
	}
}

// oldSublayerRenamedProvider sets up, on top of an installed plan p: a sublayer of our
// provider left by an older version, with an untagged filter in it; then the provider
// renamed by someone else (everything that refers to it deleted and added back).
func oldSublayerRenamedProvider(t *testing.T, w *world, p *policy.Plan) (oldSub *wfp.Sublayer, oldFilter *wfp.Filter) {
	t.Helper()
	pk := policy.ProviderKey
	oldSub = &wfp.Sublayer{Key: wfp.MustParseGUID("0ddddddd-0000-4000-8000-000000000006"), Name: "wfpsandbox v0",
		Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 5}
	oldFilter = p.Filters[0].Clone()
	oldFilter.Key, oldFilter.ProviderData, oldFilter.Sublayer, oldFilter.Name =
		wfp.MustParseGUID("0ddddddd-0000-4000-8000-000000000007"), nil, oldSub.Key, "wfpsandbox v0 filter"
	w.mutate(t, func(e wfp.Engine) error {
		if err := e.AddSublayer(oldSub); err != nil {
			return err
		}
		_, err := e.AddFilter(oldFilter)
		return err
	})
	// Someone renames the provider: everything referring to it goes and comes back.
	all, err := w.session(t).Filters(&pk)
	if err != nil {
		t.Fatal(err)
	}
	w.mutate(t, func(e wfp.Engine) error {
		for _, f := range all {
			if err := e.DeleteFilter(f.Key); err != nil {
				return err
			}
		}
		for _, k := range []wfp.GUID{policy.SublayerKey, oldSub.Key} {
			if err := e.DeleteSublayer(k); err != nil {
				return err
			}
		}
		if err := e.DeleteProvider(pk); err != nil {
			return err
		}
		pr := policy.Provider()
		pr.Name = "renamed"
		if err := e.AddProvider(pr); err != nil {
			return err
		}
		for _, s := range []*wfp.Sublayer{policy.Sublayer(), oldSub} {
			if err := e.AddSublayer(s); err != nil {
				return err
			}
		}
		for _, f := range all {
			if _, err := e.AddFilter(verbatim(f)); err != nil {
				return err
			}
		}
		return nil
	})
	return oldSub, oldFilter
}

// An older version's sublayer of our provider, with a filter in it, survives the
// replacement of a drifted provider exactly as it was.
func TestInstallReplacesProviderWithOldSublayer(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, p)
	oldSub, oldFilter := oldSublayerRenamedProvider(t, w, p)
	e := w.session(t)
	subBefore, err := e.Sublayer(oldSub.Key)
	if err != nil {
		t.Fatal(err)
	}
	filterBefore, err := e.Filter(oldFilter.Key)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := Install(w.rec, p, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := w.rec.writes(); slices.Index(got, "DeleteProvider") < 0 || strings.Count(strings.Join(got, " "), "Sublayer") != 4 {
		t.Fatalf("engine writes %v: want the provider replaced and both sublayers deleted and added", got)
	}
	subAfter, err := e.Sublayer(oldSub.Key)
	if err != nil || !reflect.DeepEqual(subBefore, subAfter) {
		t.Fatalf("old sublayer changed: %+v → %+v (%v)", subBefore, subAfter, err)
	}
	filterAfter, err := e.Filter(oldFilter.Key)
	if err != nil || !reflect.DeepEqual(withoutID([]*wfp.Filter{filterBefore}), withoutID([]*wfp.Filter{filterAfter})) {
		t.Fatalf("old filter changed: %+v → %+v (%v)", filterBefore, filterAfter, err)
	}
	if rep, err := Verify(e, p); err != nil || !rep.Compliant {
		t.Fatalf("not compliant: %+v %v", rep, err)
	}
}

// A filter of another provider in our sublayer makes the sublayer undeletable: a
// drifted sublayer then cannot be replaced, and the error says which filter is in the way.
func TestInstallParentReplacementBlockedByForeignFilter(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, p)
	pk := policy.ProviderKey
	all, err := w.session(t).Filters(&pk)
	if err != nil {
		t.Fatal(err)
	}
	s := policy.Sublayer()
	s.Weight = 1
	w.mutate(t, func(e wfp.Engine) error { return rebuild(e, all, policy.Provider(), s) })
	const name = "contoso filter in our sublayer"
	w.mutate(t, func(e wfp.Engine) error {
		if err := addContoso(e); err != nil {
			return err
		}
		f := p.Filters[0].Clone()
		fk := foreignProviderKey
		f.Key = wfp.MustParseGUID("0eeeeeee-0000-4000-8000-000000000008")
		f.ProviderKey, f.ProviderData, f.Name, f.Flags = &fk, nil, name, 0
		_, err := e.AddFilter(f)
		return err
	})
	before := snapshot(t, w.bfe)
	_, err = Install(w.rec, p, Options{})
	if !errors.Is(err, ErrForeign) || !errors.Is(err, wfp.ErrInUse) {
		t.Fatalf("error %v: want ErrForeign and FWP_E_IN_USE", err)
	}
	if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "delete sublayer") {
		t.Errorf("error %q should name the filter in the way and the sublayer delete", err)
	}
	if snapshot(t, w.bfe) != before {
		t.Fatal("the engine changed")
	}
}

func TestVerifyEmptyEngine(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	rep, err := Verify(w.rec, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compliant || len(rep.Findings) != 14 || rep.Matching != 0 {
		t.Fatalf("report %+v: want 14 missing findings", rep)
	}
	if !hasFinding(rep, policy.ProviderKey, ProblemMissing) || !hasFinding(rep, policy.SublayerKey, ProblemMissing) {
		t.Fatalf("provider and sublayer should be missing: %+v", rep.Findings)
	}
	if got := w.rec.calls; got[0] != "BeginRead" || got[len(got)-1] != "Abort" {
		t.Fatalf("calls %v: want a read-only transaction that is aborted", got)
	}
}

func TestUninstallRefusesForeignProvider(t *testing.T) {
	w := newWorld(t)
	w.mutate(t, func(e wfp.Engine) error {
		return e.AddProvider(&wfp.Provider{Key: policy.ProviderKey, Name: "vpn", Flags: wfp.ProviderFlagPersistent, ServiceName: "ContosoVpn"})
	})
	before := snapshot(t, w.bfe)
	for _, sid := range []string{"", sidA} {
		_, err := Uninstall(w.rec, sid, Options{})
		var fe *ForeignError
		if !errors.As(err, &fe) || fe.Key != policy.ProviderKey || !strings.Contains(err.Error(), "ContosoVpn") {
			t.Fatalf("uninstall %q: %v, want a ForeignError about the provider", sid, err)
		}
	}
	if len(w.rec.writes()) != 0 || snapshot(t, w.bfe) != before {
		t.Fatalf("uninstall wrote %v", w.rec.writes())
	}
}
