package reconcile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// BenchmarkLiveCheck runs the live check (CheckLive, by key) and Verify (which
// enumerates every filter) on a host holding only wfpsandbox's policy and on one that
// also holds 10,000 foreign filters, side by side in one run. calls/op is the number
// of wfp.Engine calls (counted by a wrapping Engine); on the real engine each is one
// RPC to BFE, and an enumeration is one create, one or more pages and one destroy per
// layer (winengine enumerates layer by layer), so Verify's real cost grows with the
// host while CheckLive's does not.
//
//	go test -run '^$' -bench BenchmarkLiveCheck -benchtime 20x ./reconcile/
func BenchmarkLiveCheck(b *testing.B) {
	p := livePlan(b, sidA)
	hosts := []struct {
		name    string
		foreign int
	}{{"ours-only", 0}, {"10k-foreign", 10000}}
	checks := []struct {
		name string
		run  func(e wfp.Engine, p *policy.Plan) error
	}{
		{"CheckLive", func(e wfp.Engine, p *policy.Plan) error { _, err := CheckLive(e, p); return err }},
		{"Verify", func(e wfp.Engine, p *policy.Plan) error { _, err := Verify(e, p); return err }},
	}
	for _, h := range hosts {
		bfe := liveHost(b, p, h.foreign)
		// The same host as a state file (the CLI's --engine memory:PATH): every session
		// has to read and parse the whole file once, which is the simulation's cost,
		// not WFP's.
		path := filepath.Join(b.TempDir(), "host.json")
		snap, err := bfe.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(snap), 0o600); err != nil {
			b.Fatal(err)
		}
		engines := []struct {
			name string
			open func() wfp.Engine
		}{
			{"memory", func() wfp.Engine { return bfe.Open() }},
			{"file", func() wfp.Engine {
				s, err := memengine.OpenFile(path)
				if err != nil {
					b.Fatal(err)
				}
				return s
			}},
		}
		for _, en := range engines {
			for _, c := range checks {
				b.Run(c.name+"/"+en.name+"/"+h.name, func(b *testing.B) {
					cc := &callCounter{Engine: en.open()}
					defer cc.Close()
					b.ResetTimer()
					for range b.N {
						if err := c.run(cc, p); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(cc.n)/float64(b.N), "calls/op")
				})
			}
		}
	}
}
