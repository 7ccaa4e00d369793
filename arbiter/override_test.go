package arbiter_test

import (
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// earlySublayer sorts before every UUIDv5 key of ours in key order (the arbiter's
// choice for equal weights), so that in the evaluated order it comes first.
var earlySublayer = wfp.MustParseGUID("00000000-0000-4000-8000-0000000000e1")

// TestSoftPermitOverridesEarlierSoftBlock: arbitration keeps the current action with
// FWPS_RIGHT_ACTION_WRITE (DOC:fwp/filter-arbitration). A callout's block is soft, so
// when another 0xFFFF sublayer evaluated before ours soft-blocks another account's flow,
// the sandbox account's soft guard permit overrides it. explain shows it in the trace
// and names that sublayer in a caution; the other order (undocumented) blocks, and a
// caution says so too.
func TestSoftPermitOverridesEarlierSoftBlock(t *testing.T) {
	ours := layout(t, sandboxSID, policy.Baseline, policy.MatchDeny)
	callout := filter("ids callout", earlySublayer, wfp.LayerALEAuthConnectV4, wfp.ActionCalloutTerminating, 0, wfp.U8(1), port(443))
	callout.Action.CalloutKey = wfp.MustParseGUID("00000000-0000-4000-8000-0000000000c1")
	host := union(ours, arbiter.Set{Filters: []*wfp.Filter{callout}, Sublayers: []*wfp.Sublayer{sublayer(earlySublayer, "ids", 0xFFFF)}})
	fl := flow(t, arbiter.Outbound, arbiter.ProtoTCP, "93.184.216.34:443", token(t, arbiter.TokenNormal, otherSID))
	opts := arbiter.Options{Callouts: map[wfp.GUID]arbiter.CalloutResult{callout.Key: arbiter.CalloutSoftBlock}}
	d, err := arbiter.NewIndex(host).Evaluate(fl, opts)
	if err != nil {
		t.Fatal(err)
	}
	guard := guardKey(t, sandboxSID, wfp.LayerALEAuthConnectV4)
	if d.Action != arbiter.Permit || d.Filter == nil || d.Filter.Key != guard {
		t.Fatalf("%s by %v; want permit by our guard (it overrides the earlier soft block)\n%s", d.Action, d.Filter, d.Text())
	}
	trace, cautions := strings.Join(d.Trace, "\n"), strings.Join(d.Cautions, "\n")
	if !strings.Contains(trace, `overrides the soft block of "ids callout" decided by sublayer `+earlySublayer.String()) {
		t.Errorf("trace does not show the override:\n%s", trace)
	}
	if !strings.Contains(cautions, "overrides the soft block of \"ids callout\" decided by sublayer "+earlySublayer.String()+" evaluated before it") {
		t.Errorf("no caution naming the other sublayer: %q", d.Cautions)
	}
	if !strings.Contains(cautions, "evaluated in the order "+denySublayerKey(sandboxSID).String()+" → "+earlySublayer.String()+" the result would be block by \"ids callout\"") {
		t.Errorf("no caution for the other order: %q", d.Cautions)
	}

	// A hard callout block (the right cleared) is final: nothing overrides it.
	opts.Callouts[callout.Key] = arbiter.CalloutHardBlock
	if d, _ = arbiter.NewIndex(host).Evaluate(fl, opts); d.Action != arbiter.Block || d.Filter.Key != callout.Key {
		t.Errorf("hard callout block: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}

	// In a lower sublayer, evaluated after ours, the soft block overrides our soft
	// permit: a soft permit decides only its own sublayer.
	low := union(ours, arbiter.Set{Filters: []*wfp.Filter{callout}, Sublayers: []*wfp.Sublayer{sublayer(earlySublayer, "ids", 0x8000)}})
	opts.Callouts[callout.Key] = arbiter.CalloutSoftBlock
	if d, _ = arbiter.NewIndex(low).Evaluate(fl, opts); d.Action != arbiter.Block || d.Filter.Key != callout.Key || len(d.Cautions) != 0 {
		t.Errorf("soft block after our guard: %s by %v, cautions %q\n%s", d.Action, d.Filter, d.Cautions, d.Text())
	}

	// Without an assumed result the callout is not evaluated; the decision names the
	// possibility.
	d, _ = arbiter.NewIndex(host).Evaluate(fl, arbiter.Options{})
	if d.Action != arbiter.Permit || len(d.NotEvaluated) != 1 || !strings.Contains(strings.Join(d.Cautions, "\n"), `callout filter "ids callout"`) {
		t.Errorf("unevaluated callout: %s, NotEvaluated %v, cautions %q", d.Action, d.NotEvaluated, d.Cautions)
	}
	// … and not when the callout's sublayer comes after the permit for certain.
	if d, _ = arbiter.NewIndex(low).Evaluate(fl, arbiter.Options{}); len(d.Cautions) != 0 {
		t.Errorf("caution for a callout evaluated after the permit: %q", d.Cautions)
	}
}

// TestCalloutVeto: a callout block overturns a hard permit decided earlier (a veto); a
// filter block does not.
func TestCalloutVeto(t *testing.T) {
	L := wfp.LayerALEAuthConnectV4
	hp := filter("hard permit", thirdSublayer, L, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{})
	co := filter("veto callout", lowSublayer, L, wfp.ActionCalloutTerminating, 0, wfp.Value{})
	blk := filter("plain block", lowSublayer, L, wfp.ActionBlock, 0, wfp.Value{})
	subs := []*wfp.Sublayer{sublayer(thirdSublayer, "high", 0x9000), sublayer(lowSublayer, "low", 0x1000)}
	opts := arbiter.Options{Callouts: map[wfp.GUID]arbiter.CalloutResult{co.Key: arbiter.CalloutSoftBlock}}
	fl := flow(t, arbiter.Outbound, arbiter.ProtoTCP, "8.8.8.8:443", token(t, arbiter.TokenNormal, sandboxSID))
	d, _ := arbiter.NewIndex(arbiter.Set{Filters: []*wfp.Filter{hp, co}, Sublayers: subs}).Evaluate(fl, opts)
	if d.Action != arbiter.Block || d.Filter.Key != co.Key || !strings.Contains(strings.Join(d.Trace, "\n"), "vetoes the hard permit") {
		t.Errorf("veto: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
	d, _ = arbiter.NewIndex(arbiter.Set{Filters: []*wfp.Filter{hp, blk}, Sublayers: subs}).Evaluate(fl, opts)
	if d.Action != arbiter.Permit || d.Filter.Key != hp.Key {
		t.Errorf("filter block after a hard permit: %s by %v\n%s", d.Action, d.Filter, d.Text())
	}
}

// TestOwnSublayersNoOrderCaution: several deny accounts put several sublayers of weight
// 0xFFFF on one host. Their order is undocumented, but it cannot change any outcome
// (each guard permits softly everyone but its account, each account's blocks are hard),
// so no caution is raised and the trace has one note per layer, not one per pair. A
// third-party 0xFFFF hard permit among them does change the outcome, and is named.
func TestOwnSublayersNoOrderCaution(t *testing.T) {
	sids := []string{sandboxSID, otherSID, "S-1-5-21-3623811015-3361044348-30300820-1020", "S-1-5-21-3623811015-3361044348-30300820-1021", "S-1-5-21-3623811015-3361044348-30300820-1022"}
	var sets []arbiter.Set
	for i, s := range sids {
		p := policy.Baseline
		if i%2 == 1 {
			p = policy.Strict
		}
		sets = append(sets, layout(t, s, p, policy.MatchDeny))
	}
	host := union(sets...)
	outsider := "S-1-5-21-3623811015-3361044348-30300820-1099"
	for _, who := range append(sids, outsider) {
		for _, remote := range []string{"8.8.8.8:53", "93.184.216.34:443", "127.0.0.1:8080"} {
			d, err := arbiter.NewIndex(host).Evaluate(flow(t, arbiter.Outbound, arbiter.ProtoTCP, remote, token(t, arbiter.TokenDenyOnly, who)), arbiter.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Cautions) != 0 {
				t.Errorf("%s → %s: cautions %q", who, remote, d.Cautions)
			}
			if n := strings.Count(strings.Join(d.Trace, "\n"), "have the same weight"); n != 2 {
				t.Errorf("%s → %s: %d same-weight notes, want one per layer (2)", who, remote, n)
			}
		}
	}
	tp := filter("tie hard permit", earlySublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(53))
	host = union(host, arbiter.Set{Filters: []*wfp.Filter{tp}, Sublayers: []*wfp.Sublayer{sublayer(earlySublayer, "vpn", 0xFFFF)}})
	d, _ := arbiter.NewIndex(host).Evaluate(flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", token(t, arbiter.TokenNormal, sandboxSID)), arbiter.Options{})
	if len(d.Cautions) != 1 || !strings.Contains(d.Cautions[0], "the result would be block by") || !strings.Contains(d.Cautions[0], denySublayerKey(sandboxSID).String()) {
		t.Fatalf("%s by %v, cautions %q; want the hard permit first in key order and a caution that our block wins in another order\n%s", d.Action, d.Filter, d.Cautions, d.Text())
	}
}

// TestInspectionCalloutSkipped: an inspection callout "never returns block or permit"
// (FWPM_ACTION0), so it cannot change the decision and is not reported as unevaluated.
func TestInspectionCalloutSkipped(t *testing.T) {
	set := arbiter.Set{Sublayers: []*wfp.Sublayer{sublayer(thirdSublayer, "s", 1)}, Filters: []*wfp.Filter{
		filter("inspect", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionCalloutInspection, 0, wfp.U8(3)),
		filter("terminating", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionCalloutTerminating, 0, wfp.U8(2)),
	}}
	d := evaluate(t, set, arbiter.ProtoTCP, "8.8.8.8:443")
	if d.Action != arbiter.Permit || len(d.NotEvaluated) != 1 || !strings.Contains(d.NotEvaluated[0], `"terminating"`) {
		t.Fatalf("NotEvaluated %q; want only the terminating callout", d.NotEvaluated)
	}
}
