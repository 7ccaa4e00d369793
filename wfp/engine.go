package wfp

// Engine is a session with a filter engine: the real Base Filtering Engine through
// fwpuclnt.dll (wfp/winengine, Windows only) or the in-memory contract engine
// (wfp/memengine). Its methods mirror the Fwpm* functions wfpsandbox uses and return
// their status codes as *CallError values wrapping a Code.
//
// The contract, as WFP documents it: at most one explicit transaction per session
// (FWP_E_TXN_IN_PROGRESS, FWP_E_NO_TXN_IN_PROGRESS); a failed call inside a
// transaction does not abort it, so callers must Abort on any error; Commit applies all
// changes or none; a persistent object may not refer to a non-persistent one, nor to a
// persistent object of another provider (FWP_E_LIFETIME_MISMATCH); an object that is
// still referenced cannot be deleted (FWP_E_IN_USE): delete filters, then sublayers,
// then providers.
type Engine interface {
	// BeginTransaction starts a read-write transaction (FwpmTransactionBegin0).
	BeginTransaction() error
	// BeginReadTransaction starts a read-only transaction (FwpmTransactionBegin0 with
	// FWPM_TXN_READ_ONLY, 0x1, fwpmu.h). It needs only FWPM_ACTRL_BEGIN_READ_TXN on the
	// engine (part of FWPM_GENERIC_READ), not BEGIN_WRITE_TXN; Add and Delete calls
	// inside it fail with FWP_E_INCOMPATIBLE_TXN ("This function cannot be called from
	// within a read-only transaction", FwpmFilterAdd0's documentation). End it with
	// AbortTransaction (or CommitTransaction, which applies nothing).
	// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmtransactionbegin0
	BeginReadTransaction() error
	// CommitTransaction commits it (FwpmTransactionCommit0).
	CommitTransaction() error
	// AbortTransaction discards it (FwpmTransactionAbort0).
	AbortTransaction() error

	// AddProvider adds a provider (FwpmProviderAdd0).
	AddProvider(p *Provider) error
	// AddSublayer adds a sublayer (FwpmSubLayerAdd0).
	AddSublayer(s *Sublayer) error
	// AddFilter adds a filter and returns the run-time filter ID (FwpmFilterAdd0).
	AddFilter(f *Filter) (uint64, error)

	// DeleteProvider deletes a provider by key (FwpmProviderDeleteByKey0).
	DeleteProvider(key GUID) error
	// DeleteSublayer deletes a sublayer by key (FwpmSubLayerDeleteByKey0).
	DeleteSublayer(key GUID) error
	// DeleteFilter deletes a filter by key (FwpmFilterDeleteByKey0).
	DeleteFilter(key GUID) error

	// Provider returns a provider by key (FwpmProviderGetByKey0).
	Provider(key GUID) (*Provider, error)
	// Sublayer returns a sublayer by key (FwpmSubLayerGetByKey0).
	Sublayer(key GUID) (*Sublayer, error)
	// Filter returns a filter by key, with ID and EffectiveWeight (FwpmFilterGetByKey0).
	Filter(key GUID) (*Filter, error)
	// FilterByID returns a filter by run-time ID (FwpmFilterGetById0).
	FilterByID(id uint64) (*Filter, error)

	// Providers enumerates all providers (FwpmProviderEnum0).
	Providers() ([]*Provider, error)
	// Sublayers enumerates sublayers; with a non-nil provider only that provider's
	// (FwpmSubLayerEnum0 with a template).
	Sublayers(provider *GUID) ([]*Sublayer, error)
	// Filters enumerates filters; with a non-nil provider only that provider's
	// (FwpmFilterEnum0 with providerKey set and actionMask 0xFFFFFFFF).
	Filters(provider *GUID) ([]*Filter, error)

	// Close ends the session (FwpmEngineClose0); an open transaction is aborted.
	Close() error
}
