package reconcile

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

var orphanKey = wfp.MustParseGUID("0aaaaaaa-0000-4000-8000-0000000000ab")

// addOrphan adds an untagged filter of our provider (left by an imagined older version).
func addOrphan(t *testing.T, w *world, like *wfp.Filter) {
	t.Helper()
	w.mutate(t, func(e wfp.Engine) error {
		o := like.Clone()
		o.Key, o.ProviderData, o.Name = orphanKey, nil, "orphan of an older version"
		_, err := e.AddFilter(o)
		return err
	})
}

func TestUninstall(t *testing.T) {
	pa, pb := buildPlan(t, sidA, policy.MatchAllow), buildPlan(t, sidB, policy.MatchAllow)
	cases := []struct {
		name         string
		setup        func(t *testing.T, w *world)
		sid          string
		wantWrites   []string
		leftA, leftB int  // filters of each account left
		orphanLeft   bool // the orphan is still there
		parentsLeft  bool // provider and sublayer still there
	}{
		{
			name:       "one of two accounts",
			setup:      func(t *testing.T, w *world) { w.install(t, pa); w.install(t, pb) },
			sid:        sidA,
			wantWrites: slices.Repeat([]string{"DeleteFilter"}, 12),
			leftB:      12, parentsLeft: true,
		},
		{
			name:       "the last account",
			setup:      func(t *testing.T, w *world) { w.install(t, pa) },
			sid:        sidA,
			wantWrites: append(slices.Repeat([]string{"DeleteFilter"}, 12), "DeleteSublayer", "DeleteProvider"),
		},
		{
			name: "the last account, with an orphan",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				addOrphan(t, w, pa.Filters[0])
			},
			sid:        sidA,
			wantWrites: slices.Repeat([]string{"DeleteFilter"}, 12),
			orphanLeft: true, parentsLeft: true,
		},
		{
			name: "all, with an orphan and an old sublayer",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				w.install(t, pb)
				addOrphan(t, w, pa.Filters[0])
				w.mutate(t, func(e wfp.Engine) error {
					pk := policy.ProviderKey
					return e.AddSublayer(&wfp.Sublayer{Key: wfp.MustParseGUID("0ddddddd-0000-4000-8000-000000000004"),
						Name: "wfpsandbox v0 sublayer", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 3})
				})
			},
			sid:        "",
			wantWrites: append(slices.Repeat([]string{"DeleteFilter"}, 25), "DeleteSublayer", "DeleteSublayer", "DeleteProvider"),
		},
		{
			name:       "clean host",
			setup:      func(*testing.T, *world) {},
			sid:        "",
			wantWrites: nil,
		},
		{
			name:       "account with nothing installed",
			setup:      func(t *testing.T, w *world) { w.install(t, pb) },
			sid:        sidA,
			wantWrites: nil,
			leftB:      12, parentsLeft: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.mutate(t, addContoso) // another WFP user that must survive everything
			tc.setup(t, w)
			res, err := Uninstall(w.rec, tc.sid, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.rec.writes(); !slices.Equal(got, tc.wantWrites) {
				t.Fatalf("engine writes %v\nwant %v", got, tc.wantWrites)
			}
			if res.Writes != len(tc.wantWrites) || len(res.Changes) != len(tc.wantWrites) {
				t.Errorf("result %d writes, %d changes; want %d", res.Writes, len(res.Changes), len(tc.wantWrites))
			}
			if n := len(w.filtersOf(t, sidA)); n != tc.leftA {
				t.Errorf("%d filters of A left, want %d", n, tc.leftA)
			}
			if n := len(w.filtersOf(t, sidB)); n != tc.leftB {
				t.Errorf("%d filters of B left, want %d", n, tc.leftB)
			}
			e := w.session(t)
			if _, err := e.Filter(orphanKey); (err == nil) != tc.orphanLeft {
				t.Errorf("orphan left = %v, want %v", err == nil, tc.orphanLeft)
			}
			_, perr := e.Provider(policy.ProviderKey)
			_, serr := e.Sublayer(policy.SublayerKey)
			if (perr == nil) != tc.parentsLeft || (serr == nil) != tc.parentsLeft {
				t.Errorf("provider/sublayer left: %v/%v, want %v", perr == nil, serr == nil, tc.parentsLeft)
			}
			if _, err := e.Provider(foreignProviderKey); err != nil {
				t.Errorf("contoso's provider was removed: %v", err)
			}
			if _, err := e.Sublayer(foreignSublayerKey); err != nil {
				t.Errorf("contoso's sublayer was removed: %v", err)
			}
			// Idempotent: the same uninstall again writes nothing.
			again, err := Uninstall(w.session(t), tc.sid, Options{})
			if err != nil || again.Writes != 0 {
				t.Fatalf("second uninstall: %+v, %v; want 0 writes", again, err)
			}
		})
	}
}

func TestUninstallForeignFilterInSublayer(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, p)
	const name = "contoso rule in wfpsandbox's sublayer"
	w.mutate(t, func(e wfp.Engine) error {
		if err := addContoso(e); err != nil {
			return err
		}
		f := p.Filters[0].Clone()
		pk := foreignProviderKey
		f.Key = wfp.MustParseGUID("0eeeeeee-0000-4000-8000-000000000005")
		f.ProviderKey, f.ProviderData, f.Name, f.Flags = &pk, nil, name, 0
		_, err := e.AddFilter(f)
		return err
	})
	before := snapshot(t, w.bfe)
	_, err := Uninstall(w.rec, "", Options{})
	if err == nil {
		t.Fatal("uninstall succeeded although another provider's filter holds the sublayer")
	}
	if !errors.Is(err, ErrForeign) || !errors.Is(err, wfp.ErrInUse) {
		t.Errorf("error %v should wrap ErrForeign and FWP_E_IN_USE", err)
	}
	for _, s := range []string{name, foreignProviderKey.String(), policy.SublayerKey.String()} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if snapshot(t, w.bfe) != before {
		t.Fatal("the engine changed although uninstall failed")
	}
	// Uninstalling the only account also leaves no filter of ours, so it too tries to
	// delete the sublayer and is refused the same way (and writes nothing).
	if _, err := Uninstall(w.session(t), sidA, Options{}); !errors.Is(err, ErrForeign) {
		t.Fatalf("uninstall %s: %v, want the same refusal", sidA, err)
	}
}

func TestUninstallDryRun(t *testing.T) {
	w := newWorld(t)
	w.install(t, buildPlan(t, sidA, policy.MatchAllow))
	before := snapshot(t, w.bfe)
	res, err := Uninstall(w.rec, "", Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Writes != 0 || len(res.Changes) != 14 || len(w.rec.writes()) != 0 || snapshot(t, w.bfe) != before {
		t.Fatalf("dry run: %+v, engine writes %v", res, w.rec.writes())
	}
}

func TestUninstallRefusesBadSID(t *testing.T) {
	w := newWorld(t)
	if _, err := Uninstall(w.rec, "not-a-sid", Options{}); err == nil {
		t.Fatal("no error for a malformed SID")
	}
	if len(w.rec.calls) != 0 {
		t.Fatalf("engine called with a malformed SID: %v", w.rec.calls)
	}
}

func TestInstalled(t *testing.T) {
	w := newWorld(t)
	pa, pb := buildPlan(t, sidA, policy.MatchAllow), buildPlan(t, sidB, policy.MatchAllow)
	w.install(t, pa)
	w.install(t, pb)
	addOrphan(t, w, pa.Filters[0])
	st, err := Installed(w.rec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Provider == nil || st.Sublayer == nil || len(st.OtherSublayers) != 0 {
		t.Fatalf("provider %v sublayer %v others %v", st.Provider, st.Sublayer, st.OtherSublayers)
	}
	if got := st.SIDs(); !slices.Equal(got, []string{sidA, sidB}) {
		t.Fatalf("SIDs %v", got)
	}
	if len(st.Accounts[sidA]) != 12 || len(st.Accounts[sidB]) != 12 || len(st.Untagged) != 1 || st.FilterCount() != 25 {
		t.Fatalf("grouping wrong: A %d, B %d, untagged %d", len(st.Accounts[sidA]), len(st.Accounts[sidB]), len(st.Untagged))
	}
	if st.Untagged[0].Key != orphanKey {
		t.Fatalf("untagged %v", st.Untagged[0].Key)
	}
	if len(w.rec.writes()) != 0 {
		t.Fatalf("Installed wrote: %v", w.rec.writes())
	}
	empty, err := Installed(newWorld(t).rec)
	if err != nil || empty.Provider != nil || empty.Sublayer != nil || empty.FilterCount() != 0 {
		t.Fatalf("clean host: %+v, %v", empty, err)
	}
}

// A sublayer of another provider that holds wfpsandbox's sublayer key is not ours to
// remove: uninstall leaves it, says so, and removes our provider.
func TestUninstallLeavesForeignSublayer(t *testing.T) {
	w := newWorld(t)
	w.mutate(t, func(e wfp.Engine) error {
		if err := e.AddProvider(policy.Provider()); err != nil {
			return err
		}
		if err := addContoso(e); err != nil {
			return err
		}
		pk := foreignProviderKey
		return e.AddSublayer(&wfp.Sublayer{Key: policy.SublayerKey, Name: "contoso's", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 1})
	})
	var logs strings.Builder
	res, err := Uninstall(w.rec, "", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.rec.writes(); !slices.Equal(got, []string{"DeleteProvider"}) || res.Writes != 1 {
		t.Fatalf("engine writes %v (result %+v), want only the provider deleted", got, res)
	}
	if _, err := w.session(t).Sublayer(policy.SublayerKey); err != nil {
		t.Fatalf("contoso's sublayer was removed: %v", err)
	}
	if !strings.Contains(logs.String(), "another owner holds wfpsandbox's sublayer key") || !strings.Contains(logs.String(), "contoso's") {
		t.Errorf("no warning about the foreign sublayer in the log:\n%s", logs.String())
	}
}
