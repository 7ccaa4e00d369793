package setup

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/state"
)

// ReasonCode says why setup is needed.
type ReasonCode string

// Reasons for a setup run.
const (
	ReasonNoRecord       ReasonCode = "no-record"        // setup never ran here for the account
	ReasonCorruptRecord  ReasonCode = "corrupt-record"   // the account's record is unusable or invalid
	ReasonVersionChanged ReasonCode = "version-changed"  // SetupVersion differs from the record's
	ReasonAccountChanged ReasonCode = "account-changed"  // the account's SID differs
	ReasonProfileChanged ReasonCode = "profile-changed"  // the profile differs
	ReasonPlanChanged    ReasonCode = "plan-changed"     // the plan hash differs (new rules, user-match shape, …)
	ReasonStepFailed     ReasonCode = "step-failed"      // a step failed last time: retry it
	ReasonPolicyDrift    ReasonCode = "policy-drift"     // the live WFP policy differs from the plan
	ReasonIncomplete     ReasonCode = "incomplete-steps" // the record lacks a step (older or interrupted run)
)

// Reason is one reason setup is needed.
type Reason struct {
	Code   ReasonCode `json:"code"`
	Detail string     `json:"detail"`
	// Step names the step of a step-failed or incomplete-steps reason.
	Step string `json:"step,omitempty"`
}

// String is "code: detail".
func (r Reason) String() string { return string(r.Code) + ": " + r.Detail }

// Want is what the caller wants installed, to compare with a record.
type Want struct {
	SetupVersion int    // SetupVersion unless testing
	SID          string // the account's SID as resolved now
	Profile      string
	PlanHash     string // policy.Plan.Hash(); "" skips the comparison
}

// NeedsSetup returns why a full setup run is needed, given the account's record (m
// and readErr as returned by state.Read) and what is wanted; none means the record is
// current.
func NeedsSetup(m *state.Record, readErr error, want Want) []Reason {
	if readErr != nil {
		if errors.Is(readErr, state.ErrNoRecord) {
			d := "setup has not run on this machine"
			if want.SID != "" {
				d += " for " + want.SID
			}
			return []Reason{{Code: ReasonNoRecord, Detail: d + " (no setup record)"}}
		}
		return []Reason{{Code: ReasonCorruptRecord, Detail: readErr.Error()}}
	}
	if m == nil {
		return []Reason{{Code: ReasonNoRecord, Detail: "no setup record"}}
	}
	var rs []Reason
	if m.SetupVersion != want.SetupVersion {
		rs = append(rs, Reason{Code: ReasonVersionChanged, Detail: fmt.Sprintf("setup version changed from %d to %d: existing installs rerun full setup", m.SetupVersion, want.SetupVersion)})
	}
	if want.SID != "" && !strings.EqualFold(m.Account.SID, want.SID) {
		rs = append(rs, Reason{Code: ReasonAccountChanged, Detail: fmt.Sprintf("account SID changed from %s to %s", m.Account.SID, want.SID)})
	}
	if want.Profile != "" && m.Profile != want.Profile {
		rs = append(rs, Reason{Code: ReasonProfileChanged, Detail: fmt.Sprintf("profile changed from %s to %s", m.Profile, want.Profile)})
	}
	if want.PlanHash != "" && m.PlanHash != want.PlanHash {
		rs = append(rs, Reason{Code: ReasonPlanChanged, Detail: fmt.Sprintf("policy plan changed (hash %s → %s)", short(m.PlanHash), short(want.PlanHash))})
	}
	for _, name := range []string{StepAccount, StepWFP} {
		s, ok := m.Step(name)
		switch {
		case !ok:
			rs = append(rs, Reason{Code: ReasonIncomplete, Detail: fmt.Sprintf("step %s not recorded", name), Step: name})
		case s.Status != StatusOK:
			d := fmt.Sprintf("step %s %s last time", name, s.Status)
			if s.Error != "" {
				d += ": " + s.Error
			}
			if s.Failures > 1 {
				d += fmt.Sprintf(" (%d runs in a row)", s.Failures)
			}
			rs = append(rs, Reason{Code: ReasonStepFailed, Detail: d, Step: name})
		}
	}
	return rs
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "none"
	}
	return h
}
