package reconcile

import (
	"fmt"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// benchHost is a simulated host with the baseline plan of sidA installed and, with
// foreign > 0, that many filters of other vendors shaped like a host firewall's in a
// low sublayer (firewallLike); with tiedPercent > 0, that share of them are instead hard
// permits at our weight for ports no block has (candidates the overlap analysis must
// look at: they overlap the ICMP block at connect, as an ICMP code, and are let go
// because the ICMP bind block still stops the flow).
func benchHost(b *testing.B, foreign, tiedPercent int) (*world, *policy.Plan) {
	b.Helper()
	pa := buildPlan(b, sidA, policy.MatchDeny)
	w := newWorld(b)
	w.install(b, pa)
	if foreign == 0 {
		return w, pa
	}
	wf, tied := newVendor("windows firewall like", 0x8), newVendor("vpn", 0xFFFF)
	w.mutate(b, func(e wfp.Engine) error {
		if err := wf.add(e); err != nil {
			return err
		}
		if err := tied.add(e); err != nil {
			return err
		}
		nTied := foreign * tiedPercent / 100
		fs := firewallLike(wf, foreign-nTied)
		for i := range nTied {
			fs = append(fs, tied.filter(fmt.Sprintf("vpn %d", i), wfp.LayerALEAuthConnectV4, wfp.ActionPermit, true,
				wfp.Condition{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(uint16(10000 + i))}))
		}
		for _, f := range fs {
			if _, err := e.AddFilter(f); err != nil {
				return err
			}
		}
		return nil
	})
	return w, pa
}

// BenchmarkOverrides measures the override analysis alone (given the filters and
// sublayers Verify has read) and Verify as a whole, on a host holding only ours and on
// one holding 10,000 foreign filters, in the same run (BENCHMARKS.md).
func BenchmarkOverrides(b *testing.B) {
	for _, h := range []struct {
		name            string
		foreign, tiedPc int
	}{{"ours-only", 0, 0}, {"firewall-10000", 10000, 0}, {"mixed-10000", 10000, 1}} {
		w, pa := benchHost(b, h.foreign, h.tiedPc)
		e := w.session(b)
		all, err := e.Filters(nil)
		if err != nil {
			b.Fatal(err)
		}
		subs, err := e.Sublayers(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("analysis/"+h.name, func(b *testing.B) {
			for b.Loop() {
				if found, _ := overrides(pa, all, subs); len(found) != 0 {
					b.Fatalf("%d findings on a host without overrides", len(found))
				}
			}
		})
		b.Run("verify/"+h.name, func(b *testing.B) {
			for b.Loop() {
				rep, err := Verify(e, pa)
				if err != nil || !rep.Compliant {
					b.Fatalf("verify: %v %+v", err, rep)
				}
			}
		})
	}
}
