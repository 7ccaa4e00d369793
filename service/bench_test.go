package service

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// benchHost is an in-memory engine with the strict and baseline accounts set up and
// foreign filters of another provider; opener counts every engine call of every
// session it opens.
type benchHost struct {
	bfe *memengine.BFE
	dir string
	mu  sync.Mutex
	ss  []*memengine.Session
}

func (b *benchHost) open() (wfp.Engine, error) {
	s := b.bfe.Open()
	b.mu.Lock()
	b.ss = append(b.ss, s)
	b.mu.Unlock()
	return s, nil
}

// takeCalls returns the calls made since the last takeCalls.
func (b *benchHost) takeCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.ss {
		n += s.Stats().Calls
	}
	b.ss = nil
	return n
}

func newBenchHost(b *testing.B, foreign int) *benchHost {
	b.Helper()
	h := &benchHost{bfe: memengine.NewBFE(), dir: b.TempDir()}
	for _, a := range []struct {
		sid     string
		profile policy.Profile
		ports   []uint16
	}{{sidStrict, policy.Strict, []uint16{3128}}, {sidBaseline, policy.Baseline, nil}} {
		rep, err := setup.Run(context.Background(), setup.Options{Account: a.sid, Profile: a.profile,
			UserMatch: policy.MatchAllow, ProxyPorts: a.ports, StateDir: h.dir, Open: h.open, ToolVersion: "bench"})
		if err != nil || rep.WFPFailed() {
			b.Fatalf("setup: %v %+v", err, rep.Steps)
		}
	}
	// Another provider's filters, in its own sublayer, as a host with other software has.
	s := h.bfe.Open()
	pk := wfp.NameGUID(wfp.MustParseGUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "bench-provider")
	sk := wfp.NameGUID(pk, "sublayer")
	if err := s.AddProvider(&wfp.Provider{Key: pk, Name: "other"}); err != nil {
		b.Fatal(err)
	}
	if err := s.AddSublayer(&wfp.Sublayer{Key: sk, Name: "other", ProviderKey: &pk, Weight: 0x100}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < foreign; i++ {
		_, err := s.AddFilter(&wfp.Filter{
			Key: wfp.NameGUID(pk, fmt.Sprint(i)), Name: fmt.Sprint("other ", i), ProviderKey: &pk,
			Layer: wfp.LayerALEAuthConnectV4, Sublayer: sk, Weight: wfp.Value{Type: wfp.Empty},
			Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(uint16(1000 + i%60000))}},
			Action:     wfp.Action{Type: wfp.ActionPermit},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	h.takeCalls()
	return h
}

// BenchmarkPoll is one converge pass of the service over a converged host (2
// recorded accounts) against a full verify of one account (what 'wfpsandbox verify'
// does), in the same run; calls/op counts every engine call.
func BenchmarkPoll(b *testing.B) {
	for _, foreign := range []int{0, 1000} {
		h := newBenchHost(b, foreign)
		svc, err := New(Config{StateDir: h.dir, Open: h.open})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("poll-2-accounts/foreign=%d", foreign), func(b *testing.B) {
			h.takeCalls()
			for i := 0; i < b.N; i++ {
				for _, o := range svc.ConvergeAll(context.Background()) {
					if o.Action != ActionCurrent {
						b.Fatalf("%+v", o)
					}
				}
			}
			b.ReportMetric(float64(h.takeCalls())/float64(b.N), "calls/op")
		})
		b.Run(fmt.Sprintf("verify-1-account/foreign=%d", foreign), func(b *testing.B) {
			rec, err := state.Read(h.dir, sidStrict)
			if err != nil {
				b.Fatal(err)
			}
			h.takeCalls()
			for i := 0; i < b.N; i++ {
				plan, err := setup.PlanOfRecord(h.dir, rec)
				if err != nil {
					b.Fatal(err)
				}
				e, _ := h.open()
				rep, err := reconcile.Verify(e, plan)
				if err != nil || !rep.Compliant {
					b.Fatalf("%v %+v", err, rep)
				}
				e.Close()
			}
			b.ReportMetric(float64(h.takeCalls())/float64(b.N), "calls/op")
		})
	}
}
