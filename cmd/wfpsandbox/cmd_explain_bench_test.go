package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// writeBenchHost writes a simulated host: the sandbox account set up (setup --sid) and
// n filters of another provider in 12 sublayers (one at 0xFFFF), with port, address,
// protocol, application-ID and per-user SD conditions, none of which matches
// 8.8.8.8:443 — so every filter is evaluated for that flow.
func writeBenchHost(tb testing.TB, path string, n int) {
	tb.Helper()
	var out, errb = io.Discard, io.Discard
	if code := run(context.Background(), []string{"setup", "--sid", sid, "--engine", "memory:" + path}, out, errb); code != exitOK {
		tb.Fatalf("setup: exit %d", code)
	}
	e, err := memengine.OpenFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	pk := wfp.MustParseGUID("b0b0b0b0-0000-4000-8000-000000000001")
	check := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	check(e.BeginTransaction())
	check(e.AddProvider(&wfp.Provider{Key: pk, Name: "bench provider", Flags: wfp.ProviderFlagPersistent}))
	var subs []wfp.GUID
	for i := range 12 {
		k := wfp.NameGUID(pk, fmt.Sprintf("sublayer %d", i))
		w := uint16(0x1000 * (i + 1))
		if i == 11 {
			w = 0xFFFF
		}
		check(e.AddSublayer(&wfp.Sublayer{Key: k, Name: fmt.Sprintf("bench %d", i), Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: w}))
		subs = append(subs, k)
	}
	layers := []wfp.LayerID{wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV4,
		wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthConnectV6,
		wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEResourceAssignmentV4}
	for i := range n {
		layer := layers[i%len(layers)]
		p := uint16(20000 + i%30000)
		var conds []wfp.Condition
		switch i % 5 {
		case 0:
			conds = []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)}}
		case 1:
			conds = []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(132)}}
			if layer != wfp.LayerALEResourceAssignmentV4 {
				pre := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
				if layer == wfp.LayerALEAuthConnectV6 {
					pre = netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, byte(i >> 8), byte(i)}), 64)
				}
				conds = append(conds, wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(pre)})
			}
		case 2:
			sd, err := account.ParseSDDL(fmt.Sprintf("D:(A;;CC;;;S-1-5-21-1-2-3-%d)", 2000+i%50))
			check(err)
			b, err := sd.Bytes()
			check(err)
			conds = []wfp.Condition{{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(b)},
				{Field: wfp.FieldIPRemotePort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(p), wfp.U16(p+10))}}
		case 3:
			conds = []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)},
				{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteBlob, Bytes: []byte(fmt.Sprintf(`\device\harddiskvolume3\app%d.exe`, i))}}}
		case 4:
			conds = []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(6)},
				{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p)}, {Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(p + 1)}}
		}
		if layer == wfp.LayerALEResourceAssignmentV4 {
			// No remote fields at RESOURCE_ASSIGNMENT: keep the others, add a protocol.
			kept := []wfp.Condition{{Field: wfp.FieldIPProtocol, Match: wfp.MatchEqual, Value: wfp.U8(132)}}
			for _, c := range conds {
				if c.Field != wfp.FieldIPRemotePort && c.Field != wfp.FieldIPRemoteAddress && c.Field != wfp.FieldIPProtocol {
					kept = append(kept, c)
				}
			}
			conds = kept
		}
		act, flags := wfp.ActionPermit, wfp.FilterFlagPersistent
		switch i % 7 {
		case 1:
			flags |= wfp.FilterFlagClearActionRight
		case 2, 3:
			act = wfp.ActionBlock
		}
		name := fmt.Sprintf("bench filter %d", i)
		_, err := e.AddFilter(&wfp.Filter{Key: wfp.NameGUID(pk, name), Name: name, Flags: flags, ProviderKey: &pk, Layer: layer,
			Sublayer: subs[i%len(subs)], Weight: wfp.U8(uint8(i % 16)), Action: wfp.Action{Type: act}, Conditions: conds})
		check(err)
	}
	check(e.CommitTransaction())
	check(e.Close())
}

// TestWriteBenchHost writes the 10,000-filter host to $WFPSANDBOX_BENCH_HOST, for timing
// the whole `wfpsandbox explain --engine memory:FILE` process (BENCHMARKS.md). Skipped
// unless the variable is set.
func TestWriteBenchHost(t *testing.T) {
	path := os.Getenv("WFPSANDBOX_BENCH_HOST")
	if path == "" {
		t.Skip("set WFPSANDBOX_BENCH_HOST=FILE to write the benchmark host")
	}
	writeBenchHost(t, path, 10000)
}

// benchHost is written once per benchmark binary.
func benchHost(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "host.json")
	writeBenchHost(b, path, 10000)
	return path
}

// BenchmarkExplainEngineLoad10k: opening the simulated host file and enumerating every
// provider's filters and sublayers (FromEngine) — the loading part of explain.
func BenchmarkExplainEngineLoad10k(b *testing.B) {
	path := benchHost(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := memengine.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := arbiter.FromEngine(e); err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}

// BenchmarkExplainCLI10k: the whole explain command in-process (flags, load, index,
// evaluate, text output), without the process start.
func BenchmarkExplainCLI10k(b *testing.B) {
	path := benchHost(b)
	args := []string{"explain", "--sid", sid, "--engine", "memory:" + path, "--proto", "tcp", "--remote", "8.8.8.8:443"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("exit %d", code)
		}
	}
}
