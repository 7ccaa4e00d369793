// Package setup is wfpsandbox's full setup: what a sandbox's elevated helper calls
// (Run), what its unelevated start-up path calls to decide whether it must (Check),
// and the state they share — a versioned record per account in the state directory
// (package state).
//
// A run has three steps, each recorded with its outcome:
//
//  1. account: resolve the sandbox account's name or SID (fatal: nothing else makes
//     sense without it);
//  2. wfp: build the policy plan and install it with reconcile.Install (NOT fatal: a
//     WFP failure — engine unavailable, access denied, timeout, any WFP error — is
//     logged, put in the report and the record, counted as a metric, and retried by
//     the next run);
//  3. record: write the account's record, accounts/<SID>.json, atomically (temp
//     file, fsync, rename, fsync of the directory): the account, everything that
//     chooses its plan (a policy file's rules included) and each step's outcome.
//
// A lock file in the state directory (an OS lock: flock on Unix, LockFileEx on
// Windows) makes concurrent runs take turns. Logs go to a slog.Logger the caller
// provides; NewLogger builds the standard one (stderr text, a JSON-lines log file
// with size-capped rotation, and on Windows the Application Event Log with the
// event IDs of events.go). Metrics go through package telemetry when analytics are
// on. The package parses no flags: the CLI maps its flags onto Options.
package setup
