package reconcile

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// LiveResult is what CheckLive read: whether the plan's objects are installed as
// planned.
type LiveResult struct {
	// SID is the account the plan is for.
	SID string `json:"sid"`
	// Current is true when the provider, the sublayer and every planned filter are
	// installed as planned (no findings).
	Current bool `json:"current"`
	// Matching and Planned count the plan's filters installed as planned, and all of
	// them.
	Matching int `json:"matching"`
	Planned  int `json:"planned"`
	// Findings are the objects of the plan that are missing, drifted, held by another
	// owner, or disabled, in the order provider, sublayer, filters.
	Findings []Finding `json:"findings"`
	// ReadTransaction is true when the reads ran inside one read-only transaction (a
	// consistent snapshot); false when the engine refused to begin one with
	// ERROR_ACCESS_DENIED — an unelevated caller has no FWPM_ACTRL_BEGIN_READ_TXN under
	// WFP's default engine security — and each object was read on its own.
	ReadTransaction bool `json:"readTransaction"`
}

// CheckLive reads the plan's objects by key — the provider (policy.ProviderKey),
// plan.Sublayer.Key and every plan.Filters[i].Key — and compares them with the plan
// the way Install does. It enumerates nothing, so the number of engine calls is
// 1 + 1 + len(plan.Filters) Gets plus the transaction's begin and abort, whatever else
// the host holds; a caller that may read only wfpsandbox's objects (setup grants
// FWPM_ACTRL_READ on them, account.ObjectSD; "The caller needs FWPM_ACTRL_READ access
// to the filter", FwpmFilterGetByKey0) can make it. It writes nothing.
//
// Unlike Verify it does not look for extra or foreign filters (that needs an
// enumeration of every filter, which an unelevated caller cannot make: enumerations
// return "only objects to which the caller has FWPM_ACTRL_READ",
// https://learn.microsoft.com/windows/win32/fwp/access-control). It answers "are our
// objects in place", which is what ensure needs to decide whether setup must run.
//
// The reads run inside a read-only transaction (FWPM_TXN_READ_ONLY) when the engine
// lets the caller begin one; when it refuses with ERROR_ACCESS_DENIED they run without
// one (LiveResult.ReadTransaction is false): each read is then consistent on its own,
// and a commit between two reads can at worst make one check report a difference that
// the next does not. Any failure to read an object — ERROR_ACCESS_DENIED when the
// object was added without the read grant (an install older than the grant), BFE not
// running — is returned as an error wrapping the engine's *wfp.CallError, never as a
// finding: the policy could not be read, which the caller must say.
func CheckLive(e wfp.Engine, plan *policy.Plan) (*LiveResult, error) {
	if err := checkPlan(plan); err != nil {
		return nil, err
	}
	res := &LiveResult{SID: plan.SID, Planned: len(plan.Filters), Findings: []Finding{}}
	inTxn, err := inReadTransactionIfAllowed(e, func() error { return checkLiveInto(e, plan, res) })
	if err != nil {
		return nil, fmt.Errorf("read the live wfpsandbox policy for %s by key: %w", plan.SID, err)
	}
	res.ReadTransaction = inTxn
	res.Current = len(res.Findings) == 0
	return res, nil
}

func checkLiveInto(e wfp.Engine, plan *policy.Plan, res *LiveResult) error {
	find := func(k Kind, key wfp.GUID, name string, p Problem, format string, args ...any) {
		res.Findings = append(res.Findings, Finding{Kind: k, Key: key, Name: name, Problem: p, Detail: fmt.Sprintf(format, args...)})
	}
	if err := checkParents(e, plan, find); err != nil {
		return err
	}
	for _, want := range plan.Filters {
		got, err := getFilter(e, want.Key, want.Name)
		if err != nil {
			return err
		}
		if checkFilter(got, want, plan.Provider.Key, find) {
			res.Matching++
		}
	}
	return nil
}

// inReadTransaction runs fn inside one read-only transaction (FWPM_TXN_READ_ONLY),
// which it then aborts: a read-only transaction has nothing to commit, and ending it
// with FwpmTransactionAbort0 is what FwpmTransactionBegin0's documentation allows for
// any transaction. fn's error wins over the abort's.
func inReadTransaction(e wfp.Engine, fn func() error) error {
	if err := e.BeginReadTransaction(); err != nil {
		return fmt.Errorf("begin read-only transaction: %w", err)
	}
	return endReadTransaction(e, fn)
}

func endReadTransaction(e wfp.Engine, fn func() error) error {
	finished := false
	defer func() {
		if !finished {
			_ = e.AbortTransaction() // fn panicked; the panic goes on
		}
	}()
	err := fn()
	finished = true
	if err != nil {
		return abortAfter(e, err)
	}
	if err := e.AbortTransaction(); err != nil {
		return fmt.Errorf("end read-only transaction (abort): %w", err)
	}
	return nil
}

// inReadTransactionIfAllowed is inReadTransaction, except that when the engine refuses
// the transaction with ERROR_ACCESS_DENIED (no FWPM_ACTRL_BEGIN_READ_TXN on the engine)
// fn runs without an explicit transaction; inTxn says which happened.
func inReadTransactionIfAllowed(e wfp.Engine, fn func() error) (inTxn bool, err error) {
	if err := e.BeginReadTransaction(); err != nil {
		if wfp.IsAccessDenied(err) {
			return false, fn()
		}
		return false, fmt.Errorf("begin read-only transaction: %w", err)
	}
	return true, endReadTransaction(e, fn)
}
