package arbiter_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// otherProviders returns n filters of three other providers in 12 sublayers (one of
// them at 0xFFFF, tied with ours), spread over the ALE layers a flow is evaluated at,
// with the conditions such hosts carry: ports, address masks, protocols, application
// IDs (not modelled by the arbiter), per-user SDs; permits soft and hard, blocks, a few
// callouts. None of them matches the benchmark flows, so every one is evaluated — the
// worst case for explain.
func otherProviders(tb testing.TB, n int) arbiter.Set {
	var set arbiter.Set
	var subs []wfp.GUID
	for i := range 12 {
		k := wfp.NameGUID(thirdProvider, fmt.Sprintf("bench sublayer %d", i))
		w := uint16(0x1000 * (i + 1))
		if i == 11 {
			w = 0xFFFF
		}
		pk := thirdProvider
		set.Sublayers = append(set.Sublayers, &wfp.Sublayer{Key: k, Name: fmt.Sprintf("bench %d", i), Weight: w, ProviderKey: &pk})
		subs = append(subs, k)
	}
	layers := []wfp.LayerID{wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV4,
		wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthConnectV6,
		wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEResourceAssignmentV4}
	userSD := func(i int) []byte {
		sd, err := account.ParseSDDL(fmt.Sprintf("D:(A;;CC;;;S-1-5-21-1-2-3-%d)", 2000+i%50))
		if err != nil {
			tb.Fatal(err)
		}
		b, err := sd.Bytes()
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	for i := range n {
		layer := layers[i%len(layers)]
		v6 := layer == wfp.LayerALEAuthConnectV6
		var conds []wfp.Condition
		p := uint16(20000 + i%30000)
		switch i % 5 {
		case 0:
			conds = []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)}}
		case 1:
			pre := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
			if v6 {
				pre = netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, byte(i >> 8), byte(i)}), 64)
			}
			if layer == wfp.LayerALEResourceAssignmentV4 {
				conds = []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(132)}}
				break
			}
			conds = []wfp.Condition{{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(pre)},
				{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(17)}}
		case 2:
			conds = []wfp.Condition{{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(userSD(i))},
				{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(p), wfp.U16(p+10))}}
		case 3:
			// An application-ID condition the arbiter does not model, ANDed with a
			// port that does not match: the filter is still decided (no match).
			conds = []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)},
				{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteBlob, Bytes: []byte(fmt.Sprintf(`\device\harddiskvolume3\app%d.exe`, i))}}}
		case 4:
			conds = []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(6)},
				{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)}, {Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p + 1)}}
		}
		act, flags := wfp.ActionPermit, wfp.FilterFlags(0)
		switch i % 7 {
		case 1:
			flags = wfp.FilterFlagClearActionRight
		case 2, 3:
			act = wfp.ActionBlock
		}
		if i%97 == 0 {
			act = wfp.ActionCalloutInspection // non-terminating: skipped
		}
		f := filter(fmt.Sprintf("bench filter %d", i), subs[i%len(subs)], layer, act, flags, wfp.U8(uint8(i%16)), conds...)
		set.Filters = append(set.Filters, f)
	}
	return set
}

// benchFlows are a flow of the sandbox account and one of another account, both to a
// port nothing blocks in the baseline, so every sublayer is evaluated.
func benchFlows(tb testing.TB) []arbiter.Flow {
	mk := func(sid string) arbiter.Flow {
		tok, err := arbiter.TokenFor(arbiter.TokenNormal, mustSIDtb(tb, sid))
		if err != nil {
			tb.Fatal(err)
		}
		return arbiter.Flow{Direction: arbiter.Outbound, Protocol: arbiter.ProtoTCP, Remote: netip.MustParseAddrPort("93.184.216.34:443"), Token: tok}
	}
	return []arbiter.Flow{mk(sandboxSID), mk(otherSID)}
}

func mustSIDtb(tb testing.TB, s string) account.SID {
	sid, err := account.ParseSID(s)
	if err != nil {
		tb.Fatal(err)
	}
	return sid
}

// ourHost is two accounts' deny layouts (the sandbox account and another).
func ourHost(tb testing.TB) arbiter.Set {
	return union(layout(tb, sandboxSID, policy.Baseline, policy.MatchDeny),
		layout(tb, "S-1-5-21-3623811015-3361044348-30300820-1020", policy.Baseline, policy.MatchDeny))
}

func benchEvaluate(b *testing.B, set arbiter.Set, opts arbiter.Options) {
	ix := arbiter.NewIndex(set)
	flows := benchFlows(b)
	b.ResetTimer()
	cpu0, ok := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := ix.Evaluate(flows[i%len(flows)], opts); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0, ok)
}

// reportCPU adds cpu-ns/op: the process's CPU time per operation (GC included), which
// unlike ns/op does not grow when other processes compete for the CPU.
func reportCPU(b *testing.B, cpu0 int64, ok bool) {
	if cpu1, ok1 := processCPU(); ok && ok1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkExplainOurs is the baseline: a flow against only our filters (two accounts).
func BenchmarkExplainOurs(b *testing.B) { benchEvaluate(b, ourHost(b), arbiter.Options{}) }

// BenchmarkExplainHost10k: the same flows against ours plus 10,000 filters of other
// providers (summary trace, the CLI default).
func BenchmarkExplainHost10k(b *testing.B) {
	benchEvaluate(b, union(ourHost(b), otherProviders(b, 10000)), arbiter.Options{})
}

// BenchmarkExplainHost10kFullTrace: the same with --trace (a line per filter).
func BenchmarkExplainHost10kFullTrace(b *testing.B) {
	benchEvaluate(b, union(ourHost(b), otherProviders(b, 10000)), arbiter.Options{FullTrace: true})
}

// BenchmarkIndexHost10k: preparing the index (sorting, parsing SDs) once per process.
func BenchmarkIndexHost10k(b *testing.B) {
	set := union(ourHost(b), otherProviders(b, 10000))
	b.ResetTimer()
	cpu0, ok := processCPU()
	for i := 0; i < b.N; i++ {
		arbiter.NewIndex(set)
	}
	reportCPU(b, cpu0, ok)
}

// TestHost10kSummaryReadable: on the 10,000-filter host the default trace of a flow that
// evaluates every filter stays short, and the decision is the one without the other
// providers' filters (none of them matches).
func TestHost10kSummaryReadable(t *testing.T) {
	host := union(layout(t, sandboxSID, policy.Baseline, policy.MatchDeny), otherProviders(t, 10000))
	for _, fl := range benchFlows(t) {
		d, err := arbiter.NewIndex(host).Evaluate(fl, arbiter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != arbiter.Permit || len(d.Trace) > 80 {
			t.Fatalf("%s, %d trace lines\n%s", d.Action, len(d.Trace), d.Text())
		}
	}
}
