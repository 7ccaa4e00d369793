package arbiter

import (
	"math/rand"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestGroupReachableExact compares the search over kinds of outcome with every
// permutation of the group, for random groups of up to 6 sublayers and every start
// state: the reachable (decided, action, right) states must be the same sets.
func TestGroupReachableExact(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	f := &wfp.Filter{Name: "f"}
	si := &subIndex{}
	starts := []arbState{initialState,
		{decided: true, action: Permit, writable: true, filter: f, sub: si},
		{decided: true, action: Permit, writable: false, filter: f, sub: si},
		{decided: true, action: Block, writable: true, filter: f, sub: si},
		{decided: true, action: Block, writable: false, filter: f, sub: si}}
	for iter := 0; iter < 400; iter++ {
		n := 1 + rng.Intn(6)
		outs := make([]subOutcome, n)
		for i := range outs {
			outs[i] = subOutcome{si: &subIndex{}, decided: rng.Intn(5) > 0, action: Action(rng.Intn(2)), hard: rng.Intn(2) == 0, callout: rng.Intn(3) == 0, filter: f}
		}
		for _, st := range starts {
			want := map[stateKey]bool{}
			permute(outs, 0, func(order []subOutcome) {
				cur := st
				for _, o := range order {
					cur, _ = step(cur, o)
				}
				want[cur.key()] = true
			})
			got := groupReachable(st, outs)
			if len(got) != len(want) {
				t.Fatalf("outs %+v from %+v: got %d states, want %d (%v)", outs, st.key(), len(got), len(want), want)
			}
			for k, p := range got {
				if !want[k] {
					t.Fatalf("unreachable state %+v reported", k)
				}
				// The witness order must reach the state it is given for.
				cur := st
				for _, s := range p.order {
					for _, o := range outs {
						if o.si == s {
							cur, _ = step(cur, o)
						}
					}
				}
				if cur.key() != k {
					t.Fatalf("witness order reaches %+v, not %+v", cur.key(), k)
				}
			}
		}
	}
}

func permute(a []subOutcome, i int, visit func([]subOutcome)) {
	if i == len(a) {
		visit(a)
		return
	}
	for j := i; j < len(a); j++ {
		a[i], a[j] = a[j], a[i]
		permute(a, i+1, visit)
		a[i], a[j] = a[j], a[i]
	}
}
