package selftest

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// Schema names the report format; it changes when a field changes meaning.
const Schema = "wfpsandbox-selftest/1"

// Exit codes of `wfpsandbox selftest` (README "Exit codes").
const (
	// ExitHeld: every safety claim was confirmed.
	ExitHeld = 0
	// ExitNotHeld: a safety claim was refuted, or could not be shown on this host (the
	// verdict says which).
	ExitNotHeld = 1
	// ExitError: the selftest could not run (bad input, not elevated, not Windows, a
	// step failed); the report says what did run.
	ExitError = 2
)

// HostFacts describe the host the run was on.
type HostFacts struct {
	OS       string `json:"os"`              // runtime.GOOS
	Arch     string `json:"arch"`            // runtime.GOARCH
	Build    string `json:"build,omitempty"` // Windows version and build: "10.0.22631"
	Edition  string `json:"edition,omitempty"`
	Elevated bool   `json:"elevated"`
	// Wine is set when the process runs under Wine (ntdll exports wine_get_version):
	// nothing there enforces a filter.
	Wine bool `json:"wine,omitempty"`
	// FirewallOn says per profile (Domain, Private, Public: Get-NetFirewallProfile's
	// names) whether Windows Firewall is on; empty when it could not be read.
	FirewallOn map[string]bool `json:"firewallOn,omitempty"`
	// Providers are the WFP providers installed on the host besides wfpsandbox's: other
	// vendors whose filters may also act on the probes.
	Providers []string `json:"providers,omitempty"`
	// NetEvents says whether net event collection was on, so drops could be tied to
	// filters.
	NetEvents bool `json:"netEvents"`
	// Addresses are the host's own addresses the probes targeted.
	Addresses Addresses `json:"addresses"`
}

// Verdict is the run's conclusion.
type Verdict struct {
	// Status: "held" (every safety claim confirmed), "refuted" (one was refuted),
	// "not-shown" (none refuted, but not all could be observed) or "error".
	Status   string `json:"status"`
	Summary  string `json:"summary"`           // the sentence the text output leads with
	Instead  string `json:"instead,omitempty"` // for "refuted": which profile/shape is safe on this host instead
	ExitCode int    `json:"exitCode"`
}

// Report is the selftest's JSON report (README "Check it on your host": schema).
type Report struct {
	Schema     string       `json:"schema"`
	Version    string       `json:"version"`
	Started    time.Time    `json:"started"`
	Finished   time.Time    `json:"finished"`
	Host       HostFacts    `json:"host"`
	Config     Config       `json:"config"`
	Account    string       `json:"account,omitempty"` // the temporary account's SID
	Other      string       `json:"other,omitempty"`   // the other (calling) account's SID
	Probes     []Probe      `json:"probes"`
	Identities []Identity   `json:"identities"`
	Cells      []Cell       `json:"cells"`
	Checks     []Check      `json:"checks"`
	Hypotheses []Hypothesis `json:"hypotheses"`
	// NotRun lists, in words, what this run did not do and why.
	NotRun []string `json:"notRun"`
	// Errors are failures that stopped a step.
	Errors []string `json:"errors"`
	// Swept is what this run removed (or left, and why) of what an earlier run that did
	// not finish had created (the crash record: journal.go).
	Swept   []SweepOutcome `json:"swept,omitempty"`
	Verdict Verdict        `json:"verdict"`
}

// NewReport returns a report for cfg with the matrix laid out: one cell per probe and
// identity that makes it, every result not run yet. NotRun starts with what cfg's
// extra rules match that no probe covers (and the rules with no probe at all).
func NewReport(cfg Config, version string, now time.Time) *Report {
	if cfg.Profile == "" {
		cfg.Profile = policy.Baseline
	}
	if cfg.UserMatch == "" {
		cfg.UserMatch = policy.DefaultUserMatch
	}
	probes, _, notes := layout(cfg)
	r := &Report{Schema: Schema, Version: version, Started: now, Config: cfg, Probes: probes, Identities: Identities(),
		NotRun: append([]string{}, notes...), Errors: []string{}, Checks: []Check{}}
	for _, p := range r.Probes {
		for _, id := range r.Identities {
			if !p.MadeBy(id) {
				continue
			}
			e, why := Expect(cfg, p, id)
			notRun := Result{Outcome: OutcomeNotRun, Error: "not run"}
			r.Cells = append(r.Cells, Cell{Probe: p.ID, Identity: id, Control: notRun, Policy: notRun, Expect: e, Reason: why})
		}
	}
	return r
}

// Cell returns the cell of probe and identity, or nil.
func (r *Report) Cell(probe string, id Identity) *Cell {
	for i := range r.Cells {
		if r.Cells[i].Probe == probe && r.Cells[i].Identity == id {
			return &r.Cells[i]
		}
	}
	return nil
}

// SetCheck records a check, replacing an earlier one with the same ID.
func (r *Report) SetCheck(c Check) {
	if i := slices.IndexFunc(r.Checks, func(x Check) bool { return x.ID == c.ID }); i >= 0 {
		r.Checks[i] = c
		return
	}
	r.Checks = append(r.Checks, c)
}

// Evaluate judges every cell, settles the hypotheses and sets the verdict. It may be
// called again after more results are recorded. Each cell's expectation is worked out
// again first, with the host's addresses (Host.Addresses) known by then: whether an
// extra rule with remote addresses matches an attempt to a local address depends on
// them.
func (r *Report) Evaluate() {
	for i := range r.Cells {
		c := &r.Cells[i]
		p, _ := r.probe(c.Probe)
		c.Expect, c.Reason = ExpectAt(r.Config, p, c.Identity, r.Host.Addresses)
		c.judge(p.Kind != KindWFPRead)
	}
	r.evaluateHypotheses()
	r.Verdict = r.verdict()
}

func (r *Report) hypothesis(id string) Hypothesis {
	for _, h := range r.Hypotheses {
		if h.ID == id {
			return h
		}
	}
	return Hypothesis{ID: id, Status: NotObservable}
}

// verdict derives the run's conclusion from the hypotheses and errors.
func (r *Report) verdict() Verdict {
	var refuted, unseen []string
	for _, h := range r.Hypotheses {
		if !h.Safety {
			continue
		}
		switch h.Status {
		case Refuted:
			refuted = append(refuted, h.ID)
		case NotObservable:
			unseen = append(unseen, h.ID)
		}
	}
	what := fmt.Sprintf("the %s policy (--user-match %s)", r.Config.Profile, r.Config.UserMatch)
	switch {
	case r.Host.Wine:
		// Checked first: under Wine an attempt the policy "let through" says nothing.
		v := Verdict{Status: "not-shown", ExitCode: ExitNotHeld,
			Summary: "Enforcement was not observed: this is Wine, where nothing enforces a WFP filter; the run shows at most that the policy installs and reads back in a dynamic session."}
		if len(r.Errors) > 0 {
			v.Summary += " It stopped at: " + strings.TrimRight(r.Errors[0], ".") + "."
		}
		return v
	case len(refuted) > 0:
		return Verdict{Status: "refuted", ExitCode: ExitNotHeld,
			Summary: fmt.Sprintf("On this host %s did NOT do what wfpsandbox claims: %s.", what, r.refutedText(refuted)),
			Instead: r.instead(refuted)}
	case len(r.Errors) > 0:
		return Verdict{Status: "error", ExitCode: ExitError,
			Summary: fmt.Sprintf("The selftest could not finish (%s); nothing it observed was refuted, but it did not show that %s holds on this host.",
				r.Errors[0], what)}
	case len(unseen) > 0:
		return Verdict{Status: "not-shown", ExitCode: ExitNotHeld,
			Summary: fmt.Sprintf("Nothing was refuted, but on this host the selftest could not observe: %s; it does not show that %s holds here.",
				strings.Join(unseen, ", "), what)}
	}
	return Verdict{Status: "held", ExitCode: ExitHeld, Summary: r.heldText(what)}
}

// heldText is the sentence for a run where every safety claim held.
func (r *Report) heldText(what string) string {
	// Name only the families a held cell of the account's own token shows.
	held := map[string]bool{}
	for _, c := range r.Cells {
		if c.Identity == (Identity{WhoAccount, TokenNormal}) && c.Expect == ExpectBlocked && c.Verdict == CellHeld {
			if p, ok := r.probe(c.Probe); ok {
				held[p.Family] = true
			}
		}
	}
	var fams, unseen []string
	for _, bp := range baselinePorts {
		name := map[string]string{"dns": "DNS", "dot": "DoT", "smb": "SMB", "netbios": "NetBIOS"}[bp.family]
		if held[bp.family] {
			fams = append(fams, name)
		} else {
			unseen = append(unseen, name)
		}
	}
	s := fmt.Sprintf("On this host %s blocks the account's direct %s", what, andList(fams))
	if len(unseen) > 0 {
		s += fmt.Sprintf(" (%s could not be observed here)", andList(unseen))
	}
	if r.Config.Profile == policy.Strict && held["other"] {
		s += ", and everything of it but loopback"
	}
	if r.hypothesis("children-blocked").Status == Confirmed {
		kinds := map[TokenKind]bool{}
		for _, c := range r.Cells {
			if c.Identity.Who == WhoAccount && isChild(c.Identity.Token) && c.Expect == ExpectBlocked && c.Verdict == CellHeld {
				kinds[c.Identity.Token] = true
			}
		}
		var seen, unseen []string
		for _, k := range []struct {
			name string
			ts   []TokenKind
		}{{"restricted", []TokenKind{TokenDenyOnly, TokenRestrictingSIDs}}, {"AppContainer", []TokenKind{TokenAppContainer, TokenAppContainerNoCaps}}, {"low-integrity", []TokenKind{TokenLowIntegrity}}} {
			if slices.ContainsFunc(k.ts, func(t TokenKind) bool { return kinds[t] }) {
				seen = append(seen, k.name)
			} else {
				unseen = append(unseen, k.name)
			}
		}
		s += fmt.Sprintf("; its %s children are blocked too", andList(seen))
		if len(unseen) > 0 {
			s += fmt.Sprintf(" (%s children could not be observed here)", andList(unseen))
		}
	} else if r.Config.UserMatch == policy.MatchAllow {
		s += "; under --user-match allow its restricted and AppContainer children are not contained (by design; use deny)"
	}
	return s + r.rulesHeldText() + "; no other account was affected."
}

func (r *Report) refutedText(ids []string) string {
	var parts []string
	for _, id := range ids {
		switch id {
		case "account-blocked", "loopback-at-connect":
			parts = append(parts, "the account's own traffic was not blocked as the profile says")
		case "children-blocked":
			parts = append(parts, "a restricted, AppContainer or low-integrity child of the account got through")
		case "anonymous-impersonation-uses-process-token":
			parts = append(parts, "a thread impersonating the anonymous token got through")
		case "other-account-unaffected", "other-account-kernel-path-unaffected":
			parts = append(parts, "ANOTHER ACCOUNT WAS BLOCKED")
		case "filter-add-accepts-user-condition":
			parts = append(parts, "Windows refused to add the policy")
		case "zero-drift":
			parts = append(parts, "the policy did not read back as installed")
		default:
			if g, account, ok := r.ruleGroupOf(id); ok {
				parts = append(parts, ruleRefutedText(g, account))
				continue
			}
			parts = append(parts, id)
		}
	}
	return strings.Join(slices.Compact(parts), "; ")
}

// instead says which profile/shape is safe on this host after a refutation — from
// what this run saw, never a promise about what it did not test.
func (r *Report) instead(refuted []string) string {
	has := func(id string) bool { return slices.Contains(refuted, id) }
	var rulesAccount, rulesOther []string
	for _, id := range refuted {
		if g, account, ok := r.ruleGroupOf(id); ok {
			if account {
				rulesAccount = append(rulesAccount, g.label)
			} else {
				rulesOther = append(rulesOther, g.label)
			}
		}
	}
	switch {
	case has("other-account-unaffected") || has("other-account-kernel-path-unaffected") || len(rulesOther) > 0:
		if r.Config.UserMatch == policy.MatchDeny {
			return "Do not install --user-match deny on this host: it touched another account. --user-match allow (the original shape) never names another account, but the account's restricted and AppContainer children escape it; run `wfpsandbox selftest --user-match allow` to check it here."
		}
		return "No shape tested here is safe for other accounts on this host; do not install wfpsandbox here and please report this."
	case has("filter-add-accepts-user-condition"):
		other := policy.MatchAllow
		if r.Config.UserMatch == policy.MatchAllow {
			other = policy.MatchDeny
		}
		return fmt.Sprintf("This shape cannot be installed here; run `wfpsandbox selftest --user-match %s` to check the other one.", other)
	case has("account-blocked") || has("loopback-at-connect"):
		return "The policy does not contain the account on this host in any form; do not rely on wfpsandbox here and please report this."
	case has("children-blocked") || has("anonymous-impersonation-uses-process-token"):
		return "Only the account's own normal-token processes are contained on this host; treat anything the account can start as unconfined (no shape tested here contains it)."
	case len(rulesAccount) > 0:
		return fmt.Sprintf("No claim about the %s profile's own rules was refuted here, but %s did not do what it says: do not rely on it on this host (`wfpsandbox explain --plan --policy FILE` shows how the plan should decide the flow) and please report this.",
			r.Config.Profile, andList(rulesAccount))
	}
	return "Do not rely on this policy here until the refuted claim is understood; please report this."
}

// WriteText writes the report for a person: the verdict first, then the hypotheses,
// what was not run, and the matrix.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "%s\n", r.Verdict.Summary)
	if r.Verdict.Instead != "" {
		fmt.Fprintf(w, "Instead: %s\n", r.Verdict.Instead)
	}
	fmt.Fprintf(w, "\nverdict: %s (exit %d)\n", r.Verdict.Status, r.Verdict.ExitCode)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	writeSwept(w, r.Swept)
	fmt.Fprintf(w, "\nhypotheses:\n")
	for _, h := range r.Hypotheses {
		mark := " "
		if h.Safety {
			mark = "*"
		}
		fmt.Fprintf(w, "%s %-15s %s\n    %s\n", mark, h.Status, h.ID, h.Claim)
		for i, e := range h.Evidence {
			if i == 3 {
				fmt.Fprintf(w, "      … %d more in the JSON report\n", len(h.Evidence)-i)
				break
			}
			fmt.Fprintf(w, "      %s\n", e)
		}
	}
	fmt.Fprintf(w, "(* = a safety claim: refuted or not observable, the run does not pass)\n")
	if len(r.NotRun) > 0 {
		fmt.Fprintf(w, "\nnot run:\n")
		for _, n := range r.NotRun {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	counts := map[CellVerdict]int{}
	for _, c := range r.Cells {
		counts[c.Verdict]++
	}
	fmt.Fprintf(w, "\nmatrix: %d attempts: %d held, %d violated, %d inconclusive, %d not observable, %d recorded, %d not run\n",
		len(r.Cells), counts[CellHeld], counts[CellViolated], counts[CellInconclusive], counts[CellNotObservable], counts[CellRecorded], counts[CellNotRun])
	for _, c := range r.Cells {
		if c.Verdict == CellViolated || c.Verdict == CellInconclusive {
			fmt.Fprintf(w, "  %s\n", c.Line())
		}
	}
}

// andList joins "a", "a and b", "a, b and c".
func andList(xs []string) string {
	switch len(xs) {
	case 0:
		return "traffic (none observed)"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// rulesHeldText is the part of a held verdict about the extra rules: which were seen
// blocking (or permitting) the account's matching traffic, and which were not probed
// here.
func (r *Report) rulesHeldText() string {
	var blocks, permits, unseen []string
	for _, g := range r.Config.ruleGroups() {
		h := r.hypothesis(g.accountID())
		switch {
		case h.Status == Confirmed && g.action == "permit":
			permits = append(permits, g.source)
		case h.Status == Confirmed:
			blocks = append(blocks, g.source)
		default:
			unseen = append(unseen, g.source)
		}
	}
	s := ""
	what := "the policy file's"
	if r.Config.PolicyFile == "" {
		what = "the extra"
	}
	if len(blocks) > 0 {
		s += fmt.Sprintf("; %s %s %s %s the account's matching traffic", what, plural(len(blocks), "rule", "rules"), andList(blocks), plural(len(blocks), "blocks", "block"))
	}
	if len(permits) > 0 {
		s += fmt.Sprintf("; %s %s %s %s the account's matching traffic through", what, plural(len(permits), "rule", "rules"), andList(permits), plural(len(permits), "lets", "let"))
	}
	if len(unseen) > 0 {
		s += fmt.Sprintf(" (%s %s could not be observed here: see %s)", plural(len(unseen), "rule", "rules"), andList(unseen), plural(len(unseen), "its hypothesis", "their hypotheses"))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
