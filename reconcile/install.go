package reconcile

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Install makes e hold plan, in one transaction: it begins the transaction, reads the
// plan's provider and sublayer by key and enumerates the provider's filters inside it,
// computes the change set, applies it and commits. On any error it aborts — nothing
// is written — and returns an error that names what was being done and wraps the
// engine's (errors.Is finds the wfp.Code; a *ForeignError wraps ErrForeign).
//
// The change set:
//   - a missing provider, sublayer or filter is added;
//   - a filter that differs from the plan (compared semantically: output-only flag bits
//     ignored, conditions order-insensitive, values by wfp.Value.Equal, security
//     descriptors by their decoded owner, group, control and ACLs) is deleted and
//     added again; identical filters cost nothing, so a converged host costs zero writes;
//   - a filter of the provider tagged for the plan's account whose key the plan does
//     not have (an older rule, another profile) is deleted;
//   - filters of other accounts, and filters without an ownership tag, are not touched;
//   - a drifted provider or sublayer is replaced. Deleting it requires deleting every
//     filter that refers to it, so all the provider's filters are deleted, the
//     provider and/or sublayer replaced, the plan's filters added and every other
//     filter added back exactly as it was read;
//   - an object of another owner holding one of the plan's keys stops everything with
//     a *ForeignError; it is never overwritten;
//   - layout migration (setup version 1 → 2): every other account whose filters sit in
//     the shared sublayer with an ALE_USER_ID FWP_MATCH_NOT_EQUAL condition is moved to
//     its own sublayer (policy.FromSharedLayout: same keys and rules, no user condition,
//     guard permits added), reason ReasonMigrated; --user-match allow accounts stay;
//   - the shared sublayer, when it is not the plan's, and the account's own sublayer,
//     when the plan is --user-match allow, are deleted once no filter is left in them
//     (a filter of another provider keeps them, with a warning).
//
// When there is nothing to change the transaction is aborted rather than committed.
// With opts.DryRun the change set is computed inside the transaction, which is then
// aborted; Result.Writes is 0.
func Install(e wfp.Engine, plan *policy.Plan, opts Options) (*Result, error) {
	if err := checkPlan(plan); err != nil {
		return nil, err
	}
	res := &Result{DryRun: opts.DryRun, Changes: []Change{}}
	err := inTransaction(e, func() (bool, error) {
		cur, err := readCurrent(e, plan)
		if err != nil {
			return false, err
		}
		steps, err := installSteps(cur, plan)
		if err != nil {
			return false, err
		}
		for _, why := range cur.skipped {
			opts.logger().Warn("an account of the shared-sublayer layout is left as it is", "why", why)
		}
		if steps, err = dropEmptySublayers(e, cur, plan, steps, opts.logger().Warn); err != nil {
			return false, err
		}
		return run(e, steps, plan.Provider.Key, opts, res)
	})
	if err != nil {
		return nil, fmt.Errorf("install wfpsandbox policy for %s: %w", plan.SID, err)
	}
	opts.logger().Info("install done", "sid", plan.SID, "changes", len(res.Changes), "writes", res.Writes, "dryRun", res.DryRun)
	return res, nil
}
