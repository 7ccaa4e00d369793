// Package service is the platform-independent core of the optional wfpsandbox
// service: a long-running process (a Windows service running as LocalSystem) that
//
//   - keeps every recorded account converged: it reads the per-account records of
//     package state, rebuilds each account's plan from its record and reconciles the
//     engine to it (reconcile.Install: one transaction per account), at start, on a
//     WFP change notification for the wfpsandbox provider's objects (when the engine
//     is a wfp.ChangeSubscriber: Run keeps a session subscribed and calls Notify;
//     see notify.go) and on a bounded poll (config.toml [service] poll, default 5
//     minutes), which stays the backstop and retries a failed subscription. Repairs are logged
//     (setup.EventServiceRepaired), counted (telemetry.MetricPolicyRepaired) and
//     rate-limited per account by a token bucket, so that a fight with another tool
//     that keeps deleting our filters cannot spin;
//   - answers a small versioned JSON protocol (Request, Response) for local callers:
//     "status" (a live verify of one recorded account, as the service sees it),
//     "set-proxy-ports" (replace the strict profile's proxy ports of an account set
//     up with it, through setup.Run: the same plan code and the same record) and
//     "events" (recent drops of one account, package events).
//
// Security model. The transport (the named pipe on Windows) identifies the caller
// from the operating system (its token), never from the request; Handle checks the
// caller per request: SYSTEM and members of Administrators may do everything, the
// SIDs configured in config.toml [service] callers may ask for "status" and
// "set-proxy-ports", nobody else anything. Nothing a request can say widens the
// access of an account beyond its record: set-proxy-ports is refused for an account
// without a record or set up with another profile than strict, it needs at least
// one port (an empty list would open all of loopback, which only an elevated setup
// may choose), and the plan it installs is the recorded plan with only the proxy
// ports replaced (the profile, user-match shape and policy-file rules come from the
// record). Requests are size-limited (MaxRequestSize), decoded strictly (unknown
// fields, trailing data and wrong types are refused), validated before anything
// runs, and time-limited; a malformed request gets an error response.
//
// The poll reads each account's planned objects back by key (reconcile.CheckLive), so
// its cost does not grow with the host's other filters; the status request runs the
// full reconcile.Verify (every provider's filters, overrides included).
//
// Drop metrics (opt-in: Config.DropMetrics, config.toml [service] drop_metrics, with
// analytics on): the service subscribes to the net events through Config.Events and
// counts each sandbox account's drop in telemetry.MetricDrops per account and rule;
// see drops.go for what is counted, how filter IDs are re-resolved, and why it never
// turns net event collection on.
package service
