package setup

import "log/slog"

// EventID identifies a kind of log record in the Windows Application Event Log (source
// "wfpsandbox") and in the JSON log file ("event" field). The numbers are stable:
// monitoring rules and Intune scripts match on them.
//
// They lie in 1..1000 because the source is registered with EventCreate.exe as its
// message file (eventlog.InstallAsEventCreate), and EventCreate.exe only carries
// message texts for IDs 1 to 1000; outside that range Event Viewer shows "The
// description for Event ID … cannot be found" before the text.
type EventID uint32

// Event IDs.
const (
	// EventSetupOK (100, Information): full setup finished and every step succeeded;
	// the message names the account, profile, filter count and WFP writes.
	EventSetupOK EventID = 100
	// EventWFPFailed (101, Warning): setup finished but the WFP step failed; the
	// message names the WFP call and its status code. The record records the failure
	// and the next setup or ensure run retries it.
	EventWFPFailed EventID = 101
	// EventSetupError (102, Error): setup could not run or complete: bad input, the
	// account could not be resolved, the lock or the record could not be taken or
	// written. Nothing about the WFP policy was changed unless the message says so.
	EventSetupError EventID = 102
	// EventVerifyDrift (103, Warning): verify found the installed policy differs from
	// the plan (missing, drifted, extra, foreign or disabled objects).
	EventVerifyDrift EventID = 103
	// EventVerifyOK (104, Information): verify found the policy exactly as planned.
	EventVerifyOK EventID = 104
	// EventRecordSetAside (105, Warning): an unusable setup record (corrupt,
	// truncated, of a newer format, unreadable, invalid values) or old marker was
	// renamed to <its name>.corrupt-<time>.
	EventRecordSetAside EventID = 105
	// EventMetricsFailed (106, Warning): analytics are on but the metrics could not
	// be sent (collector down or slow); setup's outcome is unaffected.
	EventMetricsFailed EventID = 106
	// EventSetupNeeded (107, Information): ensure found setup is needed (the message
	// lists why) and is starting it, elevated if needed.
	EventSetupNeeded EventID = 107
	// EventUninstallOK (108, Information): uninstall removed wfpsandbox's WFP objects.
	EventUninstallOK EventID = 108
	// EventUninstallError (109, Error): uninstall failed; nothing was removed.
	EventUninstallError EventID = 109
	// EventStep (110, Information or Warning): one setup step's outcome (account,
	// wfp); warnings for failed steps.
	EventStep EventID = 110
	// EventServiceRepaired (120, Warning): the wfpsandbox service found an account's
	// installed policy differing from its record's plan and repaired it in one
	// transaction; the message names the account and every change.
	EventServiceRepaired EventID = 120
	// EventServiceThrottled (121, Warning): the service found drift but did not repair
	// it: the account's repair budget is spent (another tool keeps changing the policy).
	EventServiceThrottled EventID = 121
	// EventServiceRepairFailed (122, Error): the service could not check or repair an
	// account's policy (the message names the WFP call and status); nothing was changed.
	EventServiceRepairFailed EventID = 122
	// EventServiceRequest (123, Information or Warning): a pipe request that changed
	// something, or was refused (not authorized, invalid); names the caller.
	EventServiceRequest EventID = 123
	// EventServiceState (124, Information): the service started or stopped.
	EventServiceState EventID = 124
	// EventServiceNotifications (125, Information or Warning): the service's WFP change
	// notifications for the wfpsandbox provider's objects started (Information), or could
	// not be started or were lost (Warning: the service converges on its poll only and
	// tries to subscribe again at every poll).
	EventServiceNotifications EventID = 125
	// EventOther (199): a warning or error logged without an event ID of its own.
	EventOther EventID = 199
)

// EventKey is the slog attribute key that carries an EventID.
const EventKey = "event"

// Event returns the slog attribute that tags a record with id, e.g.
// logger.Warn("…", setup.Event(setup.EventWFPFailed)).
func Event(id EventID) slog.Attr { return slog.Int(EventKey, int(id)) }

// Events lists every event ID with its name, in order (for documentation and tests).
func Events() []struct {
	ID   EventID
	Name string
} {
	return []struct {
		ID   EventID
		Name string
	}{
		{EventSetupOK, "setup ok"},
		{EventWFPFailed, "WFP step failed"},
		{EventSetupError, "setup error"},
		{EventVerifyDrift, "verify drift"},
		{EventVerifyOK, "verify ok"},
		{EventRecordSetAside, "record set aside"},
		{EventMetricsFailed, "metrics not sent"},
		{EventSetupNeeded, "setup needed"},
		{EventUninstallOK, "uninstall ok"},
		{EventUninstallError, "uninstall error"},
		{EventStep, "setup step"},
		{EventServiceRepaired, "service repaired policy"},
		{EventServiceThrottled, "service repair throttled"},
		{EventServiceRepairFailed, "service repair failed"},
		{EventServiceRequest, "service request"},
		{EventServiceState, "service started or stopped"},
		{EventServiceNotifications, "service change notifications"},
		{EventOther, "other warning or error"},
	}
}
