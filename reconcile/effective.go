package reconcile

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ProblemOverride: a filter of another owner can decide, for the plan's account, a flow
// one of the account's blocks targets, and let it through (or, inside wfpsandbox's
// sublayer, decide it instead of the block). Finding.Override says which flow.
const ProblemOverride Problem = "override"

// Reasons an Override gives.
const (
	// OverrideEarlierSublayer: a hard permit in a sublayer of higher weight than the
	// block's, evaluated first; a block of a later sublayer cannot override a hard
	// permit, "only a callout Veto" can (DOC:fwp/filter-arbitration,
	// https://learn.microsoft.com/en-us/windows/win32/fwp/filter-arbitration).
	OverrideEarlierSublayer = "hard-permit-earlier-sublayer"
	// OverrideEqualWeight: a hard permit in another sublayer of the same weight as the
	// block's. WFP does not document the order of sublayers of equal weight; in one
	// of the two orders the permit is evaluated first and wins.
	OverrideEqualWeight = "hard-permit-equal-weight"
	// OverrideInSublayer: a filter of another owner inside the block's own sublayer,
	// ordered above the block: the first matching terminating filter of a sublayer
	// decides it and hides the filters below (DOC:fwp/filter-arbitration), and a
	// provider should add filters only to its own sublayers (DOC:fwp/best-practices).
	OverrideInSublayer = "in-our-sublayer"
)

// Ref names a WFP object.
type Ref struct {
	Key  wfp.GUID `json:"key"`
	Name string   `json:"name"`
}

// WitnessFlow is a concrete flow an Override decides.
type WitnessFlow struct {
	Direction string `json:"direction"`       // "out" (connect, bind) or "in" (accept)
	Protocol  string `json:"protocol"`        // tcp, udp, icmp, icmpv6 or proto-N
	Remote    string `json:"remote"`          // address:port (for ICMP the port is the code)
	Local     string `json:"local,omitempty"` // only when a condition needed it
	Token     string `json:"token"`           // the token kind (arbiter.TokenKinds) of the first confirmation
	Text      string `json:"text"`            // "out udp 10.0.0.1:53 from the account's normal token"
}

// Override is a foreign filter that overrides one of the account's blocks for one
// concrete flow, confirmed by arbiter.Evaluate over the installed filters.
type Override struct {
	Reason string `json:"reason"` // OverrideEarlierSublayer, OverrideEqualWeight or OverrideInSublayer
	// Provider is the filter's provider; nil when the filter names none.
	Provider       *Ref   `json:"provider"`
	Filter         Ref    `json:"filter"`
	Action         string `json:"action"` // "hard permit", "soft permit" or "block"
	Sublayer       Ref    `json:"sublayer"`
	SublayerWeight uint16 `json:"sublayerWeight"`
	Layer          string `json:"layer"`
	// Block is the account's filter that decides the flow when the foreign filter is
	// not there.
	Block Block       `json:"block"`
	Flow  WitnessFlow `json:"flow"`
	// Tokens are the token kinds the override was confirmed for (with this block).
	Tokens []string `json:"tokens"`
	// LetsThrough is true when the flow is permitted with the filter in place (always
	// for hard permits outside the sublayer; a foreign block inside our sublayer
	// decides instead of ours but still blocks).
	LetsThrough bool `json:"letsThrough"`
	// Assumed are fields the analysis cannot decide (a Flow does not carry them, or
	// their value or match type is not modelled) and assumed to match: set only on
	// Report.PossibleOverrides.
	Assumed []string `json:"assumed,omitempty"`
}

// Block is one of the account's blocks.
type Block struct {
	Ref
	Rule string `json:"rule"` // the rule ID of its ownership tag
}

// witnessesPerToken caps the flows tried per (block, filter, token kind).
const witnessesPerToken = 4

// effectiveInto adds to rep the foreign filters that can override the plan's blocks
// (findings with ProblemOverride) and the possible ones (Report.PossibleOverrides).
// all are the engine's filters, as Verify enumerated them.
func effectiveInto(e wfp.Engine, plan *policy.Plan, all []*wfp.Filter, rep *Report) error {
	subs, err := e.Sublayers(nil)
	if err != nil {
		return fmt.Errorf("enumerate all sublayers: %w", err)
	}
	found, possible := overrides(plan, all, subs)
	names := map[wfp.GUID]string{}
	for _, list := range [][]Override{found, possible} {
		for i := range list {
			p := list[i].Provider
			if p == nil {
				continue
			}
			if _, ok := names[p.Key]; !ok {
				prov, err := getProvider(e, p.Key)
				if err != nil {
					return err
				}
				names[p.Key] = "(provider not found)"
				if prov != nil {
					names[p.Key] = prov.Name
				}
			}
			p.Name = names[p.Key]
		}
	}
	// A filter verifyInto already reported as foreign (in our sublayer) keeps its one
	// finding, which gets the override; the others get a finding of their own.
	foreign := map[wfp.GUID]int{}
	for i, f := range rep.Findings {
		if f.Kind == KindFilter && f.Problem == ProblemForeign {
			foreign[f.Key] = i
		}
	}
	for _, o := range found {
		if i, ok := foreign[o.Filter.Key]; ok {
			rep.Findings[i].Override = &o
			rep.Findings[i].Detail += "; " + o.describe()
			continue
		}
		rep.Findings = append(rep.Findings, Finding{Kind: KindFilter, Key: o.Filter.Key, Name: o.Filter.Name,
			Problem: ProblemOverride, Detail: o.describe(), Override: &o})
	}
	if rep.PossibleOverrides == nil {
		rep.PossibleOverrides = []Override{}
	}
	rep.PossibleOverrides = append(rep.PossibleOverrides, possible...)
	return nil
}

// describe is the finding's one-line detail.
func (o *Override) describe() string {
	prov := "no provider"
	if o.Provider != nil {
		prov = fmt.Sprintf("provider %q {%s}", o.Provider.Name, o.Provider.Key)
	}
	where := fmt.Sprintf("sublayer %q {%s} (weight %#04x", o.Sublayer.Name, o.Sublayer.Key, o.SublayerWeight)
	switch o.Reason {
	case OverrideEqualWeight:
		where += ", the same as wfpsandbox's; WFP does not document which of the two goes first)"
	case OverrideEarlierSublayer:
		where += ", evaluated before wfpsandbox's)"
	case OverrideInSublayer:
		where = "wfpsandbox's own " + where + "), ordered above the block"
	}
	verb := "it would let through " + o.Flow.Text
	if !o.LetsThrough {
		verb = "it decides " + o.Flow.Text + " instead of the block (the flow is still blocked, but by another owner's filter)"
	}
	s := fmt.Sprintf("%s of %s in %s overrides %q {%s} at %s: %s", o.Action, prov, where, o.Block.Name, o.Block.Key, o.Layer, verb)
	if len(o.Tokens) > 1 {
		s += " (token kinds: " + strings.Join(o.Tokens, ", ") + ")"
	}
	if len(o.Assumed) > 0 {
		s += "; assuming its conditions on " + strings.Join(o.Assumed, ", ") + " match (not modelled)"
	}
	return s
}

// evaluatedLayers are the layers arbiter.Evaluate classifies flows at.
var evaluatedLayers = []wfp.LayerID{
	wfp.LayerALEResourceAssignmentV4, wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthRecvAcceptV4,
	wfp.LayerALEResourceAssignmentV6, wfp.LayerALEAuthConnectV6, wfp.LayerALEAuthRecvAcceptV6,
}

// analysis holds what overrides reads, indexed once.
type analysis struct {
	plan    *policy.Plan
	pk      wfp.GUID
	byLayer map[wfp.LayerID][]*wfp.Filter
	subs    []*wfp.Sublayer
	weight  map[wfp.GUID]uint16
	subByK  map[wfp.GUID]*wfp.Sublayer
	// relevant are, per layer with blocks, the filters in sublayers of at least the
	// lowest weight of the blocks' sublayers (see confirm).
	relevant map[wfp.LayerID][]*wfp.Filter
	permits  map[permitKey]bool // layerPermits' cache
	// ourWeights are, per layer, the weights of the sublayers of the account's blocks.
	ourWeights map[wfp.LayerID]map[uint16]bool
	tokens     []arbiter.Token // one per arbiter.TokenKinds, for the plan's account
	// candidate marks the filters the prefilter kept (see confirm).
	candidate map[*wfp.Filter]bool
	// foreignFirst are the sublayers, other owners' before ours among equal weights.
	foreignFirst []*wfp.Sublayer
}

// ours reports whether f is one of wfpsandbox's own filters (of any account): our
// provider and an ownership tag. An untagged filter of our provider is not written by
// wfpsandbox and is analysed like a foreign one.
func (a *analysis) ours(f *wfp.Filter) bool {
	if !wfp.SameProvider(f.ProviderKey, &a.pk) {
		return false
	}
	_, tagged := owner(f)
	return tagged
}

// overrides finds the foreign filters that can override one of plan's installed blocks
// for the plan's account, among filters (every filter of the engine) and sublayers.
//
// Cost: one pass over filters to index them by layer (only the six layers Evaluate
// models are kept); at each layer with one of the account's blocks, a prefilter keeps
// only filters of other owners that are enabled and terminating and either sit in one
// of the blocks' sublayers or are hard permits in a sublayer whose weight is at least
// the blocks' (a soft permit elsewhere is overridden by the block, and a sublayer of
// lower weight is evaluated after the block, which is final: DOC:fwp/filter-arbitration).
// Only those go through the overlap analysis (arbiter.Witnesses) and, for a witness
// flow, arbiter.Evaluate, so a host full of Windows Firewall filters in lower
// sublayers costs one pass.
//
// A candidate is confirmed when, for a witness flow and one of the account's token
// kinds:
//   - without it, the flow is blocked at the layer by one of the account's filters
//     (for a filter inside our sublayer: by that sublayer);
//   - with it, the flow is permitted and the filter decides the layer (hard permits
//     outside our sublayer), or the filter decides our sublayer (inside it).
//
// For an equal-weight sublayer the filter's sublayer is evaluated first (the order
// that is undocumented, and the one that lets it win). An override that the account's
// other blocks still stop on the same flow (an ICMP permit at connect while the ICMP
// bind block stands) is not reported: nothing gets through.
//
// When a candidate has conditions on fields the analysis cannot decide, they are
// assumed to match and the confirmation runs without them; such a result is returned
// in possible, not as a finding: a real host has many filters on application IDs and
// interfaces, and verify must not become noise (README "What verify checks").
func overrides(plan *policy.Plan, filters []*wfp.Filter, sublayers []*wfp.Sublayer) (found, possible []Override) {
	a := &analysis{plan: plan, pk: plan.Provider.Key, byLayer: map[wfp.LayerID][]*wfp.Filter{},
		subs: sublayers, weight: map[wfp.GUID]uint16{}, subByK: map[wfp.GUID]*wfp.Sublayer{},
		relevant: map[wfp.LayerID][]*wfp.Filter{}, permits: map[permitKey]bool{}, ourWeights: map[wfp.LayerID]map[uint16]bool{},
		candidate: map[*wfp.Filter]bool{}}
	for _, s := range sublayers {
		a.weight[s.Key], a.subByK[s.Key] = s.Weight, s
	}
	sid, err := account.ParseSID(plan.SID)
	if err != nil { // Verify's checkPlan and policy.Build have parsed it already
		return nil, nil
	}
	for _, kind := range arbiter.TokenKinds {
		tok, err := arbiter.TokenFor(kind, sid)
		if err != nil {
			return nil, nil
		}
		a.tokens = append(a.tokens, tok)
	}
	modelled := map[wfp.LayerID]bool{}
	for _, l := range evaluatedLayers {
		modelled[l] = true
	}
	planned := map[wfp.GUID]bool{}
	for _, f := range plan.Filters {
		if f.Action.Type == wfp.ActionBlock {
			planned[f.Key] = true
		}
	}
	planIndex := map[wfp.GUID]int{}
	for i, f := range plan.Filters {
		planIndex[f.Key] = i
	}
	blocksAt := map[wfp.LayerID][]*wfp.Filter{}
	for _, f := range filters {
		if !modelled[f.Layer] {
			continue
		}
		a.byLayer[f.Layer] = append(a.byLayer[f.Layer], f)
		if planned[f.Key] && a.ours(f) && f.Flags&wfp.FilterFlagDisabled == 0 {
			blocksAt[f.Layer] = append(blocksAt[f.Layer], f)
		}
	}
	for _, layer := range evaluatedLayers {
		blocks := blocksAt[layer]
		if len(blocks) == 0 {
			continue
		}
		slices.SortFunc(blocks, func(x, y *wfp.Filter) int { return cmp.Compare(planIndex[x.Key], planIndex[y.Key]) })
		ourSubs := map[wfp.GUID]bool{}
		a.ourWeights[layer] = map[uint16]bool{}
		var minWeight uint16 = 0xFFFF
		for _, b := range blocks {
			ourSubs[b.Sublayer] = true
			a.ourWeights[layer][a.weight[b.Sublayer]] = true
			minWeight = min(minWeight, a.weight[b.Sublayer])
		}
		for _, f := range a.byLayer[layer] {
			if a.weight[f.Sublayer] >= minWeight {
				a.relevant[layer] = append(a.relevant[layer], f)
			}
		}
		var cands []*wfp.Filter
		for _, f := range a.relevant[layer] {
			if a.ours(f) || f.Flags&wfp.FilterFlagDisabled != 0 {
				continue
			}
			if wfp.SameProvider(f.ProviderKey, &a.pk) && f.Action.Type == wfp.ActionBlock {
				continue // an untagged block of our provider: an older version's orphan, still a block (verifyInto)
			}
			if f.Action.Type != wfp.ActionPermit && f.Action.Type != wfp.ActionBlock {
				continue // callouts and non-terminating actions are not modelled (arbiter doc)
			}
			hardPermit := f.Action.Type == wfp.ActionPermit && f.Flags&wfp.FilterFlagClearActionRight != 0
			if ourSubs[f.Sublayer] || hardPermit && a.weight[f.Sublayer] >= minWeight {
				cands = append(cands, f)
				a.candidate[f] = true
			}
		}
		slices.SortFunc(cands, func(x, y *wfp.Filter) int { return compareGUID(x.Key, y.Key) })
		for _, f := range cands {
			if o, ok := a.analyse(layer, f, blocks, ourSubs[f.Sublayer]); ok {
				if len(o.Assumed) > 0 {
					possible = append(possible, o)
				} else {
					found = append(found, o)
				}
			}
		}
	}
	return found, possible
}

// analyse looks for a confirmed override of one of blocks by f at layer.
func (a *analysis) analyse(layer wfp.LayerID, f *wfp.Filter, blocks []*wfp.Filter, inOurs bool) (Override, bool) {
	var best *Override
	bestScore := 0
	for _, b := range blocks {
		var o *Override
		for i, kind := range arbiter.TokenKinds {
			tok := a.tokens[i]
			ov, err := arbiter.Witnesses(layer, tok, witnessesPerToken, b, f)
			if err != nil || len(ov.Flows) == 0 && !ov.TokenOnly {
				break // no token can overlap
			}
			if len(ov.Flows) == 0 {
				continue
			}
			subst := map[*wfp.Filter]*wfp.Filter{}
			var assumed []string
			if len(ov.Undecided) > 0 {
				subst[f] = withoutFields(f, ov.Undecided)
				subst[b] = withoutFields(b, ov.Undecided)
				for _, fld := range ov.Undecided {
					assumed = append(assumed, strings.TrimPrefix(fld.String(), "FWPM_CONDITION_"))
				}
			}
			for _, flow := range ov.Flows {
				blocker, letsThrough, ok := a.confirm(layer, f, inOurs, subst, flow, i)
				if !ok {
					continue
				}
				if o == nil {
					o = a.override(layer, f, blocker, inOurs, flow, kind, letsThrough, assumed)
				} else {
					o.Tokens = append(o.Tokens, string(kind))
				}
				break
			}
		}
		if o == nil {
			continue
		}
		// Prefer a flow that gets through, then one of the account's normal token,
		// then one the analysed block itself decides (a witness of the ICMP block to
		// port 53 is decided by the DNS block; the DNS block's own witness, tcp to
		// port 53, reads better), then plan order.
		score := 0
		if o.LetsThrough {
			score += 4
		}
		if slices.Contains(o.Tokens, string(arbiter.TokenNormal)) {
			score += 2
		}
		if o.Block.Key == b.Key {
			score++
		}
		if best == nil || score > bestScore {
			best, bestScore = o, score
		}
		if score == 7 {
			break
		}
	}
	if best == nil {
		return Override{}, false
	}
	return *best, true
}

// confirm evaluates flow with and without f (see overrides) and returns the filter
// of the account that decides without it, and whether the flow gets through with it.
//
// At the block's layer only the sublayers of at least the blocks' weight are
// evaluated (for a filter inside our sublayer, that sublayer alone): the account's
// block is final and a hard permit cannot be overridden (DOC:fwp/filter-arbitration),
// so what lower sublayers hold cannot change which of the two decides. The flow's
// other layers do not hold f; their decision is evaluated over all their filters once
// per flow (layerPermits).
func (a *analysis) confirm(layer wfp.LayerID, f *wfp.Filter, inOurs bool, subst map[*wfp.Filter]*wfp.Filter, flow arbiter.Flow, token int) (*wfp.Filter, bool, bool) {
	if !inOurs {
		// The flow's other layers do not hold f: if they block it, nothing gets through
		// whatever f does (cached, so this costs one evaluation per flow).
		for _, l := range flow.Layers() {
			if l != layer && !a.layerPermits(l, flow, token) {
				return nil, false, false
			}
		}
	}
	fEval := f
	if s, ok := subst[f]; ok {
		fEval = s
	}
	// Each candidate is judged alone: the other candidates are left out of both
	// evaluations, so that two permits for the same flow do not hide each other.
	var with, without []*wfp.Filter
	for _, x := range a.relevant[layer] {
		if inOurs && x.Sublayer != f.Sublayer || a.candidate[x] && x != f {
			continue
		}
		if s, ok := subst[x]; ok {
			x = s
		}
		with = append(with, x)
		if x != fEval {
			without = append(without, x)
		}
	}
	subs := a.subs
	if !inOurs && a.ourWeights[layer][a.weight[f.Sublayer]] {
		subs = firstAmongEquals(a.subs, func(x *wfp.Sublayer) bool { return x.Key == f.Sublayer })
	}
	dw, err := arbiter.Evaluate(arbiter.Set{Filters: without, Sublayers: subs}, flow)
	if err != nil {
		return nil, false, false
	}
	base, ok := layerOf(dw, layer)
	if !ok || base.Action != arbiter.Block || base.Filter == nil || !a.oursOrSubst(base.Filter, subst) {
		return nil, false, false
	}
	d, err := arbiter.Evaluate(arbiter.Set{Filters: with, Sublayers: subs}, flow)
	if err != nil {
		return nil, false, false
	}
	got, ok := layerOf(d, layer)
	if !ok || got.Filter != fEval {
		return nil, false, false
	}
	letsThrough := got.Action == arbiter.Permit
	if inOurs && letsThrough {
		// Only our sublayer was evaluated: a later sublayer may still block its permit.
		var all []*wfp.Filter
		for _, x := range a.byLayer[layer] {
			if s, ok := subst[x]; ok {
				x = s
			}
			all = append(all, x)
		}
		full, err := arbiter.Evaluate(arbiter.Set{Filters: all, Sublayers: a.subs}, flow)
		if err != nil {
			return nil, false, false
		}
		ld, _ := layerOf(full, layer)
		letsThrough = ld.Action == arbiter.Permit
	}
	if inOurs {
		for _, l := range flow.Layers() {
			if l != layer && letsThrough {
				letsThrough = a.layerPermits(l, flow, token)
			}
		}
	}
	blocker := base.Filter
	for orig, s := range subst {
		if s == blocker {
			blocker = orig
		}
	}
	return blocker, letsThrough, true
}

// permitKey identifies a flow at a layer (token: index in arbiter.TokenKinds).
type permitKey struct {
	layer         wfp.LayerID
	proto         uint8
	remote, local netip.AddrPort
	token         int
}

// layerPermits reports whether the installed filters permit flow at layer, a layer of
// the flow other than the block's, with other owners' sublayers evaluated before ours
// of the same weight (the undocumented order that lets the flow through, as at the
// block's layer). The answer is cached per layer and flow; at
// ALE_RESOURCE_ASSIGNMENT, which offers no remote address or port (wfp-facts §3), the
// remote end is left out of the key.
func (a *analysis) layerPermits(layer wfp.LayerID, flow arbiter.Flow, token int) bool {
	key := permitKey{layer: layer, proto: flow.Protocol, remote: flow.Remote, local: flow.Local, token: token}
	if layer == wfp.LayerALEResourceAssignmentV4 || layer == wfp.LayerALEResourceAssignmentV6 {
		key.remote = netip.AddrPort{}
	}
	if p, ok := a.permits[key]; ok {
		return p
	}
	if a.foreignFirst == nil {
		a.foreignFirst = firstAmongEquals(a.subs, func(x *wfp.Sublayer) bool { return !wfp.SameProvider(x.ProviderKey, &a.pk) })
	}
	d, err := arbiter.Evaluate(arbiter.Set{Filters: a.byLayer[layer], Sublayers: a.foreignFirst}, flow)
	ld, ok := layerOf(d, layer)
	p := err == nil && ok && ld.Action == arbiter.Permit
	a.permits[key] = p
	return p
}

func (a *analysis) oursOrSubst(x *wfp.Filter, subst map[*wfp.Filter]*wfp.Filter) bool {
	for orig, s := range subst {
		if s == x {
			return a.ours(orig)
		}
	}
	return a.ours(x)
}

func (a *analysis) override(layer wfp.LayerID, f, blocker *wfp.Filter, inOurs bool, flow arbiter.Flow, kind arbiter.TokenKind, letsThrough bool, assumed []string) *Override {
	o := &Override{Filter: Ref{f.Key, f.Name}, Layer: layer.String(), Tokens: []string{string(kind)}, LetsThrough: letsThrough, Assumed: assumed}
	if f.ProviderKey != nil {
		o.Provider = &Ref{Key: *f.ProviderKey}
	}
	switch {
	case inOurs:
		o.Reason = OverrideInSublayer
	case a.weight[f.Sublayer] == a.weight[blocker.Sublayer]:
		o.Reason = OverrideEqualWeight
	default:
		o.Reason = OverrideEarlierSublayer
	}
	switch {
	case f.Action.Type == wfp.ActionBlock:
		o.Action = "block"
	case f.Flags&wfp.FilterFlagClearActionRight != 0:
		o.Action = "hard permit"
	default:
		o.Action = "soft permit"
	}
	o.Sublayer = Ref{Key: f.Sublayer, Name: "(sublayer not found)"}
	if s := a.subByK[f.Sublayer]; s != nil {
		o.Sublayer.Name, o.SublayerWeight = s.Name, s.Weight
	}
	ob, _ := owner(blocker)
	o.Block = Block{Ref: Ref{blocker.Key, blocker.Name}, Rule: ob.Rule}
	w := WitnessFlow{Direction: flow.Direction.String(), Protocol: arbiter.ProtoName(flow.Protocol), Remote: flow.Remote.String(), Token: string(kind)}
	w.Text = fmt.Sprintf("%s %s %s", w.Direction, w.Protocol, w.Remote)
	if flow.Local.Addr().IsValid() {
		w.Local = flow.Local.String()
		w.Text += " local " + w.Local
	}
	w.Text += fmt.Sprintf(" from the account's %s token", kind)
	o.Flow = w
	return o
}

// layerOf returns the decision of d at layer.
func layerOf(d arbiter.Decision, layer wfp.LayerID) (arbiter.LayerDecision, bool) {
	for _, ld := range d.Layers {
		if ld.Layer == layer {
			return ld, true
		}
	}
	return arbiter.LayerDecision{}, false
}

// withoutFields returns a copy of f without its conditions on fields.
func withoutFields(f *wfp.Filter, fields []wfp.FieldID) *wfp.Filter {
	c := f.Clone()
	c.Conditions = slices.DeleteFunc(c.Conditions, func(x wfp.Condition) bool { return slices.Contains(fields, x.Field) })
	return c
}

// firstAmongEquals returns copies of subs re-weighted so that their order is kept and
// the first ones go before the other sublayers of their weight (ties among either stay
// tied): the order of equal weights that WFP does not document, taken the way that
// lets a filter of the first ones win. Weights are replaced by ranks (2·rank, first 2·rank+1), which
// keeps the order as long as there are fewer than 32768 distinct weights; with more,
// subs is returned as it is.
func firstAmongEquals(subs []*wfp.Sublayer, first func(*wfp.Sublayer) bool) []*wfp.Sublayer {
	weights := []uint16{0} // a sublayer the engine did not return counts as weight 0
	for _, s := range subs {
		weights = append(weights, s.Weight)
	}
	slices.Sort(weights)
	weights = slices.Compact(weights)
	if 2*len(weights)+1 > 0xFFFF {
		return subs
	}
	out := make([]*wfp.Sublayer, len(subs))
	for i, s := range subs {
		c := s.Clone()
		rank, _ := slices.BinarySearch(weights, s.Weight)
		c.Weight = uint16(2 * rank)
		if first(s) {
			c.Weight++
		}
		out[i] = c
	}
	slices.SortFunc(out, func(x, y *wfp.Sublayer) int { return cmp.Compare(x.Weight, y.Weight) })
	return out
}
