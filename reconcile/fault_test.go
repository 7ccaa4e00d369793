package reconcile

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// faultScenario is a starting state and one reconciler operation on it.
type faultScenario struct {
	name  string
	world func(t testing.TB) *world    // the starting host; newWorld (empty) when nil
	setup func(t *testing.T, w *world) // commits the before-state
	op    func(e wfp.Engine) error
}

func faultScenarios(t *testing.T) []faultScenario {
	pa, pb := buildPlan(t, sidA, policy.MatchAllow), buildPlan(t, sidB, policy.MatchAllow)
	pAllow := buildPlan(t, sidA, policy.MatchAllow)
	da, db := buildPlan(t, sidA, policy.MatchDeny), buildPlan(t, sidB, policy.MatchDeny)
	fa, fb, fc := fixturePlans(t)
	pStrict, err := policy.Build(policy.Options{SID: sidA, Profile: policy.Strict})
	if err != nil {
		t.Fatalf("strict plan: %v", err)
	}
	install := func(p *policy.Plan) func(e wfp.Engine) error {
		return func(e wfp.Engine) error { _, err := Install(e, p, Options{}); return err }
	}
	uninstall := func(sid string) func(e wfp.Engine) error {
		return func(e wfp.Engine) error { _, err := Uninstall(e, sid, Options{}); return err }
	}
	both := func(t *testing.T, w *world) { w.install(t, pa); w.install(t, pb) }
	withOrphan := func(t *testing.T, w *world) {
		both(t, w)
		w.mutate(t, func(e wfp.Engine) error {
			o := pb.Filters[0].Clone()
			o.Key, o.ProviderData, o.Name = wfp.MustParseGUID("0aaaaaaa-0000-4000-8000-00000000000f"), nil, "orphan"
			_, err := e.AddFilter(o)
			return err
		})
	}
	driftParent := func(provider bool) func(t *testing.T, w *world) {
		return func(t *testing.T, w *world) {
			both(t, w)
			pk := policy.ProviderKey
			all, err := w.session(t).Filters(&pk)
			if err != nil {
				t.Fatal(err)
			}
			p, s := policy.Provider(), policy.Sublayer()
			if provider {
				p.Name = "renamed"
			} else {
				s.Weight = 0x1234
			}
			w.mutate(t, func(e wfp.Engine) error { return rebuild(e, all, p, s) })
		}
	}
	return []faultScenario{
		{name: "fresh install", setup: func(*testing.T, *world) {}, op: install(pa)},
		{name: "fresh install beside another account", setup: func(t *testing.T, w *world) { w.install(t, pb) }, op: install(pa)},
		{name: "upgrade v1 to v2", setup: func(t *testing.T, w *world) { w.install(t, pa) }, op: install(planV2(pa))},
		{name: "switch deny to allow shape", setup: func(t *testing.T, w *world) { w.install(t, da) }, op: install(pAllow)},
		{name: "switch allow to deny shape", setup: func(t *testing.T, w *world) { w.install(t, pAllow) }, op: install(da)},
		{name: "fresh deny install", setup: func(*testing.T, *world) {}, op: install(da)},
		{name: "fresh deny install beside a deny and an allow account", setup: func(t *testing.T, w *world) {
			w.install(t, db)
			w.install(t, buildPlan(t, sidC, policy.MatchAllow))
		}, op: install(da)},
		{name: "repair a deny install (guard deleted, block drifted)", setup: func(t *testing.T, w *world) {
			w.install(t, da)
			w.mutate(t, func(e wfp.Engine) error {
				if err := e.DeleteFilter(da.Filters[0].Key); err != nil {
					return err
				}
				g := da.Filters[6].Clone()
				g.Weight = wfp.U8(15)
				return replaceFilter(e, g)
			})
		}, op: install(da)},
		{name: "repair a deleted account sublayer", setup: func(t *testing.T, w *world) {
			w.install(t, da)
			w.mutate(t, func(e wfp.Engine) error {
				for _, f := range da.Filters {
					if err := e.DeleteFilter(f.Key); err != nil {
						return err
					}
				}
				return e.DeleteSublayer(da.Sublayer.Key)
			})
		}, op: install(da)},
		{name: "uninstall one of two deny accounts", setup: func(t *testing.T, w *world) { w.install(t, da); w.install(t, db) }, op: uninstall(sidA)},
		{name: "uninstall the last deny account", setup: func(t *testing.T, w *world) { w.install(t, da) }, op: uninstall(sidA)},
		{name: "migrate main's host (setup of a deny account)", world: oldHostWorld, setup: func(*testing.T, *world) {}, op: install(fb)},
		{name: "migrate main's host (setup of the allow account)", world: oldHostWorld, setup: func(*testing.T, *world) {}, op: install(fc)},
		{name: "migrate main's host without an allow account", world: oldHostWorld, setup: func(t *testing.T, w *world) {
			w.mutate(t, func(e wfp.Engine) error {
				for _, f := range fc.Filters {
					if err := e.DeleteFilter(f.Key); err != nil {
						return err
					}
				}
				return nil
			})
		}, op: install(fa)},
		{name: "uninstall all on main's host", world: oldHostWorld, setup: func(*testing.T, *world) {}, op: uninstall("")},
		{name: "uninstall all, every layout", setup: func(t *testing.T, w *world) {
			w.install(t, da)
			w.install(t, buildPlan(t, sidC, policy.MatchAllow))
		}, op: uninstall("")},
		{name: "profile baseline to strict", setup: func(t *testing.T, w *world) { w.install(t, pa) }, op: install(pStrict)},
		{name: "profile strict to baseline", setup: func(t *testing.T, w *world) { w.install(t, pStrict) }, op: install(pa)},
		{name: "one drifted filter", setup: func(t *testing.T, w *world) {
			w.install(t, pa)
			w.mutate(t, func(e wfp.Engine) error {
				g := pa.Filters[4].Clone()
				g.Weight = wfp.U8(2)
				return replaceFilter(e, g)
			})
		}, op: install(pa)},
		{name: "provider drift with another account", setup: driftParent(true), op: install(pa)},
		{name: "sublayer drift with another account", setup: driftParent(false), op: install(pa)},
		{name: "provider drift with an old sublayer", setup: func(t *testing.T, w *world) {
			w.install(t, pa)
			oldSublayerRenamedProvider(t, w, pa)
		}, op: install(pa)},
		{name: "uninstall one of two accounts", setup: both, op: uninstall(sidA)},
		{name: "uninstall the last account", setup: func(t *testing.T, w *world) { w.install(t, pa) }, op: uninstall(sidA)},
		{name: "uninstall all with an orphan", setup: withOrphan, op: uninstall("")},
	}
}

// TestFaultAtEveryCall fails each engine call of a clean run in turn (and the commit)
// and checks that the committed state is exactly the state before or exactly the state
// after a clean run — never in between — that an error is returned exactly when it is
// the state before, that the error wraps the injected code, and that the session is
// left without an open transaction (the same operation then succeeds on it).
func TestFaultAtEveryCall(t *testing.T) {
	for _, sc := range faultScenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			mk := sc.world
			if mk == nil {
				mk = newWorld
			}
			clean := mk(t)
			sc.setup(t, clean)
			before := snapshot(t, clean.bfe)
			if err := sc.op(clean.rec); err != nil {
				t.Fatalf("clean run: %v", err)
			}
			after := snapshot(t, clean.bfe)
			if reflect.DeepEqual(before, after) {
				t.Fatal("scenario changes nothing: it cannot tell before from after")
			}
			calls := clean.rec.calls
			if calls[len(calls)-1] != "Commit" {
				t.Fatalf("clean run calls %v: want Commit last", calls)
			}
			for i := 1; i <= len(calls)+1; i++ {
				w := mk(t)
				sc.setup(t, w)
				s := w.bfe.Open()
				fired := false
				s.InjectFault(func(c memengine.Call) error {
					if c.Index == i && !fired {
						fired = true
						return wfp.ErrTimeout
					}
					return nil
				})
				err := sc.op(s)
				got := snapshot(t, w.bfe)
				call := "(none: past the last call)"
				if i <= len(calls) {
					call = calls[i-1]
				}
				switch {
				case err != nil && !reflect.DeepEqual(got, before):
					t.Fatalf("fault at call %d (%s): error %v but the committed state is not the before-state", i, call, err)
				case err == nil && !reflect.DeepEqual(got, after):
					t.Fatalf("fault at call %d (%s): no error but the committed state is not the after-state", i, call)
				case err != nil && !errors.Is(err, wfp.ErrTimeout):
					t.Fatalf("fault at call %d (%s): error %v does not wrap the injected FWP_E_TIMEOUT", i, call, err)
				case i <= len(calls) && err == nil:
					t.Fatalf("fault at call %d (%s) was ignored: every call of a clean run must matter", i, call)
				case i > len(calls) && err != nil:
					t.Fatalf("no fault injected, yet error %v", err)
				}
				if err != nil {
					if err := sc.op(s); err != nil {
						t.Fatalf("fault at call %d (%s): the same session cannot run again (transaction left open?): %v", i, call, err)
					}
					if !reflect.DeepEqual(snapshot(t, w.bfe), after) {
						t.Fatalf("fault at call %d (%s): the retry did not reach the after-state", i, call)
					}
				}
				_ = s.Close()
			}
		})
	}
}
