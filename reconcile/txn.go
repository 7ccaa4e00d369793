package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// inTransaction runs fn inside one explicit transaction and commits when fn asks for
// it. When fn fails the transaction is aborted — a failed WFP call does not abort it by
// itself, and committing after a failure would apply a partial change set. When fn
// returns commit=false (dry runs, reads, nothing to change) the transaction is aborted.
// A failed commit is followed by an abort, in case the engine left it open. A panic in
// fn (an engine handing back something the code did not expect) aborts the transaction
// before it propagates, so a caller that recovers does not keep a session whose open
// transaction holds BFE's transaction lock and half a change set.
func inTransaction(e wfp.Engine, fn func() (commit bool, err error)) error {
	if err := e.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	finished := false
	defer func() {
		if !finished {
			_ = e.AbortTransaction() // fn panicked; the panic goes on
		}
	}()
	commit, err := fn()
	finished = true
	if err != nil {
		return abortAfter(e, err)
	}
	if !commit {
		if err := e.AbortTransaction(); err != nil {
			return fmt.Errorf("end read-only transaction (abort): %w", err)
		}
		return nil
	}
	if err := e.CommitTransaction(); err != nil {
		return abortAfter(e, fmt.Errorf("commit transaction: %w", err))
	}
	return nil
}

// abortAfter aborts the open transaction after cause, and reports both if the abort
// fails too (FWP_E_NO_TXN_IN_PROGRESS means the engine already ended it: not a failure).
func abortAfter(e wfp.Engine, cause error) error {
	if err := e.AbortTransaction(); err != nil && !errors.Is(err, wfp.ErrNoTxnInProgress) {
		return errors.Join(cause, fmt.Errorf("abort transaction after the failure: %w", err))
	}
	return cause
}

// getProvider returns the provider with key, or nil when there is none.
func getProvider(e wfp.Engine, key wfp.GUID) (*wfp.Provider, error) {
	p, err := e.Provider(key)
	if errors.Is(err, wfp.ErrProviderNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", wfp.ObjectName("provider", key, ""), err)
	}
	return p, nil
}

// getSublayer returns the sublayer with key, or nil when there is none.
func getSublayer(e wfp.Engine, key wfp.GUID) (*wfp.Sublayer, error) {
	s, err := e.Sublayer(key)
	if errors.Is(err, wfp.ErrSublayerNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", wfp.ObjectName("sublayer", key, ""), err)
	}
	return s, nil
}

// getFilter returns the filter with key, or nil when there is none.
func getFilter(e wfp.Engine, key wfp.GUID, name string) (*wfp.Filter, error) {
	f, err := e.Filter(key)
	if errors.Is(err, wfp.ErrFilterNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", wfp.ObjectName("filter", key, name), err)
	}
	return f, nil
}

// listFilters enumerates the filters of provider (all filters when provider is nil).
// An enumeration refused with FWP_E_PROVIDER_NOT_FOUND means the provider has none.
func listFilters(e wfp.Engine, provider *wfp.GUID) ([]*wfp.Filter, error) {
	fs, err := e.Filters(provider)
	if provider != nil && errors.Is(err, wfp.ErrProviderNotFound) {
		return nil, nil
	}
	if err != nil {
		if provider == nil {
			return nil, fmt.Errorf("enumerate all filters: %w", err)
		}
		return nil, fmt.Errorf("enumerate the filters of provider %s: %w", provider, err)
	}
	return fs, nil
}

// listSublayers enumerates the sublayers of provider.
func listSublayers(e wfp.Engine, provider wfp.GUID) ([]*wfp.Sublayer, error) {
	ss, err := e.Sublayers(&provider)
	if errors.Is(err, wfp.ErrProviderNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enumerate the sublayers of provider %s: %w", provider, err)
	}
	return ss, nil
}

// step is one Change together with the object it writes.
type step struct {
	Change
	provider *wfp.Provider
	sublayer *wfp.Sublayer
	filter   *wfp.Filter
}

// apply performs one step. providerKey is wfpsandbox's provider key, used to explain
// FWP_E_IN_USE on deletes.
func (s step) apply(e wfp.Engine, providerKey wfp.GUID) error {
	var err error
	switch {
	case s.Op == OpAdd && s.Kind == KindProvider:
		err = e.AddProvider(s.provider)
	case s.Op == OpAdd && s.Kind == KindSublayer:
		err = e.AddSublayer(s.sublayer)
	case s.Op == OpAdd && s.Kind == KindFilter:
		_, err = e.AddFilter(s.filter)
	case s.Op == OpDelete && s.Kind == KindProvider:
		err = e.DeleteProvider(s.Key)
	case s.Op == OpDelete && s.Kind == KindSublayer:
		err = e.DeleteSublayer(s.Key)
	case s.Op == OpDelete && s.Kind == KindFilter:
		err = e.DeleteFilter(s.Key)
	default:
		return fmt.Errorf("reconcile: internal error: unknown step %s %s", s.Op, s.Kind)
	}
	if err != nil {
		if s.Op == OpDelete {
			err = explainInUse(e, s.Change, providerKey, err)
		}
		return opError(s.Change, err)
	}
	return nil
}

// kindRank orders deletes filters → sublayers → providers and adds the other way.
func kindRank(op Op, k Kind) int {
	r := map[Kind]int{KindFilter: 0, KindSublayer: 1, KindProvider: 2}[k]
	if op == OpAdd {
		return 10 - r
	}
	return r
}

// run orders the steps (all deletes, filters first; then all adds, provider first),
// records them in res and applies them unless opts.DryRun. It reports whether there is
// anything to commit. The caller runs it inside a transaction.
func run(e wfp.Engine, steps []step, providerKey wfp.GUID, opts Options, res *Result) (bool, error) {
	sortSteps(steps)
	log := opts.logger()
	for _, s := range steps {
		res.Changes = append(res.Changes, s.Change)
	}
	if opts.DryRun {
		for _, s := range steps {
			log.Info("would change", "op", s.Op, "kind", s.Kind, "key", s.Key, "name", s.Name, "reason", s.Reason)
		}
		return false, nil
	}
	writes := 0
	for _, s := range steps {
		if err := s.apply(e, providerKey); err != nil {
			return false, err
		}
		writes++
		log.Info("changed", "op", s.Op, "kind", s.Kind, "key", s.Key, "name", s.Name, "reason", s.Reason)
	}
	res.Writes = writes
	return writes > 0, nil
}

// sortSteps is a stable sort by kindRank: within one rank the caller's order (the
// plan's order for filters) is kept.
func sortSteps(steps []step) {
	slices.SortStableFunc(steps, func(a, b step) int {
		return cmp.Compare(kindRank(a.Op, a.Kind), kindRank(b.Op, b.Kind))
	})
}
