package reconcile

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Every field that the plan sets is compared; output-only and engine-assigned ones
// are not.
func TestFilterDiff(t *testing.T) {
	want := buildPlan(t, sidA, policy.MatchAllow).Filters[2] // DNS v4: user + port conditions
	other := wfp.MustParseGUID("0fffffff-0000-4000-8000-000000000009")
	cases := []struct {
		name   string
		change func(f *wfp.Filter)
		field  string // "" = no difference expected
	}{
		{"identical", func(*wfp.Filter) {}, ""},
		{"engine-assigned ID and effective weight", func(f *wfp.Filter) { f.ID, f.EffectiveWeight = 77, 1<<40 }, ""},
		{"output-only DISABLED flag", func(f *wfp.Filter) { f.Flags |= wfp.FilterFlagDisabled }, ""},
		{"conditions in another order", func(f *wfp.Filter) { slices.Reverse(f.Conditions) }, ""},
		{"name", func(f *wfp.Filter) { f.Name += "!" }, "name"},
		{"description", func(f *wfp.Filter) { f.Description = "" }, "description"},
		{"flags", func(f *wfp.Filter) { f.Flags |= wfp.FilterFlagIndexed }, "flags"},
		{"provider", func(f *wfp.Filter) { f.ProviderKey = &other }, "provider " + other.String()},
		{"no provider", func(f *wfp.Filter) { f.ProviderKey = nil }, "provider (none)"},
		{"provider data", func(f *wfp.Filter) { f.ProviderData = []byte("x") }, "provider data"},
		{"layer", func(f *wfp.Filter) { f.Layer = wfp.LayerID(other) }, "layer"},
		{"sublayer", func(f *wfp.Filter) { f.Sublayer = other }, "sublayer"},
		{"weight", func(f *wfp.Filter) { f.Weight = wfp.U64(1) }, "weight"},
		{"action", func(f *wfp.Filter) { f.Action.Type = wfp.ActionPermit }, "action"},
		{"condition value", func(f *wfp.Filter) { f.Conditions[1].Value = wfp.U16(54) }, "conditions: unexpected"},
		{"condition match", func(f *wfp.Filter) { f.Conditions[0].Match = wfp.MatchNotEqual }, "conditions"},
		{"condition dropped", func(f *wfp.Filter) { f.Conditions = f.Conditions[:1] }, "conditions: missing"},
		{"condition duplicated", func(f *wfp.Filter) { f.Conditions = append(f.Conditions, f.Conditions[1]) }, "conditions: unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := want.Clone()
			tc.change(got)
			d := filterDiff(got, want)
			switch {
			case tc.field == "" && len(d) > 0:
				t.Fatalf("differences reported: %s", d)
			case tc.field != "" && len(d) != 1:
				t.Fatalf("want one difference about %s, got %q", tc.field, d)
			case tc.field != "" && !strings.HasPrefix(d[0], tc.field):
				t.Fatalf("difference %q does not start with %q", d[0], tc.field)
			}
		})
	}
}

// A security descriptor handed back with another layout but the same meaning is not
// drift; one with another meaning is.
func TestSecurityDescriptorComparedByMeaning(t *testing.T) {
	want := buildPlan(t, sidA, policy.MatchAllow).Filters[0]
	user := slices.IndexFunc(want.Conditions, func(c wfp.Condition) bool { return c.Field == wfp.FieldALEUserID })
	sd := want.Conditions[user].Value.Bytes
	if binary.LittleEndian.Uint32(sd[16:]) != 20 {
		t.Fatalf("test assumes the DACL right after the header")
	}
	// The same descriptor with its DACL moved 4 bytes further, and with trailing bytes.
	moved := append(slices.Clone(sd[:20]), 0, 0, 0, 0)
	moved = append(moved, sd[20:]...)
	binary.LittleEndian.PutUint32(moved[16:], 24)
	trailing := append(slices.Clone(sd), 0, 0, 0, 0)
	for name, b := range map[string][]byte{"moved DACL": moved, "trailing bytes": trailing} {
		got := want.Clone()
		got.Conditions[user].Value = wfp.SD(b)
		if d := filterDiff(got, want); len(d) != 0 {
			t.Errorf("%s: reported as drift: %s", name, d)
		}
	}
	other := buildPlan(t, sidB, policy.MatchAllow).Filters[0]
	got := want.Clone()
	got.Conditions[user] = other.Conditions[user]
	if d := filterDiff(got, want); len(d) != 1 || !strings.HasPrefix(d[0], "conditions") {
		t.Errorf("another account's descriptor: %q, want a conditions difference", d)
	}
	got.Conditions[user].Value = wfp.SD([]byte{1, 2, 3})
	if d := filterDiff(got, want); len(d) != 1 {
		t.Errorf("malformed descriptor: %q, want a conditions difference", d)
	}
}

func TestProviderAndSublayerDiff(t *testing.T) {
	p := policy.Provider()
	q := p.Clone()
	q.Flags |= wfp.ProviderFlagDisabled
	if d := providerDiff(q, p); len(d) != 0 {
		t.Errorf("DISABLED (output only) reported as drift: %s", d)
	}
	q.Flags = 0
	if d := providerDiff(q, p); len(d) != 1 || !strings.HasPrefix(d[0], "flags") {
		t.Errorf("non-persistent provider: %q", d)
	}
	s := policy.Sublayer()
	for _, change := range []func(*wfp.Sublayer){
		func(s *wfp.Sublayer) { s.Weight-- },
		func(s *wfp.Sublayer) { s.Flags = 0 },
		func(s *wfp.Sublayer) { s.ProviderKey = nil },
		func(s *wfp.Sublayer) { s.Data = []byte{1} },
		func(s *wfp.Sublayer) { s.Name = "x" },
		func(s *wfp.Sublayer) { s.Description = "x" },
	} {
		c := s.Clone()
		change(c)
		if d := sublayerDiff(c, s); len(d) != 1 {
			t.Errorf("sublayer %+v: %q, want one difference", c, d)
		}
	}
}

// compareGUID must sort exactly like the GUIDs' string forms (what users see in listings).
func TestCompareGUIDMatchesStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func() wfp.GUID {
		var g wfp.GUID
		// Few distinct values per field, so that many pairs share prefixes.
		g.Data1 = uint32(r.IntN(3)) << 28
		g.Data2 = uint16(r.IntN(3))
		g.Data3 = uint16(r.IntN(3)) << 12
		for i := range g.Data4 {
			g.Data4[i] = byte(r.IntN(3) * 0x70)
		}
		return g
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for range 5000 {
		a, b := rnd(), rnd()
		if got, want := sign(compareGUID(a, b)), strings.Compare(a.String(), b.String()); got != want {
			t.Fatalf("compareGUID(%s, %s) = %d, strings say %d", a, b, got, want)
		}
	}
}

func TestInstallRefusesInconsistentPlans(t *testing.T) {
	good := buildPlan(t, sidA, policy.MatchAllow)
	other := wfp.MustParseGUID("0fffffff-0000-4000-8000-00000000000a")
	cases := []struct {
		name   string
		change func(p *policy.Plan)
		want   string
	}{
		{"no sublayer", func(p *policy.Plan) { p.Sublayer = nil }, "no provider or no sublayer"},
		{"sublayer of another provider", func(p *policy.Plan) { p.Sublayer.ProviderKey = &other }, "does not belong to its provider"},
		{"filter of another provider", func(p *policy.Plan) { p.Filters[3].ProviderKey = &other }, "does not belong to the plan's provider"},
		{"untagged filter", func(p *policy.Plan) { p.Filters[3].ProviderData = nil }, "ownership tag"},
		{"filter tagged for another account", func(p *policy.Plan) {
			p.Filters[3].ProviderData = policy.Owner{SID: sidB, Rule: "x"}.Encode()
		}, "tagged for " + sidB},
		{"two filters with one key", func(p *policy.Plan) { p.Filters[4].Key = p.Filters[3].Key }, "the same key"},
		// policy.Plan.Validate: an unconditioned block in the shared sublayer would hit
		// every account.
		{"unconditioned block in the shared sublayer", func(p *policy.Plan) { p.Filters[3].Conditions = p.Filters[3].Conditions[1:] }, "would apply to every account"},
		{"deny plan without its guard", func(p *policy.Plan) {
			d := buildPlan(t, sidA, policy.MatchDeny)
			*p = *clonePlan(d)
			p.Filters = p.Filters[1:]
		}, "no guard permit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := clonePlan(good)
			tc.change(p)
			w := newWorld(t)
			for _, run := range []func() error{
				func() error { _, err := Install(w.rec, p, Options{}); return err },
				func() error { _, err := Verify(w.rec, p); return err },
			} {
				if err := run(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
			}
			if len(w.rec.calls) != 0 {
				t.Fatalf("the engine was called: %v", w.rec.calls)
			}
		})
	}
	if _, err := Install(newWorld(t).rec, nil, Options{}); err == nil {
		t.Fatal("nil plan accepted")
	}
}
