package selftest

import (
	"fmt"
	"slices"
	"strings"
)

// ruleGroup is the extra rules a person knows as one: a policy file's rule, which the
// plan holds as one rule per address family ("file-ssh-v4", "file-ssh-v6"), or one
// extra rule of a Go caller.
type ruleGroup struct {
	source, label, action string
	rules                 []ExtraRule
}

// ruleGroups returns cfg's extra rules grouped by ExtraRule.Source, in plan order.
func (cfg Config) ruleGroups() []ruleGroup {
	var gs []ruleGroup
	for _, x := range cfg.Extra {
		i := slices.IndexFunc(gs, func(g ruleGroup) bool { return g.source == x.Source })
		if i < 0 {
			gs = append(gs, ruleGroup{source: x.Source, label: x.label(), action: x.Action})
			i = len(gs) - 1
		}
		gs[i].rules = append(gs[i].rules, x)
	}
	return gs
}

// Hypothesis IDs of an extra rule: "policy-rule-<source>-blocks" (or "-permits") and
// "policy-rule-<source>-other-unaffected".
func (g ruleGroup) accountID() string {
	verb := "blocks"
	if g.action == "permit" {
		verb = "permits"
	}
	return "policy-rule-" + g.source + "-" + verb
}

func (g ruleGroup) otherID() string { return "policy-rule-" + g.source + "-other-unaffected" }

func (g ruleGroup) has(ruleID string) bool {
	return slices.ContainsFunc(g.rules, func(x ExtraRule) bool { return x.ID == ruleID })
}

// describe is what the group's rules match: "block out tcp, remote ports 22 (IPv4,
// IPv6)" when they differ only in the family, else each rule's description.
func (g ruleGroup) describe() string {
	var whats, fams, ds []string
	for _, x := range g.rules {
		whats, fams, ds = append(whats, x.what()), append(fams, x.familyName()), append(ds, x.describe())
	}
	if len(slices.Compact(slices.Clone(whats))) == 1 {
		return whats[0] + " (" + strings.Join(fams, ", ") + ")"
	}
	return strings.Join(ds, "; ")
}

// ruleGroupOf returns the group whose hypothesis id is, and whether it is the
// account's claim (else the other account's).
func (r *Report) ruleGroupOf(id string) (g ruleGroup, account, ok bool) {
	for _, g := range r.Config.ruleGroups() {
		switch id {
		case g.accountID():
			return g, true, true
		case g.otherID():
			return g, false, true
		}
	}
	return ruleGroup{}, false, false
}

// gap returns why no attempt for g could be made on this host ("" when one could): the
// rules have no probe (a condition or protocol the probe helper cannot exercise, or
// the cap), or every probe's target is missing here or outside the rules' remote
// addresses — the selftest never sends to another host instead.
func (r *Report) gap(g ruleGroup) string {
	var why []string
	n := 0
	for _, p := range r.Probes {
		if p.Rule == "" || !g.has(p.Rule) {
			continue
		}
		n++
		_, w := probeTarget(p, r.Host.Addresses)
		if w == "" {
			return ""
		}
		if !slices.Contains(why, w) {
			why = append(why, w)
		}
	}
	if n == 0 {
		_, unprobed, _ := layout(r.Config)
		for _, x := range g.rules {
			if u := unprobed[x.ID]; u != "" {
				why = append(why, x.ID+": "+u)
			}
		}
		return "not probed: " + strings.Join(why, "; ")
	}
	return "no attempt could be made on this host: " + strings.Join(why, "; ")
}

// ruleHypotheses are two claims per extra rule (group): it does what it says to the
// account's matching traffic — blocks it, or, for a permit, lets it through (the
// profile's other blocks are account-blocked's claim) — in every form of the account
// the shape scopes; and it does not affect another account. Both are safety claims,
// settled from the rule's probes like the profile's: controls first, a failed control
// is not-observable. A rule for which this host offers no attempt (no address of it
// in the rule's remote addresses, an inbound UDP rule, …) is not tested by the run:
// its claims are not-observable and not safety claims, with the reason as evidence.
func (r *Report) ruleHypotheses() []hypothesisDef {
	var defs []hypothesisDef
	for _, g := range r.Config.ruleGroups() {
		applies := func(Config) string { return r.gap(g) }
		claim := fmt.Sprintf("%s (%s) blocks the account's traffic it matches, and under --user-match deny that of the account's restricted, AppContainer and low-integrity children too", g.label, g.describe())
		if g.action == "permit" {
			claim = fmt.Sprintf("%s (%s) lets the account's traffic it matches through, while the profile's other blocks still hold", g.label, g.describe())
		}
		defs = append(defs,
			hypothesisDef{
				id: g.accountID(), claim: claim, safety: true, applies: applies,
				cells: func(r *Report, c Cell) bool {
					p, _ := r.probe(c.Probe)
					return c.Identity.Who == WhoAccount && p.Rule != "" && g.has(p.Rule) && networkKind(p.Kind)
				},
				note: func(r *Report, c Cell) string { return r.ruleNote(c, true) },
				settle: func(r *Report, h *Hypothesis) {
					// The account cannot open raw sockets (Windows refuses them to
					// non-administrators before WFP), and an ICMP rule has no other
					// attempt: not something this run can fail on.
					if h.Status != NotObservable {
						return
					}
					for _, p := range r.Probes {
						if p.Rule != "" && g.has(p.Rule) && p.Kind != KindRawICMP {
							return
						}
					}
					h.Safety = false
					h.Evidence = append([]string{"raw ICMP sockets are refused to non-administrators before WFP and an ICMP rule has no other attempt: what it does to the account cannot be observed"}, h.Evidence...)
				},
			},
			hypothesisDef{
				id: g.otherID(), safety: true, applies: applies,
				claim: fmt.Sprintf("%s does not affect another account's traffic it matches (its normal, restricted, AppContainer and low-integrity processes)", g.label),
				cells: func(r *Report, c Cell) bool {
					p, _ := r.probe(c.Probe)
					return c.Identity.Who == WhoOther && p.Rule != "" && g.has(p.Rule) && networkKind(p.Kind)
				},
				note: func(r *Report, c Cell) string { return r.ruleNote(c, false) },
			},
		)
	}
	return defs
}

// ruleNote says what an extra rule's cell shows beyond its verdict: that the drop
// names another of the policy's filters, that the profile (or another extra rule)
// would decide the attempt the same way (so the outcome is the policy's, not
// necessarily this rule's), and why the probe moved to another port.
func (r *Report) ruleNote(c Cell, account bool) string {
	p, _ := r.probe(c.Probe)
	x, ok := r.Config.extraRule(p.Rule)
	var notes []string
	if ok && account {
		switch d := c.Policy.Drop; {
		case d != nil && d.Ours && d.Rule != "" && d.Rule != p.Rule:
			notes = append(notes, fmt.Sprintf("the drop names the policy's filter of rule %s, not this rule's", d.Rule))
		default:
			if e, why := profileExpect(r.Config, p.Kind, p.Scope, p.Port); e != x.telling() && e != ExpectRecord {
				notes = append(notes, fmt.Sprintf("the profile alone decides it the same way (%s): this shows what the policy does, not that this rule's filter is what did it", why))
			}
			for _, o := range r.Config.Extra {
				if o.ID != x.ID && o.Action == x.Action && o.matches(p.Kind, p.Scope, r.Host.Addresses, p.Port) {
					notes = append(notes, fmt.Sprintf("%s (%s) matches it too", o.label(), o.ID))
				}
			}
		}
	}
	if p.PortNote != "" {
		notes = append(notes, p.PortNote)
	}
	return strings.Join(notes, "; ")
}

// ruleRefutedText is the verdict's words for a refuted extra-rule claim.
func ruleRefutedText(g ruleGroup, account bool) string {
	switch {
	case !account:
		return "ANOTHER ACCOUNT WAS BLOCKED by " + g.label
	case g.action == "permit":
		return g.label + " did not let the account's matching traffic through"
	}
	return g.label + " did not block the account's matching traffic"
}
