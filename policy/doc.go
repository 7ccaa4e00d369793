// Package policy says what wfpsandbox installs: the provider, the sublayer and the
// filters for one sandbox account, built from a profile (baseline or strict) and a
// user-match shape, with stable keys, an ownership tag on every filter and validation
// against WFP's per-layer field table.
//
// A Plan is pure data. Nothing here talks to an engine: reconcile compares a Plan with
// what an engine holds, and the CLI prints it.
package policy
