package reconcile

import (
	"log/slog"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Op is what a Change does to an object.
type Op string

// Operations.
const (
	OpAdd    Op = "add"    // Fwpm*Add0
	OpDelete Op = "delete" // Fwpm*DeleteByKey0
)

// Kind is the kind of WFP object a Change or Finding is about.
type Kind string

// Object kinds.
const (
	KindProvider Kind = "provider"
	KindSublayer Kind = "sublayer"
	KindFilter   Kind = "filter"
)

// Change is one write of a change set: add or delete one object, and why.
//
// Reasons used: "missing"; "drifted: <what differs>"; "not in plan (rule X of an older
// version or another profile)"; "parent replaced: …" (a filter deleted and re-added
// because its sublayer or provider is replaced); "uninstall" (a filter of the account
// being removed); "orphan" (a filter of our provider with no ownership tag, removed by
// Uninstall(""), or a sublayer of our provider other than the plan's); "no filters
// left" (the sublayer or provider removed by Uninstall).
type Change struct {
	Op     Op       `json:"op"`
	Kind   Kind     `json:"kind"`
	Key    wfp.GUID `json:"key"`
	Name   string   `json:"name"`
	Reason string   `json:"reason"`
}

// Result is what Install or Uninstall did (or, with DryRun, would do).
type Result struct {
	// Changes are the writes in the order they were (or would be) applied.
	Changes []Change `json:"changes"`
	// Writes is the number of add and delete calls that succeeded and were
	// committed; 0 for a dry run and for a converged host.
	Writes int `json:"writes"`
	// DryRun is true when the change set was computed inside a transaction that was
	// then aborted: nothing was written.
	DryRun bool `json:"dryRun"`
}

// Options tune Install and Uninstall.
type Options struct {
	// DryRun computes the change set inside a transaction and aborts it.
	DryRun bool
	// Logger receives one record per change and a summary; nil discards them.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Problem is what Verify found wrong with one object.
type Problem string

// Problems.
const (
	// ProblemMissing: an object of the plan is not installed.
	ProblemMissing Problem = "missing"
	// ProblemDrifted: the object is installed but differs from the plan.
	ProblemDrifted Problem = "drifted"
	// ProblemExtra: a filter of the plan's account that the plan does not have (an
	// older rule, another profile).
	ProblemExtra Problem = "extra"
	// ProblemForeign: an object of another owner holds one of wfpsandbox's keys, or a
	// filter of another provider (or an untagged non-block filter of wfpsandbox's
	// provider) sits in wfpsandbox's sublayer (where a permit would override our blocks).
	ProblemForeign Problem = "foreign"
	// ProblemDisabled: the engine reports the object with its output-only DISABLED
	// flag (FWPM_PROVIDER_FLAG_DISABLED, FWPM_FILTER_FLAG_DISABLED): it is installed
	// as planned but not enforced. Install cannot fix this by rewriting it.
	ProblemDisabled Problem = "disabled"
)

// Finding is one problem Verify found.
type Finding struct {
	Kind    Kind     `json:"kind"`
	Key     wfp.GUID `json:"key"`
	Name    string   `json:"name"`
	Problem Problem  `json:"problem"`
	Detail  string   `json:"detail"`
	// Override is set for ProblemOverride: the other owner's filter, our block and the
	// flow it lets through (effective.go).
	Override *Override `json:"override,omitempty"`
}

// Report is the result of Verify.
type Report struct {
	// SID is the account the plan is for.
	SID string `json:"sid"`
	// Compliant is true when there are no findings: the CLI's exit code 0.
	Compliant bool `json:"compliant"`
	// Matching is how many of the plan's filters are installed exactly as planned.
	Matching int `json:"matching"`
	// Planned is how many filters the plan has.
	Planned int `json:"planned"`
	// Findings lists every problem: provider, sublayer, the plan's filters in plan
	// order, then extra and foreign filters.
	Findings []Finding `json:"findings"`
	// PossibleOverrides are overrides that hold only if conditions the analysis cannot
	// decide match (effective.go); they are not findings and do not make the report
	// non-compliant.
	PossibleOverrides []Override `json:"possibleOverrides"`
}
