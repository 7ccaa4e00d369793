// Package policy says what wfpsandbox installs: the provider, the sublayer (the
// account's own under --user-match deny, the shared one under allow) and the filters for
// one sandbox account, built from a profile (baseline or strict) and a user-match shape,
// with stable keys, an ownership tag on every filter and on an account's sublayer, and
// validation against WFP's per-layer field table and against unscoped filters (an
// unconditioned filter only below its account's guard permit, in its own sublayer).
//
// A Plan is pure data. Nothing here talks to an engine: reconcile compares a Plan with
// what an engine holds, and the CLI prints it.
package policy
