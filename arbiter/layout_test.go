package arbiter_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// layout returns what wfpsandbox installs for one account in the given shape and
// profile, as the arbiter sees it: policy.Build's plan.
func layout(t testing.TB, sid string, profile policy.Profile, shape policy.UserMatch) arbiter.Set {
	t.Helper()
	return arbiter.FromPlan(plan(t, policy.Options{SID: sid, Profile: profile, UserMatch: shape}))
}

// specLayout is the deny layout built by hand from issue 9's spec (per-account
// sublayer UUIDv5(ProviderKey, "sublayer/<SID>") at 0xFFFF; at each layer a soft guard
// permit, FWP_UINT8 15, ALE_USER_ID EQUAL the guard SD; the profile's rules without a
// user condition), independently of policy.Build: TestPlanMatchesSpec holds the two
// to each other.
func specLayout(t testing.TB, sid string, profile policy.Profile, shape policy.UserMatch) arbiter.Set {
	t.Helper()
	if shape == policy.MatchAllow {
		return arbiter.FromPlan(plan(t, policy.Options{SID: sid, Profile: profile, UserMatch: shape}))
	}
	rules, err := policy.ProfileRules(profile, nil)
	if err != nil {
		t.Fatal(err)
	}
	pk := policy.ProviderKey
	sub := &wfp.Sublayer{
		Key: denySublayerKey(sid), Name: "wfpsandbox account " + sid, Flags: wfp.SublayerFlagPersistent,
		ProviderKey: &pk, Data: policy.Owner{SID: sid, Rule: "sublayer"}.Encode(), Weight: 0xFFFF,
	}
	guardSD := guardSD(t, sid)
	var filters []*wfp.Filter
	seen := map[wfp.LayerID]bool{}
	for _, r := range rules {
		if seen[r.Layer] {
			continue
		}
		seen[r.Layer] = true
		id := "guard-" + layerID(t, r.Layer)
		filters = append(filters, &wfp.Filter{
			Key: policy.FilterKey(sid, id), Name: fmt.Sprintf("wfpsandbox: guard (everyone but the account) at %s for %s", layerID(t, r.Layer), sid),
			Flags: wfp.FilterFlagPersistent, ProviderKey: &pk, ProviderData: policy.Owner{SID: sid, Rule: id}.Encode(),
			Layer: r.Layer, Sublayer: sub.Key, Weight: wfp.U8(15), Action: wfp.Action{Type: wfp.ActionPermit},
			Conditions: []wfp.Condition{{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(guardSD)}},
		})
	}
	for _, r := range rules {
		flags := policy.FilterFlags // PERSISTENT|CLEAR_ACTION_RIGHT
		if r.Action == wfp.ActionPermit {
			flags = policy.PermitFlags // PERSISTENT: soft
		}
		conds := make([]wfp.Condition, len(r.Conditions))
		for i, c := range r.Conditions {
			conds[i] = wfp.Condition{Field: c.Field, Match: c.Match, Value: c.Value.Clone()}
		}
		filters = append(filters, &wfp.Filter{
			Key: policy.FilterKey(sid, r.ID), Name: fmt.Sprintf("wfpsandbox: %s for %s", r.Name, sid), Description: r.Description,
			Flags: flags, ProviderKey: &pk, ProviderData: policy.Owner{SID: sid, Rule: r.ID}.Encode(),
			Layer: r.Layer, Sublayer: sub.Key, Weight: r.Weight.Clone(), Action: wfp.Action{Type: r.Action}, Conditions: conds,
		})
	}
	return arbiter.Set{Filters: filters, Sublayers: []*wfp.Sublayer{sub}}
}

// denySublayerKey is the per-account sublayer of the deny layout: UUIDv5(ProviderKey,
// "sublayer/<SID>"), the scheme of policy.FilterKey.
func denySublayerKey(sid string) wfp.GUID { return wfp.NameGUID(policy.ProviderKey, "sublayer/"+sid) }

// guardKey is the key of the guard permit at a layer ("guard-connect-v4", …).
func guardKey(t testing.TB, sid string, layer wfp.LayerID) wfp.GUID {
	return policy.FilterKey(sid, "guard-"+layerID(t, layer))
}

// guardSD is the guard's condition: everyone except the account in any form (the
// brief's SDDL; AN written as S-1-5-7, which the account package has no alias for).
func guardSD(t testing.TB, sid string) []byte {
	t.Helper()
	sd, err := account.ParseSDDL("D:(D;;CC;;;" + sid + ")(A;;CC;;;WD)(A;;CC;;;S-1-5-7)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;S-1-5-33)")
	if err != nil {
		t.Fatal(err)
	}
	b, err := sd.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func layerID(t testing.TB, l wfp.LayerID) string {
	switch l {
	case wfp.LayerALEAuthConnectV4:
		return "connect-v4"
	case wfp.LayerALEAuthConnectV6:
		return "connect-v6"
	case wfp.LayerALEResourceAssignmentV4:
		return "bind-v4"
	case wfp.LayerALEResourceAssignmentV6:
		return "bind-v6"
	case wfp.LayerALEAuthRecvAcceptV4:
		return "accept-v4"
	case wfp.LayerALEAuthRecvAcceptV6:
		return "accept-v6"
	}
	t.Fatalf("no guard ID for layer %s", l)
	return ""
}

// union puts several accounts' sets on one host.
func union(sets ...arbiter.Set) arbiter.Set {
	var u arbiter.Set
	for _, s := range sets {
		u.Filters = append(u.Filters, s.Filters...)
		u.Sublayers = append(u.Sublayers, s.Sublayers...)
	}
	return u
}

// TestLayoutShape pins the hand-built layout to the brief's counts, so that it cannot
// drift silently: baseline deny = 1 sublayer + 4 guards + 12 blocks.
// TestPlanMatchesSpec: policy.Build's deny plan is, filter for filter, the layout
// built by hand from the spec — keys, layers, sublayer, weights, flags, actions and
// conditions (names are free text and not compared).
func TestPlanMatchesSpec(t *testing.T) {
	for _, profile := range []policy.Profile{policy.Baseline, policy.Strict} {
		got, want := layout(t, sandboxSID, profile, policy.MatchDeny), specLayout(t, sandboxSID, profile, policy.MatchDeny)
		if len(got.Sublayers) != 1 || len(want.Sublayers) != 1 || got.Sublayers[0].Key != want.Sublayers[0].Key || got.Sublayers[0].Weight != want.Sublayers[0].Weight {
			t.Fatalf("%s: sublayers %+v, want %+v", profile, got.Sublayers, want.Sublayers)
		}
		byKey := map[wfp.GUID]*wfp.Filter{}
		for _, f := range got.Filters {
			byKey[f.Key] = f
		}
		if len(got.Filters) != len(want.Filters) {
			t.Errorf("%s: %d filters, want %d", profile, len(got.Filters), len(want.Filters))
		}
		for _, w := range want.Filters {
			g := byKey[w.Key]
			switch {
			case g == nil:
				t.Errorf("%s: no filter %s (%s)", profile, w.Key, w.Name)
			case g.Layer != w.Layer || g.Sublayer != w.Sublayer || !reflect.DeepEqual(g.Weight, w.Weight) || g.Flags != w.Flags ||
				g.Action != w.Action || !reflect.DeepEqual(g.Conditions, w.Conditions):
				t.Errorf("%s: filter %q differs from the spec:\n got %+v\nwant %+v", profile, w.Name, g, w)
			}
		}
	}
}

func TestLayoutShape(t *testing.T) {
	s := layout(t, sandboxSID, policy.Baseline, policy.MatchDeny)
	guards, blocks := 0, 0
	for _, f := range s.Filters {
		switch {
		case f.Action.Type == wfp.ActionPermit && f.Weight.Type == wfp.Uint8 && f.Weight.Uint == 15 && f.Flags == wfp.FilterFlagPersistent && len(f.Conditions) == 1 && f.Conditions[0].Match == wfp.MatchEqual:
			guards++
		case f.Action.Type == wfp.ActionBlock && f.Flags == wfp.FilterFlagPersistent|wfp.FilterFlagClearActionRight:
			for _, c := range f.Conditions {
				if c.Field == wfp.FieldALEUserID {
					t.Errorf("block %q has a user condition", f.Name)
				}
			}
			blocks++
		default:
			t.Errorf("unexpected filter %q", f.Name)
		}
	}
	if len(s.Sublayers) != 1 || s.Sublayers[0].Weight != 0xFFFF || guards != 4 || blocks != 12 {
		t.Fatalf("%d sublayer(s), %d guards, %d blocks; want 1, 4, 12", len(s.Sublayers), guards, blocks)
	}
}
