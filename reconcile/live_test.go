package reconcile

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// livePlan is a plan whose shape does not depend on the deny layout's evolution.
func livePlan(t testing.TB, sid string) *policy.Plan {
	t.Helper()
	p, err := policy.Build(policy.Options{SID: sid, Profile: policy.Baseline, UserMatch: policy.MatchAllow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustInstallPlan(t testing.TB, e wfp.Engine, p *policy.Plan) {
	t.Helper()
	if _, err := Install(e, p, Options{}); err != nil {
		t.Fatalf("Install: %v", err)
	}
}

// CheckLive reads exactly the plan's objects by key, inside a read-only transaction,
// and nothing else: begin, provider, sublayer, one Get per filter, abort.
func TestCheckLiveReadsByKeyOnly(t *testing.T) {
	w := newWorld(t)
	p := livePlan(t, sidA)
	mustInstallPlan(t, w.session(t), p)

	res, err := CheckLive(w.rec, p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Current || res.Matching != len(p.Filters) || res.Planned != len(p.Filters) || len(res.Findings) != 0 || !res.ReadTransaction {
		t.Fatalf("result %+v: want current, %d of %d matching, in a read-only transaction", res, len(p.Filters), len(p.Filters))
	}
	want := []string{"BeginRead", "Provider", "Sublayer"}
	for range p.Filters {
		want = append(want, "Filter")
	}
	want = append(want, "Abort")
	if fmt.Sprint(w.rec.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v\nwant  %v", w.rec.calls, want)
	}
}

// What is missing or drifted is a finding; the rest still matches.
func TestCheckLiveFindsMissingAndDrift(t *testing.T) {
	w := newWorld(t)
	p := livePlan(t, sidA)
	s := w.session(t)

	res, err := CheckLive(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Current || len(res.Findings) != len(p.Filters)+2 || res.Matching != 0 {
		t.Fatalf("empty engine: %+v, want %d missing findings", res, len(p.Filters)+2)
	}

	mustInstallPlan(t, s, p)
	if err := s.DeleteFilter(p.Filters[0].Key); err != nil {
		t.Fatal(err)
	}
	changed := p.Filters[1].Clone()
	changed.Action.Type = wfp.ActionPermit
	if err := s.DeleteFilter(changed.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddFilter(changed); err != nil {
		t.Fatal(err)
	}
	res, err = CheckLive(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Current || res.Matching != len(p.Filters)-2 || len(res.Findings) != 2 ||
		res.Findings[0].Key != p.Filters[0].Key || res.Findings[0].Problem != ProblemMissing ||
		res.Findings[1].Key != p.Filters[1].Key || res.Findings[1].Problem != ProblemDrifted {
		t.Fatalf("findings %+v (matching %d): want filter 0 missing, filter 1 drifted", res.Findings, res.Matching)
	}
}

// An engine that refuses the read-only transaction with ERROR_ACCESS_DENIED (a caller
// without FWPM_ACTRL_BEGIN_READ_TXN) still gets an answer, read without a transaction,
// and says so; any other refusal is an error.
func TestCheckLiveWithoutTransactionRight(t *testing.T) {
	bfe := memengine.NewBFE()
	admin := bfe.Open()
	p := livePlan(t, sidA)
	mustInstallPlan(t, admin, p)

	user := bfe.Open()
	user.InjectFault(func(c memengine.Call) error {
		if c.Name == "FwpmTransactionBegin0" {
			return wfp.ErrAccessDenied
		}
		return nil
	})
	res, err := CheckLive(user, p)
	if err != nil {
		t.Fatalf("CheckLive without BEGIN_READ_TXN: %v", err)
	}
	if !res.Current || res.ReadTransaction {
		t.Fatalf("result %+v: want current, read without a transaction", res)
	}

	down := bfe.Open()
	down.InjectFault(func(c memengine.Call) error {
		if c.Name == "FwpmTransactionBegin0" {
			return wfp.ErrRPCServerUnavailable
		}
		return nil
	})
	if _, err := CheckLive(down, p); !errors.Is(err, wfp.ErrRPCServerUnavailable) {
		t.Fatalf("CheckLive with BFE unreachable = %v, want the RPC error", err)
	}
}

// An object the caller may not read (installed without the read grant) makes the
// check fail, wrapping ERROR_ACCESS_DENIED — never a "missing" finding, never current.
func TestCheckLiveAccessDeniedIsAnError(t *testing.T) {
	bfe := memengine.NewBFE()
	p := livePlan(t, sidA)
	mustInstallPlan(t, bfe.Open(), p)
	user := bfe.Open()
	user.InjectFault(func(c memengine.Call) error {
		switch c.Name {
		case "FwpmTransactionBegin0", "FwpmFilterGetByKey0":
			return wfp.ErrAccessDenied
		}
		return nil
	})
	res, err := CheckLive(user, p)
	if !errors.Is(err, wfp.ErrAccessDenied) || res != nil {
		t.Fatalf("CheckLive = %+v, %v; want an error wrapping ERROR_ACCESS_DENIED", res, err)
	}
}

// callCounter counts every wfp.Engine call, whatever the engine.
type callCounter struct {
	wfp.Engine
	n int
}

func (c *callCounter) BeginTransaction() error     { c.n++; return c.Engine.BeginTransaction() }
func (c *callCounter) BeginReadTransaction() error { c.n++; return c.Engine.BeginReadTransaction() }
func (c *callCounter) CommitTransaction() error    { c.n++; return c.Engine.CommitTransaction() }
func (c *callCounter) AbortTransaction() error     { c.n++; return c.Engine.AbortTransaction() }
func (c *callCounter) AddProvider(p *wfp.Provider) error {
	c.n++
	return c.Engine.AddProvider(p)
}
func (c *callCounter) AddSublayer(s *wfp.Sublayer) error {
	c.n++
	return c.Engine.AddSublayer(s)
}
func (c *callCounter) AddFilter(f *wfp.Filter) (uint64, error) {
	c.n++
	return c.Engine.AddFilter(f)
}
func (c *callCounter) DeleteProvider(k wfp.GUID) error { c.n++; return c.Engine.DeleteProvider(k) }
func (c *callCounter) DeleteSublayer(k wfp.GUID) error { c.n++; return c.Engine.DeleteSublayer(k) }
func (c *callCounter) DeleteFilter(k wfp.GUID) error   { c.n++; return c.Engine.DeleteFilter(k) }
func (c *callCounter) Provider(k wfp.GUID) (*wfp.Provider, error) {
	c.n++
	return c.Engine.Provider(k)
}
func (c *callCounter) Sublayer(k wfp.GUID) (*wfp.Sublayer, error) {
	c.n++
	return c.Engine.Sublayer(k)
}
func (c *callCounter) Filter(k wfp.GUID) (*wfp.Filter, error) { c.n++; return c.Engine.Filter(k) }
func (c *callCounter) FilterByID(id uint64) (*wfp.Filter, error) {
	c.n++
	return c.Engine.FilterByID(id)
}
func (c *callCounter) Providers() ([]*wfp.Provider, error) { c.n++; return c.Engine.Providers() }
func (c *callCounter) Sublayers(p *wfp.GUID) ([]*wfp.Sublayer, error) {
	c.n++
	return c.Engine.Sublayers(p)
}
func (c *callCounter) Filters(p *wfp.GUID) ([]*wfp.Filter, error) {
	c.n++
	return c.Engine.Filters(p)
}

// liveHost is an in-memory host holding the plan installed and foreign filters of
// another provider, in its own sublayer, spread over the four ALE connect/accept layers.
func liveHost(t testing.TB, p *policy.Plan, foreign int) *memengine.BFE {
	t.Helper()
	bfe := memengine.NewBFE()
	s := bfe.Open()
	defer s.Close()
	mustInstallPlan(t, s, p)
	if foreign == 0 {
		return bfe
	}
	pk := wfp.MustParseGUID("f0e1d2c3-0000-4000-8000-00000000f0e1")
	sk := wfp.MustParseGUID("f0e1d2c3-0000-4000-8000-00000000f0e2")
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	must(s.BeginTransaction())
	must(s.AddProvider(&wfp.Provider{Key: pk, Name: "another vendor", Flags: wfp.ProviderFlagPersistent}))
	must(s.AddSublayer(&wfp.Sublayer{Key: sk, Name: "another vendor", ProviderKey: &pk, Flags: wfp.SublayerFlagPersistent, Weight: 0x1000}))
	layers := []wfp.LayerID{wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEAuthRecvAcceptV6}
	for i := range foreign {
		_, err := s.AddFilter(&wfp.Filter{
			Key: wfp.NameGUID(pk, fmt.Sprint("foreign/", i)), Name: fmt.Sprint("foreign ", i), ProviderKey: &pk,
			Flags: wfp.FilterFlagPersistent, Layer: layers[i%len(layers)], Sublayer: sk,
			Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(uint16(1 + i%60000))}},
			Action:     wfp.Action{Type: wfp.ActionPermit},
		})
		must(err)
	}
	must(s.CommitTransaction())
	return bfe
}

// The cost of the live check does not grow with the host: on a host holding 10,000
// foreign filters it makes exactly the engine calls it makes on a host holding only
// ours (Verify, which enumerates every filter, is not bounded the same way on the real
// engine: one enumeration per layer, with pages of filters).
func TestCheckLiveCallsIndependentOfHost(t *testing.T) {
	p := livePlan(t, sidA)
	count := func(foreign int) int {
		bfe := liveHost(t, p, foreign)
		c := &callCounter{Engine: bfe.Open()}
		defer c.Close()
		res, err := CheckLive(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Current {
			t.Fatalf("host with %d foreign filters: not current: %+v", foreign, res.Findings)
		}
		return c.n
	}
	small, big := count(0), count(10000)
	if small != big {
		t.Fatalf("CheckLive made %d engine calls on a small host and %d with 10,000 foreign filters: want the same", small, big)
	}
	if want := len(p.Filters) + 4; small != want {
		t.Fatalf("CheckLive made %d calls, want %d (begin, provider, sublayer, %d filters, abort)", small, want, len(p.Filters))
	}
}
