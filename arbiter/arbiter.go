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
	// Cautions name what could change the decision on a real host, or what it rests
	// on that is not documented: equal-weight sublayers whose other order gives another
	// action, filters whose order inside an auto-weight range is up to BFE, a soft
	// permit overriding a soft block of an earlier sublayer, callouts not evaluated
	// before a soft permit, the classification of IPv4-mapped addresses, tokens below
	// medium integrity, the anonymous token, flows without a user token.
	Cautions []string
	// NotEvaluated names filters the arbiter could not evaluate (callouts, conditions
	// it does not model); they were treated as not matching. Empty when the decision
	// does not depend on anything unmodelled.
	NotEvaluated []string

	unevaluated map[*wfp.Filter]bool // callout filters reached but not evaluated
}

// Options tune an evaluation.
type Options struct {
	// FullTrace lists every filter evaluated, with the reason it matched or not. Without
	// it the trace names, per sublayer, only the filters that matched, decided, were
	// not evaluated (callouts) or could not be evaluated, and counts the others: on a
	// host with thousands of filters of other providers the full trace has a line per
	// filter.
	FullTrace bool
	// Callouts are assumed results of callout filters, by filter key. A callout filter
	// without an entry is not evaluated (treated as not matching, reported in
	// Decision.NotEvaluated); with one it decides its sublayer like a filter with that
	// result, so that explain can show what arbitration does with it.
	Callouts map[wfp.GUID]CalloutResult
}

// CalloutResult is an assumed result of a callout filter's classifyFn: an action and
// whether the callout cleared FWPS_RIGHT_ACTION_WRITE (DOC:…/ns-fwpstypes-fwps_classify_out0;
// DOC:fwp/filter-arbitration: a callout's permit and block are soft by default).
type CalloutResult uint8

// Callout results.
const (
	CalloutSoftPermit CalloutResult = iota + 1
	CalloutHardPermit
	CalloutSoftBlock
	CalloutHardBlock
)

// ParseCalloutResult accepts soft-permit, hard-permit, soft-block or hard-block.
func ParseCalloutResult(s string) (CalloutResult, error) {
	for _, r := range []CalloutResult{CalloutSoftPermit, CalloutHardPermit, CalloutSoftBlock, CalloutHardBlock} {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown callout result %q: want soft-permit, hard-permit, soft-block or hard-block", s)
}

func (r CalloutResult) String() string {
	switch r {
	case CalloutSoftPermit:
		return "soft-permit"
	case CalloutHardPermit:
		return "hard-permit"
	case CalloutSoftBlock:
		return "soft-block"
	case CalloutHardBlock:
		return "hard-block"
	}
	return fmt.Sprintf("CalloutResult(%d)", uint8(r))
}

// Index is a filter set prepared for evaluating many flows: filters grouped by layer
// and sublayer and sorted once, security descriptors parsed once. It is read-only
// after NewIndex, so one Index may serve concurrent Evaluate calls.
type Index struct {
	layers map[wfp.LayerID][]*subIndex // by weight, highest first; equal weights by key
	sds    map[*byte]parsedSD
}

// subIndex is one sublayer's filters at one layer.
type subIndex struct {
	key     wfp.GUID
	sub     *wfp.Sublayer // nil when the set does not hold it (weight taken as 0)
	weight  uint16
	filters []ranked // in evaluation order
}

func (s *subIndex) label() string {
	if s.sub == nil {
		return fmt.Sprintf("%s (sublayer not supplied: weight taken as 0)", s.key)
	}
	return fmt.Sprintf("%s %q weight %#04x", s.key, s.sub.Name, s.weight)
}

// NewIndex prepares set for evaluation.
func NewIndex(set Set) *Index {
	ix := &Index{layers: map[wfp.LayerID][]*subIndex{}, sds: parseSDs(set.Filters)}
	subs := map[wfp.GUID]*wfp.Sublayer{}
	for _, s := range set.Sublayers {
		subs[s.Key] = s
	}
	byLayer := map[wfp.LayerID]map[wfp.GUID]*subIndex{}
	for i, f := range set.Filters {
		m := byLayer[f.Layer]
		if m == nil {
			m = map[wfp.GUID]*subIndex{}
			byLayer[f.Layer] = m
		}
		si := m[f.Sublayer]
		if si == nil {
			si = &subIndex{key: f.Sublayer}
			if s, ok := subs[f.Sublayer]; ok {
				si.sub, si.weight = s, s.Weight
			}
			m[f.Sublayer] = si
		}
		si.filters = append(si.filters, weightOf(f, i))
	}
	for layer, m := range byLayer {
		list := make([]*subIndex, 0, len(m))
		for _, si := range m {
			slices.SortFunc(si.filters, func(a, b ranked) int {
				if c := cmp.Compare(b.lo, a.lo); c != 0 {
					return c
				}
				if c := cmp.Compare(len(b.f.Conditions), len(a.f.Conditions)); c != 0 {
					return c
				}
				return cmp.Compare(a.index, b.index)
			})
			list = append(list, si)
		}
		slices.SortFunc(list, func(a, b *subIndex) int {
			if c := cmp.Compare(b.weight, a.weight); c != 0 {
				return c
			}
			return strings.Compare(a.key.String(), b.key.String())
		})
		ix.layers[layer] = list
	}
	return ix
}

// Evaluate evaluates flow against set with a full trace; see (*Index).Evaluate.
func Evaluate(set Set, flow Flow) (Decision, error) {
	return NewIndex(set).Evaluate(flow, Options{FullTrace: true})
}

// Evaluate evaluates flow the way WFP arbitrates (DOC:fwp/filter-arbitration; wfp-facts
// §1), layer by layer (Flow.Layers):
//
//   - sublayers in order of weight, highest first ("Higher-weighted sublayers are
//     invoked first", DOC:…/ns-fwpmtypes-fwpm_sublayer0); every sublayer is evaluated,
//     except that once a hard block is reached in every order of the equal-weight
//     sublayers the rest cannot change the result and is skipped (the trace says so);
//   - inside a sublayer, filters in order of weight, highest first (see weightOf); the
//     first matching filter that returns permit or block decides the sublayer and the
//     filters below it are skipped;
//   - across sublayers the engine keeps the current action together with the
//     FWPS_RIGHT_ACTION_WRITE right: while the right is set (a soft decision, or none
//     yet) the next deciding sublayer replaces the action — so a soft permit of a later
//     sublayer overrides a soft block (a callout's block is soft by default; wfp-facts §1) and a block
//     overrides a soft permit; once the right is cleared the action stays: a hard block
//     (every filter block; a permit or callout block with the right cleared) is final, a
//     hard permit (FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT) can only be overturned by a
//     callout's veto;
//   - when no sublayer decides, the layer permits; the flow is blocked when any of its
//     layers blocks.
//
// Sublayers of equal weight are evaluated in key order, which is a choice of the
// arbiter: WFP does not document their order. Every order of each group of equal-weight
// sublayers is considered (exactly, by the kinds of decision they make); when another
// order gives another action, the decision carries a caution naming the sublayers and
// that order. Orders that only change which of several soft permits is named raise
// nothing — so many per-account sublayers of one weight, each permitting softly the
// flows of other accounts, do not produce cautions.
//
// Not modelled: callout filters without an assumed result in opts.Callouts (reported,
// treated as not matching), FWP_ACTION_CONTINUE and other non-terminating actions
// (skipped), provider contexts, filter conditions on fields a Flow does not carry
// (reported, treated as not matching), the Windows Firewall's and other built-in
// behaviour not expressed as filters in the set, and boot-time filters unless they are
// in the set.
func (ix *Index) Evaluate(flow Flow, opts Options) (Decision, error) {
	if err := flow.Validate(); err != nil {
		return Decision{}, fmt.Errorf("explain: %w", err)
	}
	m := newMatcher(&flow, ix.sds, opts.FullTrace)
	d := ix.evaluate(&flow, opts, m)
	if flow.Token.belowMedium() && m.userConds > 0 {
		alt := newMatcher(&flow, ix.sds, false)
		alt.micDenies = true
		other := ix.evaluate(&flow, Options{Callouts: opts.Callouts}, alt)
		c := fmt.Sprintf("the token has integrity level S-1-16-%d: whether mandatory integrity control applies to the FWP_ACTRL_MATCH_FILTER check of ALE_USER_ID is not documented. "+
			"NtApiDotNet's generic mapping for filters puts MATCH in GenericExecute, so no-write-up would not deny it [I, not documented]; that is what this decision assumes", flow.Token.Integrity)
		if other.Action != d.Action {
			c += fmt.Sprintf(". If it did apply (the SDs carry no label, so the default medium no-write-up label would deny a low token), the result would be %s at %s%s", other.Action, other.Layer, filterSuffix(other.Filter))
		} else {
			c += ". If it did apply, the result would be the same"
		}
		d.addCaution(c)
	}
	if m.userConds > 0 {
		if flow.Token.None {
			d.addCaution(noTokenCaution(&flow, true))
		} else if p := noTokenPath(&flow); p != "" {
			d.addCaution(noTokenCaution(&flow, false))
		}
	}
	if flow.Token.User == AnonymousLogon && !flow.Token.None && m.userConds > 0 {
		d.addCaution("the token is the anonymous logon token (S-1-5-7), which carries no trace of any account: a user condition that grants AN (the deny construction's guard permit, Microsoft's UWP condition) matches it whoever's thread impersonates it. " +
			"Any thread can impersonate it without privilege (ImpersonateAnonymousToken); whether ALE takes ALE_USER_ID from a thread's impersonation token rather than the process token is not documented — selftest must check that the sandbox account cannot leave through it")
	}
	d.Trace = append(d.Trace, fmt.Sprintf("decision: %s at %s%s", d.Action, d.Layer, filterSuffix(d.Filter)))
	if len(d.NotEvaluated) > 0 {
		d.Trace = append(d.Trace, fmt.Sprintf("caveat: %d filter(s) could not be evaluated and were treated as not matching", len(d.NotEvaluated)))
	}
	return d, nil
}

// noTokenPath names the known paths where traffic the flow stands for is classified
// without the account's token (wfp-facts §9, §12); "" when none is known for it.
func noTokenPath(f *Flow) string {
	switch {
	case f.Protocol == ProtoICMP || f.Protocol == ProtoICMPv6:
		return "ping goes through IcmpSendEcho, which the kernel sends as \"NT Kernel & System\", not as the calling process"
	case f.Protocol == ProtoTCP && f.Direction == Outbound && (f.Remote.Port() == 445 || f.Remote.Port() == 139):
		return "\\\\server\\share (net use, Explorer) is opened by the kernel SMB redirector (System, PID 4), not by the account's process"
	case f.Direction == Inbound:
		return "an inbound connection may be accepted by a kernel-mode or service listener (the SMB server, http.sys) rather than by a process carrying a user token"
	}
	return ""
}

func noTokenCaution(f *Flow, none bool) string {
	c := "how a condition on ALE_USER_ID evaluates for a classify that carries no user token (kernel-originated traffic, some service paths) is not documented"
	if none {
		c += "; this flow has none, so its ALE_USER_ID conditions were treated as not matching: under the deny construction the guard permit then does not match and the account's hard blocks apply to the flow — whoever caused it"
	} else {
		c += ". Traffic of this kind may be classified for System rather than for the account's process — then the account's blocks do not apply to it, for the account either (design §4) — or with no token at all: then the deny construction's guard permit would not match and the sandbox account's blocks would apply to it whoever caused it"
	}
	if p := noTokenPath(f); p != "" {
		c += "; here: " + p
	} else {
		c += "; known paths: ping (IcmpSendEcho), the SMB redirector (net use), WSL2/Hyper-V guests NAT'd through the host"
	}
	return c + ". `wfpsandbox selftest` (planned) checks that another account's ping, net use and inbound connections are untouched"
}

func (d *Decision) addCaution(c string) {
	d.Cautions = append(d.Cautions, c)
	d.Trace = append(d.Trace, "caution: "+c)
}

func (ix *Index) evaluate(flow *Flow, opts Options, m *matcher) Decision {
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
		d.Layers = append(d.Layers, ix.evaluateLayer(&d, flow, layer, opts, m))
	}
	last := d.Layers[len(d.Layers)-1]
	d.Action, d.Layer, d.Filter = Permit, last.Layer, last.Filter
	for _, ld := range d.Layers {
		if ld.Action == Block {
			d.Action, d.Layer, d.Filter = Block, ld.Layer, ld.Filter
			break
		}
	}
	if flow.Remote.Addr().Is4In6() {
		alt := *flow
		alt.Remote = netip.AddrPortFrom(flow.Remote.Addr().Unmap(), flow.Remote.Port())
		if flow.Local.Addr().IsValid() {
			alt.Local = netip.AddrPortFrom(flow.Local.Addr().Unmap(), flow.Local.Port())
		}
		am := newMatcher(&alt, ix.sds, false)
		am.micDenies = m.micDenies
		if other := ix.evaluate(&alt, Options{Callouts: opts.Callouts}, am); other.Action != d.Action {
			d.addCaution(fmt.Sprintf("if Windows classifies %s at the V4 layers as %s, the result is %s at %s%s",
				flow.Remote.Addr(), alt.Remote.Addr(), other.Action, other.Layer, filterSuffix(other.Filter)))
		}
	}
	return d
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
	index  int
}

// source describes where the weight of r comes from.
func (r ranked) source() string {
	switch {
	case r.f.ID != 0:
		return fmt.Sprintf("effective weight %#x", r.f.EffectiveWeight)
	case r.exact:
		return fmt.Sprintf("weight %#x", r.lo)
	}
	return fmt.Sprintf("weight range %d (auto)", r.lo>>60)
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
		r.lo, r.hi, r.exact = f.EffectiveWeight, f.EffectiveWeight, true
	case f.Weight.Type == wfp.Uint64:
		r.lo, r.hi, r.exact = f.Weight.Uint, f.Weight.Uint, true
	case f.Weight.Type == wfp.Uint8:
		n := min(f.Weight.Uint, 15)
		r.lo, r.hi = n<<60, n<<60|(1<<60-1)
	default:
		r.lo, r.hi = 0, 1<<60-1
	}
	return r
}

// subOutcome is what one sublayer decided.
type subOutcome struct {
	si      *subIndex
	decided bool
	action  Action
	hard    bool // the right was cleared
	callout bool // decided by a callout (with an assumed result): its block can veto
	filter  *wfp.Filter
}

func (o subOutcome) kind() string {
	s := hardness(o.action, o.hard)
	if o.callout {
		s = "callout " + s
	}
	return s
}

// arbState is the engine's running state at one layer: the current action and
// whether FWPS_RIGHT_ACTION_WRITE is still set.
type arbState struct {
	decided  bool
	action   Action
	writable bool
	filter   *wfp.Filter
	sub      *subIndex
}

var initialState = arbState{action: Permit, writable: true}

// step applies one sublayer's outcome to the running state (DOC:fwp/filter-arbitration,
// "Configurable override policy"): with the right set the new decision replaces the
// current one (a repeated decision of the same strength keeps the first filter as the
// one named); with it cleared only a callout block overturns a hard permit (a veto).
func step(st arbState, o subOutcome) (arbState, string) {
	if !o.decided {
		return st, ""
	}
	next := arbState{decided: true, action: o.action, writable: !o.hard, filter: o.filter, sub: o.si}
	switch {
	case !st.decided:
		return next, ""
	case st.writable:
		if st.action == o.action && !o.hard {
			return st, ""
		}
		what := "replaces"
		switch {
		case st.action == Permit && o.action == Block:
			what = "overrides"
		case st.action == Block && o.action == Permit:
			what = "overrides"
		}
		return next, fmt.Sprintf("the %s of %q %s the %s of %q decided by sublayer %s (FWPS_RIGHT_ACTION_WRITE was still set)",
			o.kind(), o.filter.Name, what, hardness(st.action, false), st.filter.Name, st.sub.key)
	case st.action == Permit && o.action == Block && o.callout:
		next.writable = false
		return next, fmt.Sprintf("the callout block of %q vetoes the hard permit of %q", o.filter.Name, st.filter.Name)
	case st.action == Permit && o.action == Block:
		return st, fmt.Sprintf("the block cannot override the hard permit of %q (only a callout veto could)", st.filter.Name)
	}
	return st, ""
}

func (st arbState) final() bool { return st.decided && st.action == Block && !st.writable }

type stateKey struct {
	decided, writable bool
	action            Action
}

func (st arbState) key() stateKey {
	return stateKey{st.decided, st.writable, st.action}
}

// altPath is a reachable state with an order of sublayers that reaches it.
type altPath struct {
	st    arbState
	order []*subIndex // the equal-weight sublayers, in the order that reaches st
}

// evaluateLayer evaluates one layer.
func (ix *Index) evaluateLayer(d *Decision, flow *Flow, layer wfp.LayerID, opts Options, m *matcher) LayerDecision {
	trace := func(format string, a ...any) { d.Trace = append(d.Trace, fmt.Sprintf(format, a...)) }
	subs := ix.layers[layer]
	n := 0
	for _, si := range subs {
		n += len(si.filters)
	}
	trace("layer %s: %d sublayer(s), %d filter(s)", layer, len(subs), n)
	st := initialState
	// reachable holds every state some order of the equal-weight groups so far reaches.
	reachable := map[stateKey]altPath{st.key(): {st: st}}
	var softOverrides []string
	for i := 0; i < len(subs); {
		j := i + 1
		for j < len(subs) && subs[j].weight == subs[i].weight {
			j++
		}
		group := subs[i:j]
		outs := make([]subOutcome, len(group))
		for k, si := range group {
			trace("  sublayer %s: %d filter(s)", si.label(), len(si.filters))
			outs[k] = ix.evaluateSublayer(d, si, flow, layer, opts, m)
			if !outs[k].decided {
				trace("  → sublayer: no filter decided")
			} else {
				trace("  → sublayer decides %s by %q", outs[k].kind(), outs[k].filter.Name)
			}
			var msg string
			prev := st
			st, msg = step(st, outs[k])
			if msg != "" {
				trace("  → %s", msg)
			}
			if prev.decided && prev.action == Block && prev.writable && st.action == Permit {
				softOverrides = append(softOverrides, fmt.Sprintf("at %s the %s %q of sublayer %s overrides the soft block of %q decided by sublayer %s evaluated before it (arbitration keeps the current action with FWPS_RIGHT_ACTION_WRITE; a callout's block is soft unless the callout clears that right; DOC:fwp/filter-arbitration)",
					layer, outs[k].kind(), outs[k].filter.Name, si.key, prev.filter.Name, prev.sub.key))
			}
		}
		if len(group) > 1 {
			trace("  note: %d sublayers have the same weight %#04x; WFP does not document their order (evaluated here by key; every order is considered)", len(group), group[0].weight)
		}
		next := map[stateKey]altPath{}
		for _, p := range reachable {
			for k, q := range groupReachable(p.st, outs) {
				if _, seen := next[k]; !seen {
					next[k] = altPath{st: q.st, order: append(slices.Clone(p.order), q.order...)}
				}
			}
		}
		reachable = next
		i = j
		allFinal := true
		for _, p := range reachable {
			allFinal = allFinal && p.st.final()
		}
		if allFinal && i < len(subs) {
			trace("  → block is final: %d later sublayer(s) not evaluated", len(subs)-i)
			break
		}
	}
	for _, c := range softOverrides {
		d.addCaution(c)
	}
	ld := LayerDecision{Layer: layer, Action: st.action, Hard: st.decided && !st.writable, Filter: st.filter}
	if !st.decided {
		trace("  layer result: permit (no filter decided)")
	} else {
		trace("  layer result: %s by %q %s", hardness(ld.Action, ld.Hard), ld.Filter.Name, ld.Filter.Key)
	}
	// Another order of equal-weight sublayers that gives another action.
	keys := slices.SortedFunc(func(yield func(stateKey) bool) {
		for k := range reachable {
			if !yield(k) {
				return
			}
		}
	}, func(a, b stateKey) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	for _, k := range keys {
		p := reachable[k]
		if p.st.action == ld.Action {
			continue
		}
		names := make([]string, len(p.order))
		for i, si := range p.order {
			names[i] = si.key.String()
		}
		c := fmt.Sprintf("at %s, the order of equal-weight sublayers is not documented; evaluated in the order %s the result would be %s%s", layer, strings.Join(names, " → "), p.st.action, filterSuffix(p.st.filter))
		d.addCaution(c)
		break
	}
	ix.calloutCautions(d, subs, st, layer)
	return ld
}

// calloutCautions: when the layer permits by a soft permit, a callout not evaluated in
// a sublayer evaluated before it (or of equal weight) could have returned a soft block,
// which that permit would override.
func (ix *Index) calloutCautions(d *Decision, subs []*subIndex, st arbState, layer wfp.LayerID) {
	if !st.decided || st.action != Permit || !st.writable {
		return
	}
	for _, si := range subs {
		if si.weight < st.sub.weight || si == st.sub {
			continue
		}
		for _, r := range si.filters {
			f := r.f
			if !d.unevaluated[f] { // reached in its sublayer and not evaluated
				continue
			}
			order := "evaluated before it"
			if si.weight == st.sub.weight {
				order = "of equal weight (order not documented)"
			}
			d.addCaution(fmt.Sprintf("at %s callout filter %q %s in sublayer %s, %s, was not evaluated: if it returns a soft block (a callout's block is soft unless it clears FWPS_RIGHT_ACTION_WRITE), the soft permit of %q in sublayer %s overrides it and the flow is permitted",
				layer, f.Name, f.Key, si.key, order, st.filter.Name, st.sub.key))
			return
		}
	}
}

// groupReachable returns every state reachable from st by evaluating the outcomes of one
// group of equal-weight sublayers in some order, each with one order reaching it.
// Outcomes of the same kind are interchangeable for the state, so the search runs over
// counts of kinds, not over permutations.
func groupReachable(st arbState, outs []subOutcome) map[stateKey]altPath {
	type kind struct {
		action        Action
		hard, callout bool
	}
	var kinds []kind
	members := map[kind][]int{}
	for i, o := range outs {
		if !o.decided {
			continue
		}
		k := kind{o.action, o.hard, o.callout}
		if _, ok := members[k]; !ok {
			kinds = append(kinds, k)
		}
		members[k] = append(members[k], i)
	}
	result := map[stateKey]altPath{}
	type memoKey struct {
		s      stateKey
		counts string
	}
	seen := map[memoKey]bool{}
	counts := make([]int, len(kinds))
	var path []int // indexes into outs
	var walk func(cur arbState)
	walk = func(cur arbState) {
		mk := memoKey{cur.key(), fmt.Sprint(counts)}
		if seen[mk] {
			return
		}
		seen[mk] = true
		done := true
		for ki, k := range kinds {
			if counts[ki] == len(members[k]) {
				continue
			}
			done = false
			idx := members[k][counts[ki]]
			counts[ki]++
			path = append(path, idx)
			next, _ := step(cur, outs[idx])
			walk(next)
			path = path[:len(path)-1]
			counts[ki]--
		}
		if done {
			if _, ok := result[cur.key()]; !ok {
				order := make([]*subIndex, len(path))
				for i, idx := range path {
					order[i] = outs[idx].si
				}
				result[cur.key()] = altPath{st: cur, order: order}
			}
		}
	}
	walk(st)
	return result
}

func hardness(a Action, hard bool) string {
	switch {
	case a == Block && hard:
		return "hard block"
	case a == Block:
		return "soft block"
	case hard:
		return "hard permit"
	}
	return "soft permit"
}

// evaluateSublayer finds the first matching terminating filter of one sublayer.
func (ix *Index) evaluateSublayer(d *Decision, si *subIndex, flow *Flow, layer wfp.LayerID, opts Options, m *matcher) subOutcome {
	trace := func(format string, a ...any) { d.Trace = append(d.Trace, fmt.Sprintf(format, a...)) }
	full := opts.FullTrace
	label := func(r ranked) string {
		return fmt.Sprintf("    filter %q %s, %s, %s", r.f.Name, r.f.Key, r.source(), actionText(r.f))
	}
	var noMatch, disabled, skipped, notReached int
	out := subOutcome{si: si}
	win := -1
	for i, r := range si.filters {
		f := r.f
		if win >= 0 {
			notReached++
			if full {
				trace("%s: not reached", label(r))
			}
			continue
		}
		switch {
		case f.Flags&wfp.FilterFlagDisabled != 0:
			disabled++
			if full {
				trace("%s: disabled, skipped", label(r))
			}
			continue
		case f.Action.Type == wfp.ActionCalloutInspection:
			// "Invoke a callout that never returns block or permit"
			// (DOC:…/ns-fwpmtypes-fwpm_action0): it cannot decide anything.
			skipped++
			if full {
				trace("%s: inspection callout (never returns permit or block), skipped", label(r))
			}
			continue
		case f.Action.Type&wfp.ActionFlagCallout != 0:
			res, assumed := opts.Callouts[f.Key]
			if !assumed {
				if d.unevaluated == nil {
					d.unevaluated = map[*wfp.Filter]bool{}
				}
				d.unevaluated[f] = true
				trace("%s: callout filter, not evaluated", label(r))
				d.NotEvaluated = append(d.NotEvaluated, fmt.Sprintf("%q %s: callout %s", f.Name, f.Key, f.Action.CalloutKey))
				continue
			}
			got, why := m.matchFilter(layer, f)
			if got != yes {
				noMatch++
				if full || got == unknown {
					trace("%s: conditions %s — %s", label(r), map[outcome]string{no: "do not match", unknown: "cannot be evaluated"}[got], strings.Join(why, "; "))
				}
				if got == unknown {
					d.NotEvaluated = append(d.NotEvaluated, fmt.Sprintf("%q %s: %s", f.Name, f.Key, strings.Join(why, "; ")))
				}
				continue
			}
			trace("%s: MATCH, callout assumed to return %s", label(r), res)
			out = subOutcome{si: si, decided: true, callout: true, filter: f,
				action: map[bool]Action{true: Block, false: Permit}[res == CalloutSoftBlock || res == CalloutHardBlock],
				hard:   res == CalloutHardPermit || res == CalloutHardBlock}
			win = i
			continue
		case f.Action.Type != wfp.ActionBlock && f.Action.Type != wfp.ActionPermit:
			skipped++
			if full {
				trace("%s: non-terminating action, skipped", label(r))
			}
			continue
		}
		got, why := m.matchFilter(layer, f)
		switch got {
		case yes:
			reason := strings.Join(why, "; ")
			if len(f.Conditions) == 0 {
				reason = "no conditions: matches everything"
			} else if !full {
				_, w := m.explainFilter(layer, f)
				reason = strings.Join(w, "; ")
			}
			trace("%s: MATCH — %s", label(r), reason)
			win = i
			out = subOutcome{si: si, decided: true, action: Permit, filter: f, hard: f.Flags&wfp.FilterFlagClearActionRight != 0}
			if f.Action.Type == wfp.ActionBlock {
				// A filter's block clears the right: it is final (DOC:fwp/filter-arbitration).
				out.action, out.hard = Block, true
			}
		case unknown:
			_, w := m.explainFilter(layer, f)
			reason := strings.Join(w, "; ")
			trace("%s: cannot be evaluated, treated as not matching — %s", label(r), reason)
			d.NotEvaluated = append(d.NotEvaluated, fmt.Sprintf("%q %s: %s", f.Name, f.Key, reason))
		default:
			noMatch++
			if full {
				trace("%s: no match — %s", label(r), strings.Join(why, "; "))
			}
		}
	}
	if !full && noMatch+disabled+skipped+notReached > 0 {
		var parts []string
		for _, p := range []struct {
			n    int
			what string
		}{{noMatch, "evaluated, no match"}, {notReached, "not reached"}, {disabled, "disabled"}, {skipped, "non-terminating, skipped"}} {
			if p.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
			}
		}
		trace("    other filters: %s (full list with --trace)", strings.Join(parts, ", "))
	}
	if win < 0 {
		return out
	}
	// Filters of the other action that might sit above the winner inside an
	// auto-weight range.
	w := si.filters[win]
	for _, other := range si.filters[win+1:] {
		of := other.f
		if of.Action.Type == w.f.Action.Type || (w.exact && other.exact) || other.hi < w.lo ||
			of.Action.Type&wfp.ActionFlagCallout != 0 || of.Flags&wfp.FilterFlagDisabled != 0 ||
			(of.Action.Type != wfp.ActionBlock && of.Action.Type != wfp.ActionPermit) {
			continue
		}
		if got, _ := m.matchFilter(layer, of); got == no {
			continue
		}
		c := fmt.Sprintf("%q (%s) might sit above %q — BFE assigns weights inside a range from the conditions, undocumented; the result could differ",
			of.Name, actionText(of), w.f.Name)
		d.Cautions = append(d.Cautions, c)
		trace("    caution: %s", c)
	}
	return out
}

// explainFilter evaluates f again with reasons (for the lines a summary trace prints).
func (m *matcher) explainFilter(layer wfp.LayerID, f *wfp.Filter) (outcome, []string) {
	if m.why {
		return m.matchFilter(layer, f)
	}
	m.why = true
	n := m.userConds
	got, why := m.matchFilter(layer, f)
	m.why, m.userConds = false, n
	return got, why
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
