package selftest

import (
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// Status is a hypothesis's state after a run.
type Status string

// Statuses.
const (
	Confirmed     Status = "confirmed"
	Refuted       Status = "refuted"
	NotObservable Status = "not-observable"
)

// Check IDs: facts the orchestration records itself, outside the probe matrix.
const (
	// CheckInstall: the plan was added in the dynamic session (FwpmFilterAdd0 accepted
	// every filter, the user condition's construction included).
	CheckInstall = "install"
	// CheckVerify: the installed plan reads back with zero drift (reconcile.Verify).
	CheckVerify = "verify"
	// CheckEnumScoped: a provider-scoped filter enumeration returns what a full one does.
	CheckEnumScoped = "enum-provider-scoped"
	// CheckLogon: CreateProcessWithLogonW started the probe as the account.
	CheckLogon = "logon"
	// CheckChildren: every child token kind could be started without privilege.
	CheckChildren = "children-start"
	// CheckCleanup: nothing the selftest added is left (WFP objects, account, profile).
	CheckCleanup = "cleanup"
	// CheckNotEqualSD: FwpmFilterAdd0 refused a filter with FWP_MATCH_NOT_EQUAL on a
	// security descriptor (added in a transaction that is always aborted). OK means
	// refused, as the documentation implies.
	CheckNotEqualSD = "not-equal-sd-refused"
)

// Check is one recorded fact. Ran false means it was not attempted (Detail says why).
type Check struct {
	ID     string `json:"id"`
	Ran    bool   `json:"ran"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Hypothesis is one claim the run settles, with the evidence.
type Hypothesis struct {
	ID    string `json:"id"`
	Claim string `json:"claim"`
	// Safety is true for claims the product's promise rests on: refuted, the run fails
	// (exit 1); not observable, the run cannot say the policy held. The others are facts
	// about Windows that the documentation does not settle; they are reported, never
	// fail the run.
	Safety   bool     `json:"safety"`
	Status   Status   `json:"status"`
	Evidence []string `json:"evidence"`
}

// hypothesisDef is a claim and how to settle it from a report.
type hypothesisDef struct {
	id, claim string
	safety    bool
	// applies returns "" when the claim is tested under cfg, else why not.
	applies func(cfg Config) string
	// cells selects the cells that bear on the claim (settled by their verdicts); nil
	// when eval decides alone.
	cells func(r *Report, c Cell) bool
	// eval, when set, decides instead of the cell verdicts.
	eval func(r *Report) (Status, []string)
	// note, when set, returns what to add to a bearing cell's evidence line ("" for
	// nothing).
	note func(r *Report, c Cell) string
	// settle, when set, may amend the hypothesis once its status is decided from the
	// bearing cells.
	settle func(r *Report, h *Hypothesis)
}

func always(Config) string { return "" }

func onlyShape(m policy.UserMatch) func(Config) string {
	return func(cfg Config) string {
		if cfg.UserMatch != m {
			return fmt.Sprintf("tested only with --user-match %s (this run: %s)", m, cfg.UserMatch)
		}
		return ""
	}
}

func (r *Report) probe(id string) (Probe, bool) {
	i := slices.IndexFunc(r.Probes, func(p Probe) bool { return p.ID == id })
	if i < 0 {
		return Probe{}, false
	}
	return r.Probes[i], true
}

func (r *Report) check(id string) (Check, bool) {
	i := slices.IndexFunc(r.Checks, func(c Check) bool { return c.ID == id })
	if i < 0 {
		return Check{}, false
	}
	return r.Checks[i], true
}

// fromCheck settles a claim by one recorded check.
func fromCheck(id string) func(r *Report) (Status, []string) {
	return func(r *Report) (Status, []string) {
		c, ok := r.check(id)
		switch {
		case !ok:
			return NotObservable, []string{"check " + id + " was not recorded"}
		case !c.Ran:
			return NotObservable, []string{"check " + id + " not run: " + c.Detail}
		case c.OK:
			return Confirmed, []string{"check " + id + ": " + c.Detail}
		default:
			return Refuted, []string{"check " + id + " failed: " + c.Detail}
		}
	}
}

// networkKind reports whether a probe is a socket attempt of the caller itself.
func networkKind(k ProbeKind) bool {
	return k == KindTCPConnect || k == KindUDPSend || k == KindRawICMP || k == KindTCPAccept
}

func isChild(t TokenKind) bool { return slices.Contains(childTokens, t) }

// hypotheses is the list a run settles: integration/doc.go's seven (1-7) and those of
// issue 11 and the per-account layout. The claims about the profile bear on the
// profile's own probes only (Probe.Rule empty); each extra rule has claims of its own
// (ruleHypotheses), appended after these.
var hypotheses = []hypothesisDef{
	{
		id:      "udp-sendto-wsaeacces",
		claim:   "a UDP datagram blocked at ALE_AUTH_CONNECT fails sendto with WSAEACCES (not a silent drop)",
		applies: always,
		eval: func(r *Report) (Status, []string) {
			var ev []string
			st := NotObservable
			for _, c := range r.Cells {
				p, _ := r.probe(c.Probe)
				if p.Kind != KindUDPSend || c.Expect != ExpectBlocked || c.Verdict == CellNotObservable || c.Verdict == CellNotRun {
					continue
				}
				switch {
				case c.Policy.Silent:
					st = Refuted
					ev = append(ev, c.Line())
				case c.Verdict == CellHeld && st != Refuted:
					st = Confirmed
					ev = append(ev, c.Line())
				}
			}
			return st, ev
		},
	},
	{
		id:      "loopback-at-connect",
		claim:   "loopback connects are classified at ALE_AUTH_CONNECT, so port filters without an address condition block them",
		safety:  true,
		applies: always,
		cells: func(r *Report, c Cell) bool {
			p, _ := r.probe(c.Probe)
			return p.Rule == "" && c.Identity == Identity{WhoAccount, TokenNormal} && p.Scope.Loopback() && p.Port != 0 &&
				(p.Kind == KindTCPConnect || p.Kind == KindUDPSend) && c.Expect == ExpectBlocked
		},
	},
	{
		id:      "account-blocked",
		claim:   "the account's own processes are blocked as the profile says (and let through where it says so)",
		safety:  true,
		applies: always,
		cells: func(r *Report, c Cell) bool {
			p, _ := r.probe(c.Probe)
			return p.Rule == "" && c.Identity == Identity{WhoAccount, TokenNormal} && networkKind(p.Kind)
		},
	},
	{
		id:      "children-blocked",
		claim:   "the account's restricted (user SID deny-only; restricting SIDs without it), AppContainer (with and without internetClient) and low-integrity children are blocked like the account (design §4, deny shape)",
		safety:  true,
		applies: onlyShape(policy.MatchDeny),
		cells: func(r *Report, c Cell) bool {
			p, _ := r.probe(c.Probe)
			return p.Rule == "" && c.Identity.Who == WhoAccount && isChild(c.Identity.Token) && networkKind(p.Kind)
		},
	},
	{
		id:      "allow-shape-children-escape",
		claim:   "under the allow shape (EQUAL D:(A;;CC;;;SID)) the account's restricted and AppContainer children escape the filters (design §4's prediction)",
		applies: onlyShape(policy.MatchAllow),
		eval: func(r *Report) (Status, []string) {
			var escaped, blocked []string
			for _, c := range r.Cells {
				p, _ := r.probe(c.Probe)
				if c.Identity.Who != WhoAccount || !isChild(c.Identity.Token) || c.Identity.Token == TokenLowIntegrity ||
					!networkKind(p.Kind) || c.Control.Outcome != OutcomeAllowed {
					continue
				}
				// Only attempts the account's normal token has blocked say anything.
				if e, _ := ExpectAt(r.Config, p, Identity{WhoAccount, TokenNormal}, r.Host.Addresses); e != ExpectBlocked {
					continue
				}
				switch {
				case c.Policy.Outcome == OutcomeAllowed && !c.Policy.Unobserved:
					escaped = append(escaped, c.Line())
				case c.Policy.Outcome == OutcomeBlocked:
					blocked = append(blocked, c.Line())
				}
			}
			switch {
			case len(blocked) > 0:
				return Refuted, append(blocked, escaped...)
			case len(escaped) > 0:
				return Confirmed, escaped
			}
			return NotObservable, nil
		},
	},
	{
		id:      "anonymous-impersonation-uses-process-token",
		claim:   "a socket used while its thread impersonates the anonymous token (ImpersonateAnonymousToken, no privilege) is still classified with the process token — else the guard permit's ANONYMOUS LOGON ACE would let the account escape",
		safety:  true,
		applies: always,
		cells: func(r *Report, c Cell) bool {
			p, _ := r.probe(c.Probe)
			return p.Rule == "" && c.Identity == Identity{WhoAccount, TokenAnonymousImpersonation} && networkKind(p.Kind)
		},
	},
	{
		id:      "other-account-unaffected",
		claim:   "another account's normal, restricted, AppContainer and low-integrity processes are not blocked",
		safety:  true,
		applies: always,
		cells: func(r *Report, c Cell) bool {
			p, _ := r.probe(c.Probe)
			return p.Rule == "" && c.Identity.Who == WhoOther && networkKind(p.Kind)
		},
	},
	{
		id:      "other-account-kernel-path-unaffected",
		claim:   "another account's kernel-path traffic — ping via IcmpSendEcho, an SMB connection opened by the redirector — is not blocked",
		safety:  true,
		applies: always,
		cells: func(r *Report, c Cell) bool {
			p, _ := r.probe(c.Probe)
			return c.Identity.Who == WhoOther && (p.Kind == KindICMPEchoAPI || p.Kind == KindSMBKernel)
		},
	},
	{
		id:      "raw-icmp-refused-to-non-admin",
		claim:   "raw ICMP sockets are refused to non-administrators before WFP (so the ICMP filters cannot be seen blocking the account's sockets)",
		applies: always,
		eval: func(r *Report) (Status, []string) {
			var refused, allowed []string
			for _, c := range r.Cells {
				p, _ := r.probe(c.Probe)
				if c.Identity != (Identity{WhoAccount, TokenNormal}) || p.Kind != KindRawICMP {
					continue
				}
				switch c.Control.Outcome {
				case OutcomeBlocked:
					refused = append(refused, c.Line())
				case OutcomeAllowed:
					allowed = append(allowed, c.Line())
				}
			}
			switch {
			case len(allowed) > 0:
				return Refuted, allowed
			case len(refused) > 0:
				return Confirmed, refused
			}
			return NotObservable, nil
		},
	},
	{
		id:      "non-admin-reads-objects",
		claim:   "a non-administrator (the account) can read the policy's filters by key",
		applies: always,
		eval: func(r *Report) (Status, []string) {
			var st Status = NotObservable
			var ev []string
			for _, c := range r.Cells {
				p, _ := r.probe(c.Probe)
				if p.Kind != KindWFPRead {
					continue
				}
				ev = append(ev, c.Line()+" "+c.Policy.Error)
				switch c.Policy.Outcome {
				case OutcomeAllowed:
					if st == NotObservable {
						st = Confirmed
					}
				case OutcomeBlocked, OutcomeOther:
					st = Refuted
				}
			}
			return st, ev
		},
	},
	{
		id:      "filter-add-accepts-user-condition",
		claim:   "FwpmFilterAdd0 accepts the plan's filters, the user condition's construction included",
		safety:  true,
		applies: always,
		eval:    fromCheck(CheckInstall),
	},
	{
		id:      "zero-drift",
		claim:   "the installed policy reads back with zero drift",
		safety:  true,
		applies: always,
		eval:    fromCheck(CheckVerify),
	},
	{
		id:      "provider-scoped-enumeration",
		claim:   "a provider-scoped filter enumeration returns what a full one does (wfp-facts §10.5)",
		applies: always,
		eval:    fromCheck(CheckEnumScoped),
	},
	{
		id:      "logon-and-children",
		claim:   "CreateProcessWithLogonW works from this session, and a standard account's process may start restricted, AppContainer and low-integrity copies of its token without privilege",
		applies: always,
		eval: func(r *Report) (Status, []string) {
			s1, e1 := fromCheck(CheckLogon)(r)
			s2, e2 := fromCheck(CheckChildren)(r)
			ev := append(e1, e2...)
			switch {
			case s1 == Refuted || s2 == Refuted:
				return Refuted, ev
			case s1 == Confirmed && s2 == Confirmed:
				return Confirmed, ev
			}
			return NotObservable, ev
		},
	},
	{
		id:      "not-equal-sd-refused",
		claim:   "FwpmFilterAdd0 refuses FWP_MATCH_NOT_EQUAL on a security descriptor (setup version 1's user condition; fwptypes.h allows NOT_EQUAL only for sortable types)",
		applies: always,
		eval:    fromCheck(CheckNotEqualSD),
	},
	{
		id:      "persistent-filters-survive-bfe-restart",
		claim:   "persistent filters come back when BFE restarts",
		applies: always,
		// Settled only by a phase against a persistent install after a BFE restart
		// (Installed.AfterRestart, the integration suite); Run's report says why not.
		eval: func(r *Report) (Status, []string) {
			if _, ok := r.check(CheckPersistence); !ok {
				return NotObservable, []string{"the selftest adds nothing persistent (a dynamic session); the integration suite's bfe-restart phase or a reboot checks this"}
			}
			return fromCheck(CheckPersistence)(r)
		},
	},
}

// evaluate settles every hypothesis from r's cells and checks.
func (r *Report) evaluateHypotheses() {
	r.Hypotheses = nil
	for _, d := range append(slices.Clone(hypotheses), r.ruleHypotheses()...) {
		h := Hypothesis{ID: d.id, Claim: d.claim, Safety: d.safety, Evidence: []string{}}
		if why := d.applies(r.Config); why != "" {
			h.Status, h.Evidence = NotObservable, []string{why}
			h.Safety = false // a claim this run does not test cannot fail or hold it
			r.Hypotheses = append(r.Hypotheses, h)
			continue
		}
		if d.eval != nil {
			h.Status, h.Evidence = d.eval(r)
			if h.Evidence == nil {
				h.Evidence = []string{"no attempt bore on it"}
			}
			r.Hypotheses = append(r.Hypotheses, h)
			continue
		}
		var held, violated, unclear []string
		for _, c := range r.Cells {
			if !d.cells(r, c) {
				continue
			}
			line := c.Line()
			if d.note != nil {
				if n := d.note(r, c); n != "" {
					line += " {" + n + "}"
				}
			}
			switch c.Verdict {
			case CellHeld:
				held = append(held, line)
			case CellViolated:
				violated = append(violated, line)
			case CellInconclusive, CellNotObservable, CellNotRun:
				unclear = append(unclear, line)
			}
		}
		switch {
		case len(violated) > 0:
			h.Status, h.Evidence = Refuted, append(violated, held...)
		case len(held) > 0:
			h.Status, h.Evidence = Confirmed, held
		default:
			h.Status, h.Evidence = NotObservable, unclear
			if len(unclear) == 0 {
				h.Evidence = []string{"no attempt bore on it"}
			}
		}
		// What could not be seen is listed too, so "confirmed" says on what.
		if h.Status != NotObservable {
			for _, u := range unclear {
				h.Evidence = append(h.Evidence, "not counted: "+u)
			}
		}
		if d.settle != nil {
			d.settle(r, &h)
		}
		r.Hypotheses = append(r.Hypotheses, h)
	}
	if r.Host.Wine {
		// Wine's WFP is an emulator (or a stub): what it accepts or lets through says
		// nothing about Windows. Keep the evidence, observe nothing.
		for i := range r.Hypotheses {
			h := &r.Hypotheses[i]
			h.Evidence = append([]string{fmt.Sprintf("under Wine (would be %s on this evidence): nothing here is Windows' behaviour", h.Status)}, h.Evidence...)
			h.Status = NotObservable
		}
	}
}
