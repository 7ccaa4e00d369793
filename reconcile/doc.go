// Package reconcile makes a filter engine hold exactly what a policy.Plan says, and
// reports how far it is from that.
//
// Install reads what is installed and applies the difference in ONE transaction:
// read inside it, compute the change set, apply it, commit — and abort on any error,
// because a failed WFP call does not abort a transaction by itself (wfp-facts §5). A
// converged host costs zero writes; one filter changed by someone else costs one
// delete and one add. Verify reports the same difference without writing. Uninstall
// removes one account's filters, or everything of the wfpsandbox provider (orphans of
// older versions included), with the account's own sublayer, and every sublayer and the
// provider once no filter is left.
//
// Ownership. An object is wfpsandbox's when it carries the plan's keys and, for
// filters and sublayers, the wfpsandbox provider key. Every filter's providerData is an
// ownership tag (policy.Owner) naming the account and the rule (and an account's own
// sublayer carries one with rule policy.SublayerRule), so several sandbox accounts
// coexist under one provider, each --user-match deny account in its own sublayer and
// the --user-match allow accounts in the shared one: reconciling one account never
// touches another account's filters, except that replacing a drifted provider or
// sublayer must delete every filter that refers to it (FWP_E_IN_USE) — those filters
// are then re-added exactly as they were read, in the same transaction — and except the
// layout migration: accounts of setup version 1's layout (ALE_USER_ID FWP_MATCH_NOT_EQUAL
// in the shared sublayer) are moved to their own sublayers by whichever install runs
// first (see Install, ReasonMigrated).
//
// Foreign objects. An object of another owner that holds one of wfpsandbox's keys (a
// filter with a plan key but another provider, a sublayer with our key owned by another
// provider, a provider with our key that names a service or carries data wfpsandbox
// never writes) is never overwritten: Install fails with a *ForeignError naming it and
// writes nothing.
//
// Order. Deletes always run filters → sublayers → providers; adds run provider →
// sublayer → filters. Result.Changes lists the changes in the order they are applied.
package reconcile
