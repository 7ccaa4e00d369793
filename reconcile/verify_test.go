package reconcile

import (
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func hasFinding(rep *Report, key wfp.GUID, p Problem) bool {
	for _, f := range rep.Findings {
		if f.Key == key && f.Problem == p {
			return true
		}
	}
	return false
}

func TestVerify(t *testing.T) {
	pa, pb := buildPlan(t, sidA, policy.MatchAllow), buildPlan(t, sidB, policy.MatchAllow)
	cases := []struct {
		name    string
		setup   func(t *testing.T, w *world)
		key     wfp.GUID
		problem Problem
		detail  string // substring of the finding's detail
		count   int    // total findings
	}{
		{
			name:  "nothing of the account installed",
			setup: func(*testing.T, *world) {},
			key:   pa.Filters[0].Key, problem: ProblemMissing, detail: "not installed", count: 12,
		},
		{
			name: "one filter deleted",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				w.mutate(t, func(e wfp.Engine) error { return e.DeleteFilter(pa.Filters[9].Key) })
			},
			key: pa.Filters[9].Key, problem: ProblemMissing, detail: "not installed", count: 1,
		},
		{
			name: "one filter's weight changed",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				w.mutate(t, func(e wfp.Engine) error {
					g := pa.Filters[1].Clone()
					g.Weight = wfp.U64(42)
					return replaceFilter(e, g)
				})
			},
			key: pa.Filters[1].Key, problem: ProblemDrifted, detail: "weight FWP_UINT64(42)", count: 1,
		},
		{
			name: "a rule of an older version",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				w.mutate(t, func(e wfp.Engine) error {
					old := pa.Filters[0].Clone()
					old.Key = policy.FilterKey(sidA, "old-rule")
					old.ProviderData = policy.Owner{SID: sidA, Rule: "old-rule"}.Encode()
					_, err := e.AddFilter(old)
					return err
				})
			},
			key: policy.FilterKey(sidA, "old-rule"), problem: ProblemExtra, detail: `"old-rule"`, count: 1,
		},
		{
			name: "sublayer weight changed",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				pk := policy.ProviderKey
				all, err := w.session(t).Filters(&pk)
				if err != nil {
					t.Fatal(err)
				}
				s := policy.Sublayer()
				s.Weight = 7
				w.mutate(t, func(e wfp.Engine) error { return rebuild(e, all, policy.Provider(), s) })
			},
			key: policy.SublayerKey, problem: ProblemDrifted, detail: "weight 0x7", count: 1,
		},
		{
			name: "another provider's permit in our sublayer",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				w.mutate(t, func(e wfp.Engine) error {
					if err := addContoso(e); err != nil {
						return err
					}
					f := pa.Filters[0].Clone()
					pk := foreignProviderKey
					f.Key = wfp.MustParseGUID("0ccccccc-0000-4000-8000-000000000003")
					f.ProviderKey, f.ProviderData, f.Name = &pk, nil, "contoso permit"
					f.Flags = 0 // not persistent: it may sit in our sublayer
					f.Action = wfp.Action{Type: wfp.ActionPermit}
					f.Weight = wfp.U8(15)
					_, err := e.AddFilter(f)
					return err
				})
			},
			key: wfp.MustParseGUID("0ccccccc-0000-4000-8000-000000000003"), problem: ProblemForeign, detail: "provider " + foreignProviderKey.String(), count: 1,
		},
		{
			// Our provider, but no ownership tag: wfpsandbox never writes it, install
			// leaves it, and as a permit it would hide A's blocks. (Untagged blocks are
			// orphans of older versions and not A's concern; see TestInstalled.)
			name: "an untagged permit of our provider in our sublayer",
			setup: func(t *testing.T, w *world) {
				w.install(t, pa)
				addOrphan(t, w, pa.Filters[4])
				w.mutate(t, func(e wfp.Engine) error {
					f := pa.Filters[0].Clone()
					f.Key = wfp.MustParseGUID("0ccccccc-0000-4000-8000-000000000004")
					f.ProviderData, f.Name = nil, "untagged permit"
					f.Action = wfp.Action{Type: wfp.ActionPermit}
					f.Weight = wfp.U8(15)
					_, err := e.AddFilter(f)
					return err
				})
			},
			key: wfp.MustParseGUID("0ccccccc-0000-4000-8000-000000000004"), problem: ProblemForeign, detail: "without an ownership tag", count: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			// Another account, partly drifted, is installed in every case: it is not A's
			// concern.
			w.install(t, pb)
			w.mutate(t, func(e wfp.Engine) error { return e.DeleteFilter(pb.Filters[0].Key) })
			tc.setup(t, w)
			before := snapshot(t, w.bfe)
			rep, err := Verify(w.rec, pa)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.rec.writes()) != 0 || snapshot(t, w.bfe) != before {
				t.Fatalf("verify wrote: %v", w.rec.writes())
			}
			if rep.Compliant {
				t.Fatalf("compliant despite %s: %+v", tc.name, rep)
			}
			if !hasFinding(rep, tc.key, tc.problem) {
				t.Fatalf("no %s finding for %s in %+v", tc.problem, tc.key, rep.Findings)
			}
			for _, f := range rep.Findings {
				if f.Key == tc.key && !strings.Contains(f.Detail, tc.detail) {
					t.Errorf("finding %+v: detail should contain %q", f, tc.detail)
				}
			}
			if len(rep.Findings) != tc.count {
				t.Errorf("%d findings, want %d: %+v", len(rep.Findings), tc.count, rep.Findings)
			}
			for _, f := range pb.Filters {
				if hasFinding(rep, f.Key, ProblemMissing) {
					t.Errorf("the other account's missing filter is reported for A")
				}
			}
			// Install repairs everything Verify reports, except foreign filters in the
			// sublayer, which are not ours to remove.
			if tc.problem == ProblemForeign {
				return
			}
			if _, err := Install(w.session(t), pa, Options{}); err != nil {
				t.Fatal(err)
			}
			rep, err = Verify(w.session(t), pa)
			if err != nil || !rep.Compliant || rep.Matching != 12 || rep.Planned != 12 {
				t.Fatalf("after install: %+v, %v; want compliant with 12 of 12 matching", rep, err)
			}
		})
	}
}

func TestVerifyReportsDisabled(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, p)
	rep, err := Verify(&disabledReporter{Engine: w.rec}, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compliant || !hasFinding(rep, policy.ProviderKey, ProblemDisabled) || !hasFinding(rep, p.Filters[0].Key, ProblemDisabled) {
		t.Fatalf("disabled objects not reported: %+v", rep)
	}
	if rep.Matching != 0 {
		t.Fatalf("%d disabled filters counted as matching", rep.Matching)
	}
}
