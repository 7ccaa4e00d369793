package setup

import "github.com/wfpsandbox/wfpsandbox/state"

// Step names.
const (
	StepAccount = "account" // resolve the sandbox account
	StepWFP     = "wfp"     // install the WFP policy
	StepRecord  = "record"  // write the account's record (logged and reported by Run's error; never in the record itself)
)

// The step outcome types live in package state, which records them; these names keep
// setup's reports readable.
type (
	// StepResult is one step's outcome (state.StepResult).
	StepResult = state.StepResult
	// Status is a step's outcome (state.Status).
	Status = state.Status
	// Account is the sandbox account as resolved (state.Account).
	Account = state.Account
)

// Step outcomes.
const (
	StatusOK      = state.StatusOK
	StatusFailed  = state.StatusFailed
	StatusSkipped = state.StatusSkipped
)
