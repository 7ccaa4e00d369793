package arbiter

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Action is the outcome of arbitration.
type Action uint8

// Actions.
const (
	Permit Action = iota
	Block
)

func (a Action) String() string {
	if a == Block {
		return "block"
	}
	return "permit"
}

// Set is what the arbiter evaluates: filters of any providers and the sublayers they
// sit in. A filter whose sublayer is not in Sublayers is evaluated as if its sublayer
// had weight 0, and the trace says so.
type Set struct {
	Filters   []*wfp.Filter
	Sublayers []*wfp.Sublayer
}

// LayerDecision is the outcome at one layer.
type LayerDecision struct {
	Layer  wfp.LayerID
	Action Action
	Hard   bool        // the action right was cleared (hard permit, or any filter block)
	Filter *wfp.Filter // the deciding filter; nil when no filter decided (permit)
}

// Decision is the outcome for a flow.
type Decision struct {
	Action Action
	// Layer is the deciding layer: the first layer that blocks, else the last layer
	// evaluated.
	Layer wfp.LayerID
	// Filter is the filter that decided at Layer; nil when no filter matched there.
	Filter *wfp.Filter
	// Layers holds the outcome of every layer evaluated, in order.
	Layers []LayerDecision
	// Trace is a readable account of the evaluation, one line per step.
	Trace []string
	// Cautions name what could change the decision on a real host: equal-weight
	// sublayers whose other order gives another result, filters whose order inside an
	// auto-weight range is up to BFE.
	Cautions []string
	// NotEvaluated names filters the arbiter could not evaluate (callouts, conditions
	// it does not model); they were treated as not matching. Empty when the decision
	// does not depend on anything unmodelled.
	NotEvaluated []string

	tied bool // the layer being evaluated has sublayers of equal weight
}

// Evaluate evaluates flow against set the way WFP arbitrates (wfp-facts §1,
// DOC:fwp/filter-arbitration), layer by layer (Flow.Layers):
//
//   - sublayers in order of weight, highest first; every sublayer is evaluated;
//   - inside a sublayer, filters in order of weight, highest first (see weightOf); the
//     first matching filter with a terminating action (permit or block) decides the
//     sublayer and hides the filters below it;
//   - across sublayers a block overrides a soft permit; a hard permit (a permit with
//     FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT) cannot be overridden by a block of a later
//     sublayer — only by a callout veto, which is not modelled; a filter block clears
//     the action right, so it is final and ends the evaluation of the layer;
//   - when no filter decides, the layer permits;
//   - the flow is blocked when any of its layers blocks.
//
// Not modelled: callout filters (reported, treated as not matching), FWP_ACTION_CONTINUE
// and other non-terminating actions (skipped), provider contexts, filter conditions on
// fields a Flow does not carry (reported, treated as not matching), the Windows
// Firewall's and other built-in behaviour not expressed as filters in set, and boot-time
// filters unless they are in set.
func Evaluate(set Set, flow Flow) (Decision, error) {
	if err := flow.Validate(); err != nil {
		return Decision{}, fmt.Errorf("explain: %w", err)
	}
	weights := map[wfp.GUID]*wfp.Sublayer{}
	for _, s := range set.Sublayers {
		weights[s.Key] = s
	}
	d := Decision{}
	d.Trace = append(d.Trace, "flow: "+flow.String())
	if flow.Remote.Addr().Is4In6() {
		d.Trace = append(d.Trace, fmt.Sprintf("note: %s is an IPv4-mapped IPv6 address; evaluated at the V6 layers as a 16-byte address (dual-stack socket). Windows may instead classify it at the V4 layers as %s (undocumented, not checked on Windows); a caution follows if that changes the decision",
			flow.Remote.Addr(), flow.Remote.Addr().Unmap()))
	}
	for _, layer := range flow.Layers() {
		if n := len(d.Layers); n > 0 && d.Layers[n-1].Action == Block {
			d.Trace = append(d.Trace, "note: blocked at the previous layer, so the flow never reaches the next one; it is evaluated for completeness")
		}
		ld := evaluateLayer(&d, set.Filters, weights, &flow, layer, false)
		if d.tied {
			var alt Decision
			other := evaluateLayer(&alt, set.Filters, weights, &flow, layer, true)
			if other.Action != ld.Action || other.Filter != ld.Filter {
				c := fmt.Sprintf("at %s, with the equal-weight sublayers in the other order the result would be %s%s", layer, other.Action, filterSuffix(other.Filter))
				d.Cautions = append(d.Cautions, c)
				d.Trace = append(d.Trace, "  caution: "+c)
			}
			d.tied = false
		}
		d.Layers = append(d.Layers, ld)
	}
	d.Action, d.Layer, d.Filter = Permit, d.Layers[len(d.Layers)-1].Layer, d.Layers[len(d.Layers)-1].Filter
	for _, ld := range d.Layers {
		if ld.Action == Block {
			d.Action, d.Layer, d.Filter = Block, ld.Layer, ld.Filter
			break
		}
	}
	if flow.Remote.Addr().Is4In6() {
		alt := flow
		alt.Remote = netip.AddrPortFrom(flow.Remote.Addr().Unmap(), flow.Remote.Port())
		if flow.Local.Addr().IsValid() {
			alt.Local = netip.AddrPortFrom(flow.Local.Addr().Unmap(), flow.Local.Port())
		}
		if other, err := Evaluate(set, alt); err == nil && other.Action != d.Action {
			c := fmt.Sprintf("if Windows classifies %s at the V4 layers as %s, the result is %s at %s%s",
				flow.Remote.Addr(), alt.Remote.Addr(), other.Action, other.Layer, filterSuffix(other.Filter))
			d.Cautions = append(d.Cautions, c)
			d.Trace = append(d.Trace, "caution: "+c)
		}
	}
	d.Trace = append(d.Trace, fmt.Sprintf("decision: %s at %s%s", d.Action, d.Layer, filterSuffix(d.Filter)))
	if len(d.NotEvaluated) > 0 {
		d.Trace = append(d.Trace, fmt.Sprintf("caveat: %d filter(s) could not be evaluated and were treated as not matching", len(d.NotEvaluated)))
	}
	return d, nil
}

func filterSuffix(f *wfp.Filter) string {
	if f == nil {
		return " (no filter matched)"
	}
	return fmt.Sprintf(" by %q %s", f.Name, f.Key)
}

// ranked is a filter with its position in its sublayer.
type ranked struct {
	f      *wfp.Filter
	lo, hi uint64 // the weight, or the range it lies in when BFE assigns it
	exact  bool
	source string
	index  int
}

// weightOf returns the weight of a filter (wfp-facts §1, DOC:fwp/filter-weight-assignment):
// the EffectiveWeight for a filter read from an engine (ID set); an FWP_UINT64 weight as
// is; an FWP_UINT8 weight n (0-15) somewhere in [n<<60, (n+1)<<60); FWP_EMPTY somewhere
// in range 0. Where BFE picks the weight inside a range ("based on the filter
// conditions", undocumented), filters of one range are ordered by number of conditions,
// more first, then by input order; the trace flags when that order could change the
// result.
func weightOf(f *wfp.Filter, index int) ranked {
	r := ranked{f: f, index: index}
	switch {
	case f.ID != 0:
		r.lo, r.hi, r.exact, r.source = f.EffectiveWeight, f.EffectiveWeight, true, fmt.Sprintf("effective weight %#x", f.EffectiveWeight)
	case f.Weight.Type == wfp.Uint64:
		r.lo, r.hi, r.exact, r.source = f.Weight.Uint, f.Weight.Uint, true, fmt.Sprintf("weight %#x", f.Weight.Uint)
	case f.Weight.Type == wfp.Uint8:
		n := min(f.Weight.Uint, 15)
		r.lo, r.hi, r.source = n<<60, n<<60|(1<<60-1), fmt.Sprintf("weight range %d (auto)", n)
	default:
		r.lo, r.hi, r.source = 0, 1<<60-1, "weight range 0 (auto)"
	}
	return r
}

type filterResult struct {
	r      ranked
	got    outcome
	reason string
}

// evaluateLayer evaluates one layer. Sublayers of equal weight are taken in key order,
// or in reverse key order with reverseTies.
func evaluateLayer(d *Decision, filters []*wfp.Filter, sublayers map[wfp.GUID]*wfp.Sublayer, flow *Flow, layer wfp.LayerID, reverseTies bool) LayerDecision {
	trace := func(format string, a ...any) { d.Trace = append(d.Trace, fmt.Sprintf(format, a...)) }
	trace("layer %s", layer)
	bySub := map[wfp.GUID][]ranked{}
	for i, f := range filters {
		if f.Layer == layer {
			bySub[f.Sublayer] = append(bySub[f.Sublayer], weightOf(f, i))
		}
	}
	keys := make([]wfp.GUID, 0, len(bySub))
	for k := range bySub {
		keys = append(keys, k)
	}
	subWeight := func(k wfp.GUID) uint16 {
		if s, ok := sublayers[k]; ok {
			return s.Weight
		}
		return 0
	}
	slices.SortFunc(keys, func(a, b wfp.GUID) int {
		if c := cmp.Compare(subWeight(b), subWeight(a)); c != 0 {
			return c
		}
		if reverseTies {
			return strings.Compare(b.String(), a.String())
		}
		return strings.Compare(a.String(), b.String())
	})
	for i := 1; i < len(keys); i++ {
		if subWeight(keys[i-1]) == subWeight(keys[i]) {
			trace("  note: sublayers %s and %s have the same weight %#04x; WFP does not document their order (evaluated here by key)",
				keys[i-1], keys[i], subWeight(keys[i]))
			d.tied = true
		}
	}
	ld := LayerDecision{Layer: layer, Action: Permit}
	decided := false
	for i, key := range keys {
		name := "(sublayer not supplied: weight taken as 0)"
		if s, ok := sublayers[key]; ok {
			name = fmt.Sprintf("%q weight %#04x", s.Name, s.Weight)
		}
		trace("  sublayer %s %s: %d filter(s)", key, name, len(bySub[key]))
		act, hard, filt, ok := evaluateSublayer(d, bySub[key], flow, layer)
		if !ok {
			trace("  → sublayer: no filter decided")
			continue
		}
		trace("  → sublayer decides %s (%s) by %q", act, hardness(act, hard), filt.Name)
		switch {
		case !decided:
			ld.Action, ld.Hard, ld.Filter, decided = act, hard, filt, true
		case ld.Action == Permit && ld.Hard:
			if act == Block {
				trace("  → the block cannot override the hard permit of %q (only a callout veto could; callouts are not modelled)", ld.Filter.Name)
			}
		case ld.Action == Permit:
			if act == Block {
				trace("  → block overrides the soft permit of %q", ld.Filter.Name)
				ld.Action, ld.Hard, ld.Filter = act, hard, filt
			} else if hard {
				ld.Hard, ld.Filter = true, filt
			}
		}
		if ld.Action == Block && ld.Hard {
			if i < len(keys)-1 {
				trace("  → block is final: %d later sublayer(s) not evaluated", len(keys)-1-i)
			}
			break
		}
	}
	if !decided {
		trace("  layer result: permit (no filter decided)")
	} else {
		trace("  layer result: %s (%s) by %q %s", ld.Action, hardness(ld.Action, ld.Hard), ld.Filter.Name, ld.Filter.Key)
	}
	return ld
}

func hardness(a Action, hard bool) string {
	switch {
	case a == Block:
		return "hard block"
	case hard:
		return "hard permit"
	}
	return "soft permit"
}

// evaluateSublayer finds the first matching terminating filter of one sublayer.
func evaluateSublayer(d *Decision, rs []ranked, flow *Flow, layer wfp.LayerID) (Action, bool, *wfp.Filter, bool) {
	trace := func(format string, a ...any) { d.Trace = append(d.Trace, fmt.Sprintf(format, a...)) }
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(b.lo, a.lo); c != 0 {
			return c
		}
		if c := cmp.Compare(len(b.f.Conditions), len(a.f.Conditions)); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	})
	var results []filterResult
	deciding := -1
	for _, r := range rs {
		f := r.f
		label := fmt.Sprintf("    filter %q %s, %s, %s", f.Name, f.Key, r.source, actionText(f))
		if deciding >= 0 {
			got, why := flow.matchFilter(layer, f)
			results = append(results, filterResult{r, got, strings.Join(why, "; ")})
			trace("%s: not reached", label)
			continue
		}
		switch {
		case f.Flags&wfp.FilterFlagDisabled != 0:
			trace("%s: disabled, skipped", label)
			continue
		case f.Action.Type&wfp.ActionFlagCallout != 0:
			trace("%s: callout filter, not evaluated", label)
			d.NotEvaluated = append(d.NotEvaluated, fmt.Sprintf("%q %s: callout %s", f.Name, f.Key, f.Action.CalloutKey))
			continue
		case f.Action.Type != wfp.ActionBlock && f.Action.Type != wfp.ActionPermit:
			trace("%s: non-terminating action, skipped", label)
			continue
		}
		got, why := flow.matchFilter(layer, f)
		reason := strings.Join(why, "; ")
		if len(f.Conditions) == 0 {
			reason = "no conditions: matches everything"
		}
		results = append(results, filterResult{r, got, reason})
		switch got {
		case yes:
			trace("%s: MATCH — %s", label, reason)
			deciding = len(results) - 1
		case unknown:
			trace("%s: cannot be evaluated, treated as not matching — %s", label, reason)
			d.NotEvaluated = append(d.NotEvaluated, fmt.Sprintf("%q %s: %s", f.Name, f.Key, reason))
		default:
			trace("%s: no match — %s", label, reason)
		}
	}
	if deciding < 0 {
		return Permit, false, nil, false
	}
	win := results[deciding]
	for _, other := range results[deciding+1:] {
		if other.got != no && other.r.f.Action.Type != win.r.f.Action.Type && (!win.r.exact || !other.r.exact) && other.r.hi >= win.r.lo {
			c := fmt.Sprintf("%q (%s) might sit above %q — BFE assigns weights inside a range from the conditions, undocumented; the result could differ",
				other.r.f.Name, actionText(other.r.f), win.r.f.Name)
			d.Cautions = append(d.Cautions, c)
			trace("    caution: %s", c)
		}
	}
	f := win.r.f
	if f.Action.Type == wfp.ActionBlock {
		return Block, true, f, true
	}
	return Permit, f.Flags&wfp.FilterFlagClearActionRight != 0, f, true
}

func actionText(f *wfp.Filter) string {
	switch f.Action.Type {
	case wfp.ActionBlock:
		return "BLOCK"
	case wfp.ActionPermit:
		if f.Flags&wfp.FilterFlagClearActionRight != 0 {
			return "PERMIT (hard)"
		}
		return "PERMIT (soft)"
	}
	return f.Action.Type.String()
}
