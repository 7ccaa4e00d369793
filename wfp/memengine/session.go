package memengine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// errInvalidHandle is ERROR_INVALID_HANDLE, returned for calls on a closed session.
const errInvalidHandle wfp.Code = 6

// Call identifies one Engine method call on a session, for fault injection: Index counts
// every call on the session from 1, in order; Name is the WFP function the method mirrors
// (for example "FwpmFilterAdd0", "FwpmTransactionCommit0", "FwpmEngineClose0").
type Call struct {
	Index int
	Name  string
}

// Stats counts a session's calls by kind. Failed calls are counted too.
type Stats struct {
	Calls   int // every call
	Adds    int // AddProvider, AddSublayer, AddFilter
	Deletes int // DeleteProvider, DeleteSublayer, DeleteFilter
	Gets    int // Provider, Sublayer, Filter, FilterByID
	Enums   int // Providers, Sublayers, Filters
	Txns    int // BeginTransaction, CommitTransaction, AbortTransaction
	Failed  int // calls that returned an error
}

// Writes is the number of calls that could change the engine: Adds + Deletes.
func (s Stats) Writes() int { return s.Adds + s.Deletes }

// Session is a session with a BFE, implementing wfp.Engine. It is safe for concurrent use,
// but like a WFP session handle it has one transaction at a time.
type Session struct {
	bfe     *BFE
	gen     uint64
	mu      sync.Mutex
	timeout time.Duration
	closed  bool
	txn     *state   // the open explicit transaction's copy, or nil
	txnRO   bool     // txn is read-only (BeginReadTransaction): writes fail, commit applies nothing
	hold    *txnHold // the transaction lock while txn is open
	fault   func(Call) error
	stats   Stats
	subs    []*changeSub // SubscribeChanges of this session, not yet ended
}

var _ wfp.Engine = (*Session)(nil)

// BFE returns the engine this session talks to.
func (s *Session) BFE() *BFE { return s.bfe }

// SetTxnWaitTimeout sets how long BeginTransaction (and implicit write transactions) wait
// for the transaction lock before failing with FWP_E_TIMEOUT (FWPM_SESSION0.txnWaitTimeoutInMSec).
// As in WFP, zero means the default (DefaultTxnWaitTimeout), not "do not wait".
func (s *Session) SetTxnWaitTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = DefaultTxnWaitTimeout
	}
	s.timeout = d
}

// InjectFault installs f, called before every later Engine call on this session; a non-nil
// result makes that call fail with it, before any side effect. A wfp.Code result is
// wrapped in a *wfp.CallError naming the call. f == nil removes the hook.
func (s *Session) InjectFault(f func(Call) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Stats returns the session's call counts so far.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// enter counts a call and refuses it when the session is closed or dead or a fault is
// injected. The caller holds s.mu.
func (s *Session) enter(name string, counter *int) error {
	s.stats.Calls++
	if counter != nil {
		*counter++
	}
	if s.fault != nil {
		if err := s.fault(Call{Index: s.stats.Calls, Name: name}); err != nil {
			var c wfp.Code
			if errors.As(err, &c) && err == error(c) {
				err = &wfp.CallError{Call: name, Code: c}
			}
			return err
		}
	}
	if s.closed {
		return &wfp.CallError{Call: name, Code: errInvalidHandle}
	}
	if s.bfe.generation() != s.gen {
		return &wfp.CallError{Call: name, Code: wfp.ErrSessionAborted}
	}
	return nil
}

// done counts a failure and returns err unchanged.
func (s *Session) done(err error) error {
	if err != nil {
		s.stats.Failed++
	}
	return err
}

// BeginTransaction implements wfp.Engine (FwpmTransactionBegin0).
func (s *Session) BeginTransaction() error { return s.begin(false) }

func (s *Session) begin(readOnly bool) error {
	const call = "FwpmTransactionBegin0"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Txns); err != nil {
		return s.done(err)
	}
	if s.txn != nil {
		return s.done(fail(call, "", wfp.ErrTxnInProgress))
	}
	hold, code, err := s.bfe.acquire(s.gen, s.timeout, false)
	if err != nil {
		return s.done(fmt.Errorf("%s: %w", call, err))
	}
	if code != 0 {
		return s.done(fail(call, "", code))
	}
	var st *state
	if readOnly {
		// Nothing is written in a read-only transaction: a view of the committed state.
		st, err = s.bfe.view()
	} else {
		st, err = s.bfe.loadTxn(hold)
	}
	if err != nil {
		hold.release()
		return s.done(fmt.Errorf("%s: %w", call, err))
	}
	s.txn, s.hold, s.txnRO = st, hold, readOnly
	return nil
}

// CommitTransaction implements wfp.Engine (FwpmTransactionCommit0): all of the
// transaction's changes become visible at once, or none do. When writing the state file
// fails, the transaction is discarded and the error names the file.
func (s *Session) CommitTransaction() error {
	const call = "FwpmTransactionCommit0"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Txns); err != nil {
		return s.done(err)
	}
	if s.txn == nil {
		return s.done(fail(call, "", wfp.ErrNoTxnInProgress))
	}
	var err error
	// Read-only, or deferred (nothing was written): the state stays as it is.
	if !s.txnRO && !s.hold.deferred {
		err = s.bfe.store(s.txn, s)
	}
	s.endTxn()
	if err != nil {
		return s.done(fmt.Errorf("%s: %w", call, err))
	}
	return nil
}

// AbortTransaction implements wfp.Engine (FwpmTransactionAbort0).
func (s *Session) AbortTransaction() error {
	const call = "FwpmTransactionAbort0"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Txns); err != nil {
		return s.done(err)
	}
	if s.txn == nil {
		return s.done(fail(call, "", wfp.ErrNoTxnInProgress))
	}
	s.endTxn()
	return nil
}

func (s *Session) endTxn() {
	s.hold.release()
	s.txn, s.hold, s.txnRO = nil, nil, false
}

// write runs op on the explicit transaction's state, or in an implicit transaction.
func (s *Session) write(call string, op func(*state) error) error {
	if s.txn != nil {
		if s.txnRO {
			return fail(call, "", wfp.ErrIncompatibleTxn)
		}
		if s.hold.deferred {
			code, err := s.bfe.lockDeferred(s.hold, s.timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", call, err)
			}
			if code != 0 {
				return fail(call, "", code)
			}
		}
		return op(s.txn)
	}
	hold, code, err := s.bfe.acquire(s.gen, s.timeout, true)
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if code != 0 {
		return fail(call, "", code)
	}
	defer hold.release()
	st, err := s.bfe.load()
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	if err := op(st); err != nil {
		return err
	}
	if err := s.bfe.store(st, s); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	return nil
}

// read runs op on the transaction's state or, outside one, on the committed state.
func (s *Session) read(call string, op func(*state) error) error {
	if s.txn != nil {
		return op(s.txn)
	}
	st, err := s.bfe.view()
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	return op(st)
}

// AddProvider implements wfp.Engine (FwpmProviderAdd0).
func (s *Session) AddProvider(p *wfp.Provider) error {
	const call = "FwpmProviderAdd0"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Adds); err != nil {
		return s.done(err)
	}
	if err := checkObjectSD(call, wfp.ObjectName("provider", p.Key, p.Name), p.SecurityDescriptor); err != nil {
		return s.done(err)
	}
	return s.done(s.write(call, func(st *state) error { return st.addProvider(p) }))
}

// AddSublayer implements wfp.Engine (FwpmSubLayerAdd0).
func (s *Session) AddSublayer(sl *wfp.Sublayer) error {
	const call = "FwpmSubLayerAdd0"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Adds); err != nil {
		return s.done(err)
	}
	if err := checkObjectSD(call, wfp.ObjectName("sublayer", sl.Key, sl.Name), sl.SecurityDescriptor); err != nil {
		return s.done(err)
	}
	return s.done(s.write(call, func(st *state) error { return st.addSublayer(sl) }))
}

// AddFilter implements wfp.Engine (FwpmFilterAdd0) and returns the new filter's ID.
func (s *Session) AddFilter(f *wfp.Filter) (uint64, error) {
	const call = "FwpmFilterAdd0"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Adds); err != nil {
		return 0, s.done(err)
	}
	if err := checkObjectSD(call, wfp.ObjectName("filter", f.Key, f.Name), f.SecurityDescriptor); err != nil {
		return 0, s.done(err)
	}
	var id uint64
	err := s.write(call, func(st *state) (err error) {
		id, err = st.addFilter(f)
		return err
	})
	if err != nil {
		return 0, s.done(err)
	}
	return id, nil
}

// DeleteProvider implements wfp.Engine (FwpmProviderDeleteByKey0).
func (s *Session) DeleteProvider(key wfp.GUID) error {
	return s.del("FwpmProviderDeleteByKey0", func(st *state) error { return st.deleteProvider(key) })
}

// DeleteSublayer implements wfp.Engine (FwpmSubLayerDeleteByKey0).
func (s *Session) DeleteSublayer(key wfp.GUID) error {
	return s.del("FwpmSubLayerDeleteByKey0", func(st *state) error { return st.deleteSublayer(key) })
}

// DeleteFilter implements wfp.Engine (FwpmFilterDeleteByKey0).
func (s *Session) DeleteFilter(key wfp.GUID) error {
	return s.del("FwpmFilterDeleteByKey0", func(st *state) error { return st.deleteFilter(key) })
}

func (s *Session) del(call string, op func(*state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Deletes); err != nil {
		return s.done(err)
	}
	return s.done(s.write(call, op))
}

// get runs a lookup as a Get call.
func (s *Session) get(call string, op func(*state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Gets); err != nil {
		return s.done(err)
	}
	return s.done(s.read(call, op))
}

// getByKey reads one object by key from the state's map for its kind, as a deep copy,
// or fails with the kind's not-found code.
func getByKey[T interface{ Clone() T }](s *Session, call, kind string, key wfp.GUID, objects func(*state) map[wfp.GUID]T, notFound wfp.Code) (out T, err error) {
	err = s.get(call, func(st *state) error {
		if x, ok := objects(st)[key]; ok {
			out = x.Clone()
			clearSD(any(out))
			return nil
		}
		return fail(call, wfp.ObjectName(kind, key, ""), notFound)
	})
	return out, err
}

// Provider implements wfp.Engine (FwpmProviderGetByKey0).
func (s *Session) Provider(key wfp.GUID) (*wfp.Provider, error) {
	return getByKey(s, "FwpmProviderGetByKey0", "provider", key,
		func(st *state) map[wfp.GUID]*wfp.Provider { return st.providers }, wfp.ErrProviderNotFound)
}

// Sublayer implements wfp.Engine (FwpmSubLayerGetByKey0).
func (s *Session) Sublayer(key wfp.GUID) (*wfp.Sublayer, error) {
	return getByKey(s, "FwpmSubLayerGetByKey0", "sublayer", key,
		func(st *state) map[wfp.GUID]*wfp.Sublayer { return st.sublayers }, wfp.ErrSublayerNotFound)
}

// Filter implements wfp.Engine (FwpmFilterGetByKey0).
func (s *Session) Filter(key wfp.GUID) (*wfp.Filter, error) {
	return getByKey(s, "FwpmFilterGetByKey0", "filter", key,
		func(st *state) map[wfp.GUID]*wfp.Filter { return st.filters }, wfp.ErrFilterNotFound)
}

// FilterByID implements wfp.Engine (FwpmFilterGetById0).
func (s *Session) FilterByID(id uint64) (f *wfp.Filter, err error) {
	const call = "FwpmFilterGetById0"
	err = s.get(call, func(st *state) error {
		for _, x := range st.filters {
			if x.ID == id {
				f = x.Clone()
				f.SecurityDescriptor = nil
				return nil
			}
		}
		return fail(call, fmt.Sprintf("filter ID %d", id), wfp.ErrFilterNotFound)
	})
	return f, err
}

// enum runs an enumeration; a non-nil provider must exist (see the package doc).
func (s *Session) enum(call string, provider *wfp.GUID, op func(*state)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, &s.stats.Enums); err != nil {
		return s.done(err)
	}
	return s.done(s.read(call, func(st *state) error {
		if provider != nil {
			if _, ok := st.providers[*provider]; !ok && !builtinProvider(*provider) {
				return fail(call, wfp.ObjectName("provider", *provider, ""), wfp.ErrProviderNotFound)
			}
		}
		op(st)
		return nil
	}))
}

// Providers implements wfp.Engine (FwpmProviderEnum0), sorted by key.
func (s *Session) Providers() (out []*wfp.Provider, err error) {
	err = s.enum("FwpmProviderEnum0", nil, func(st *state) { out = st.sortedProviders() })
	for _, p := range out {
		p.SecurityDescriptor = nil
	}
	return out, err
}

// Sublayers implements wfp.Engine (FwpmSubLayerEnum0), sorted by key.
func (s *Session) Sublayers(provider *wfp.GUID) (out []*wfp.Sublayer, err error) {
	err = s.enum("FwpmSubLayerEnum0", provider, func(st *state) { out = st.sortedSublayers(provider) })
	for _, x := range out {
		x.SecurityDescriptor = nil
	}
	return out, err
}

// Filters implements wfp.Engine (FwpmFilterEnum0), sorted by ID; with a non-nil provider
// only that provider's filters.
func (s *Session) Filters(provider *wfp.GUID) (out []*wfp.Filter, err error) {
	err = s.enum("FwpmFilterEnum0", provider, func(st *state) { out = st.sortedFilters(provider) })
	for _, f := range out {
		f.SecurityDescriptor = nil
	}
	return out, err
}

// Close implements wfp.Engine (FwpmEngineClose0): an open transaction is aborted; later
// calls fail with ERROR_INVALID_HANDLE.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("FwpmEngineClose0", nil); err != nil {
		if c, ok := wfp.CodeOf(err); !ok || c != wfp.ErrSessionAborted {
			return s.done(err)
		}
		// Closing a dead session is what WFP asks for ("The session handle needs to be
		// closed … even though it is no longer valid").
	}
	if s.txn != nil {
		s.endTxn()
	}
	s.endSubs()
	s.closed = true
	return nil
}
