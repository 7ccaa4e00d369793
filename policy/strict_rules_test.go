package policy_test

import (
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func TestStrictRulesShape(t *testing.T) {
	rules, err := policy.StrictRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2 families × (block connect, block accept, loopback connect, loopback accept) + 12 baseline.
	if len(rules) != 8+12 {
		t.Fatalf("%d rules, want 20", len(rules))
	}
	baseline := map[string]bool{}
	for _, r := range policy.BaselineRules() {
		baseline[r.ID] = true
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.ID] {
			t.Errorf("rule ID %s twice", r.ID)
		}
		seen[r.ID] = true
		if r.Weight.Type != wfp.Uint8 {
			t.Errorf("%s: weight %s, want an FWP_UINT8 range", r.ID, r.Weight)
			continue
		}
		var want uint8
		switch {
		case baseline[r.ID]:
			want = policy.WeightBlocks
		case r.Action == wfp.ActionPermit:
			want = policy.WeightLoopback
		default:
			want = policy.WeightCatchAll
		}
		if r.Weight.Uint != uint64(want) {
			t.Errorf("%s: weight range %d, want %d", r.ID, r.Weight.Uint, want)
		}
		if r.Action == wfp.ActionPermit {
			// Every permit is limited to a loopback prefix.
			ok := false
			for _, c := range r.Conditions {
				if c.Field == wfp.FieldIPRemoteAddress && c.Match == wfp.MatchEqual &&
					(c.Value.Prefix == policy.LoopbackV4 || c.Value.Prefix == policy.LoopbackV6) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("permit %s is not limited to a loopback prefix: %v", r.ID, r.Conditions)
			}
		}
	}
	for id := range baseline {
		if !seen[id] {
			t.Errorf("baseline rule %s missing from strict", id)
		}
	}
	if !(policy.WeightBlocks > policy.WeightLoopback && policy.WeightLoopback > policy.WeightCatchAll) {
		t.Error("weight ranges out of order")
	}
}

func TestStrictProxyPortValidation(t *testing.T) {
	many := make([]uint16, policy.MaxProxyPorts+1)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	tests := []struct {
		ports []uint16
		err   string // "" = accepted
	}{
		{nil, ""},
		{[]uint16{3128}, ""},
		{[]uint16{1, 65535}, ""},
		{many[:policy.MaxProxyPorts], ""},
		{[]uint16{0}, "port 0"},
		{[]uint16{3128, 8080, 3128}, "twice"},
		{many, "at most"},
	}
	for _, tt := range tests {
		_, err := policy.StrictRules(tt.ports)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("StrictRules(%d ports %v…) error %v, want %q", len(tt.ports), tt.ports[:min(3, len(tt.ports))], err, tt.err)
		}
		_, err = policy.Build(policy.Options{SID: sandboxSID, Profile: policy.Strict, ProxyPorts: tt.ports})
		if (err == nil) != (tt.err == "") {
			t.Errorf("Build with %d proxy ports: error %v, want %q", len(tt.ports), err, tt.err)
		}
	}
}

// TestStrictPlanValidates builds the strict plan in every variant: Build validates every
// filter against the layer field table.
func TestStrictPlanValidates(t *testing.T) {
	for _, m := range []policy.UserMatch{policy.MatchAllow, policy.MatchDeny} {
		for _, ports := range [][]uint16{nil, {3128}, {80, 443, 3128, 8080}} {
			p := buildPlan(t, policy.Options{Profile: policy.Strict, UserMatch: m, ProxyPorts: ports})
			// deny adds a guard permit at each of the 6 layers the strict rules use.
			want := map[policy.UserMatch]int{policy.MatchAllow: 20, policy.MatchDeny: 6 + 20}[m]
			if len(p.Filters) != want {
				t.Errorf("%s %v: %d filters, want %d", m, ports, len(p.Filters), want)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
		}
	}
	a := buildPlan(t, policy.Options{Profile: policy.Strict})
	b := buildPlan(t, policy.Options{Profile: policy.Strict, ProxyPorts: []uint16{3128}})
	if a.Hash() == b.Hash() {
		t.Error("proxy ports do not change the plan hash")
	}
}
