package selftest

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// Outcome is what one attempt did.
type Outcome string

// Outcomes.
const (
	// OutcomeBlocked: the attempt failed with WSAEACCES (10013), WFP's ALE block; for an
	// inbound accept, no connection arrived within the timeout.
	OutcomeBlocked Outcome = "blocked"
	// OutcomeAllowed: the attempt succeeded (connected, sent and received by this host's
	// listener, accepted, echo replied, read).
	OutcomeAllowed Outcome = "allowed"
	// OutcomeOther: it failed some other way (Result.Error says how).
	OutcomeOther Outcome = "other"
	// OutcomeNotObservable: its control (the same attempt with nothing of wfpsandbox's
	// installed) did not succeed, so what the policy does to it cannot be seen.
	OutcomeNotObservable Outcome = "not-observable"
	// OutcomeNotRun: the attempt was not made (Result.Error says why).
	OutcomeNotRun Outcome = "not-run"
)

// WSAEACCES is the Winsock error of WFP's ALE block at connect, sendto and bind.
const WSAEACCES = probeproto.WSAEACCES

// WSAECONNREFUSED (10061, winerror.h): the peer answered a TCP connect with a reset.
const WSAECONNREFUSED = 10061

// Result is one attempt's outcome.
type Result struct {
	Outcome Outcome `json:"outcome"`
	Errno   uint32  `json:"errno,omitempty"`
	Error   string  `json:"error,omitempty"`
	Detail  string  `json:"detail,omitempty"`
	// Silent is set for a UDP datagram that sendto accepted but that never reached this
	// host's listener: a drop without WSAEACCES.
	Silent bool `json:"silent,omitempty"`
	// Unobserved is set for a UDP datagram that sendto accepted where no listener of the
	// selftest could be bound on the target (another program holds the port): whether it
	// arrived was not seen, so the allowed outcome is only sendto's word and settles no
	// expectation that it goes through (judge: inconclusive).
	Unobserved bool `json:"unobserved,omitempty"`
	// Drop is the net event that names the filter which dropped the attempt, when net
	// event collection was on and an event matched.
	Drop *Drop `json:"drop,omitempty"`
}

// Drop ties a block to a filter: which one dropped the attempt according to the
// CLASSIFY_DROP net event (events package), and whether it is the selftest's.
type Drop struct {
	FilterID uint64 `json:"filterId"`
	Filter   string `json:"filter,omitempty"`   // display name
	Provider string `json:"provider,omitempty"` // the filter's provider
	// Ours is true when the filter belongs to the wfpsandbox (or selftest) provider;
	// Rule is then its rule ID from the ownership tag.
	Ours bool   `json:"ours"`
	Rule string `json:"rule,omitempty"`
}

// DropFromEvent returns the Drop of a resolved net event (events.Resolver.Resolve has
// filled its filter), or nil when the event names no filter. ours says whether a
// provider key is the selftest's (the selftest installs under its own provider key so
// that a real install can coexist).
func DropFromEvent(e events.Event, ours func(providerKey string) bool) *Drop {
	if e.FilterID == nil {
		return nil
	}
	d := &Drop{FilterID: *e.FilterID}
	if e.Filter != nil {
		d.Filter, d.Provider, d.Rule = e.Filter.Name, e.Filter.Provider, e.Filter.Rule
		d.Ours = e.Ours || (ours != nil && ours(e.Filter.ProviderKey))
	}
	return d
}

// FromRecord turns a probe record into a Result. arrived says, for a UDP attempt, whether
// the datagram reached this host's listener (nil when no listener could be bound).
func FromRecord(rec probeproto.Record, arrived *bool) Result {
	r := Result{Errno: rec.Errno, Error: rec.Error, Detail: rec.Detail}
	switch {
	case rec.OK && rec.Kind == probeproto.KindUDPSend && arrived != nil && !*arrived:
		r.Outcome, r.Silent = OutcomeOther, true
		r.Error = "sendto succeeded but the datagram never reached this host's listener (dropped without an error)"
	case rec.OK && rec.Kind == probeproto.KindUDPSend && arrived == nil:
		r.Outcome, r.Unobserved = OutcomeAllowed, true
		if r.Detail == "" {
			r.Detail = "sendto succeeded; no listener of the selftest could be bound on the target, so its arrival was not observed"
		}
	case rec.OK:
		r.Outcome = OutcomeAllowed
	case rec.Kind == probeproto.KindTCPAccept && rec.Timeout:
		// An inbound connection dropped at ALE_AUTH_RECV_ACCEPT has no error code on the
		// listener's side: it never arrives. The cell's control (one arrived with nothing
		// installed) is what makes this a block rather than a lost connect.
		r.Outcome = OutcomeBlocked
		r.Detail = "no connection arrived while the selftest connected to it"
	case rec.Errno == WSAECONNREFUSED:
		// A RST from the port's owner: the connect got past ALE_AUTH_CONNECT and reached
		// this host's stack, so WFP did not block it.
		r.Outcome = OutcomeAllowed
		r.Detail = "refused by the port's owner (the connect reached it)"
	case rec.Errno == WSAEACCES:
		r.Outcome = OutcomeBlocked
	default:
		r.Outcome = OutcomeOther
		if r.Error == "" {
			r.Error = rec.Outcome()
		}
	}
	return r
}

// CellVerdict is how one attempt under the policy compares with its expectation.
type CellVerdict string

// Cell verdicts.
const (
	CellHeld          CellVerdict = "held"           // as expected
	CellViolated      CellVerdict = "violated"       // the opposite of what was expected
	CellInconclusive  CellVerdict = "inconclusive"   // it failed in another way, or a block named another filter
	CellNotObservable CellVerdict = "not-observable" // the control did not succeed
	CellRecorded      CellVerdict = "recorded"       // nothing was expected
	CellNotRun        CellVerdict = "not-run"
)

// Cell is one probe made by one identity: its control, its outcome with the policy
// installed, what was expected and the verdict.
type Cell struct {
	Probe    string      `json:"probe"`
	Identity Identity    `json:"identity"`
	Control  Result      `json:"control"`
	Policy   Result      `json:"policy"`
	Expect   Expectation `json:"expect"`
	Reason   string      `json:"reason"` // why that is expected
	Verdict  CellVerdict `json:"verdict"`
	Note     string      `json:"note,omitempty"` // why the verdict, when not plain
}

// judge sets c.Verdict (and c.Note) from the control, the policy result and the
// expectation. A probe without a control (KindWFPRead) passes needsControl=false.
//
// A block counts as the policy's only when it is WSAEACCES and, if a net event names the
// dropping filter, that filter is ours; a block by another filter is inconclusive.
func (c *Cell) judge(needsControl bool) {
	c.Note = ""
	switch {
	case c.Policy.Outcome == OutcomeNotRun || (needsControl && c.Control.Outcome == OutcomeNotRun):
		c.Verdict = CellNotRun
		return
	case needsControl && c.Control.Outcome != OutcomeAllowed:
		c.Verdict = CellNotObservable
		c.Note = fmt.Sprintf("control (nothing installed) was %s: %s", c.Control.Outcome, c.Control.Error)
		return
	}
	got := c.Policy.Outcome
	if got == OutcomeBlocked && c.Policy.Drop != nil && !c.Policy.Drop.Ours {
		c.Verdict = CellInconclusive
		c.Note = fmt.Sprintf("blocked, but the drop names another filter (%d %q of %q)", c.Policy.Drop.FilterID, c.Policy.Drop.Filter, c.Policy.Drop.Provider)
		return
	}
	switch c.Expect {
	case ExpectRecord:
		c.Verdict = CellRecorded
	case ExpectBlocked:
		switch got {
		case OutcomeBlocked:
			c.Verdict = CellHeld
		case OutcomeAllowed:
			c.Verdict = CellViolated
		default:
			c.Verdict = CellInconclusive
			c.Note = "expected a block, got: " + c.Policy.Error
		}
	case ExpectAllowed:
		switch {
		case got == OutcomeAllowed && c.Policy.Unobserved:
			// sendto's success is not the datagram's arrival: a drop without an error
			// (Silent) cannot be told apart here, so "not blocked" is not observed.
			c.Verdict = CellInconclusive
			c.Note = "sendto succeeded, but no listener of the selftest was on the target to see the datagram arrive"
		case got == OutcomeAllowed:
			c.Verdict = CellHeld
		case got == OutcomeBlocked:
			c.Verdict = CellViolated
		default:
			c.Verdict = CellInconclusive
			c.Note = "expected it to go through, got: " + c.Policy.Error
		}
	}
}

// Line is the cell as one line of evidence.
func (c Cell) Line() string {
	s := fmt.Sprintf("%s as %s: control %s, policy %s", c.Probe, c.Identity, c.Control.Outcome, c.Policy.Outcome)
	if c.Policy.Drop != nil {
		s += fmt.Sprintf(" (drop by filter %d", c.Policy.Drop.FilterID)
		if c.Policy.Drop.Rule != "" {
			s += " rule " + c.Policy.Drop.Rule
		}
		s += ")"
	}
	s += fmt.Sprintf(", expected %s → %s", c.Expect, c.Verdict)
	if c.Note != "" {
		s += " [" + c.Note + "]"
	}
	return s
}
