package setup

import (
	"errors"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ReasonLiveUnreadable is the reason ensure --require-live gives when the live policy
// could not be read (CheckResult.Live false): the record says current, but nothing
// confirmed it. It is never added by Check itself, so that a plain ensure does not run
// setup (and ask for elevation) on every start of a host where reading is impossible.
const ReasonLiveUnreadable ReasonCode = "live-unreadable"

// Why the live policy was not read (CheckResult.LiveReason).
const (
	// LiveNoEngine: no engine to read (CheckOptions.Open is nil, e.g. off Windows
	// without --engine).
	LiveNoEngine = "no-engine"
	// LiveUnavailable: WFP cannot be used at all (BFE stopped, fwpuclnt.dll missing,
	// RPC unreachable; wfp.ErrUnavailable).
	LiveUnavailable = "engine-unavailable"
	// LiveAccessDenied: the engine refused the session or a read with
	// ERROR_ACCESS_DENIED — the objects were added without the read grant (an install
	// older than it, or readers that do not include the caller) or the engine's
	// security was changed.
	LiveAccessDenied = "access-denied"
	// LiveReadFailed: any other failure to read (a timeout, an RPC error).
	LiveReadFailed = "read-failed"
)

// liveReason classifies a failure to open the engine or read the policy.
func liveReason(err error) string {
	switch {
	case wfp.IsAccessDenied(err):
		return LiveAccessDenied
	case errors.Is(err, wfp.ErrUnavailable):
		return LiveUnavailable
	}
	return LiveReadFailed
}
