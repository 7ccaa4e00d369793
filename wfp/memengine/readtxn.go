package memengine

import (
	"bytes"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Read-only transactions (FwpmTransactionBegin0 with FWPM_TXN_READ_ONLY) and reads
// whose cost does not grow with the number of objects.
//
// A read-only transaction, as WFP documents it, sees the engine's objects and refuses
// every Add and Delete with FWP_E_INCOMPATIBLE_TXN (FwpmFilterAdd0, FwpmSubLayerAdd0,
// FwpmProviderAdd0, Fwpm*DeleteByKey0: "This function cannot be called from within a
// read-only transaction. It will fail with FWP_E_INCOMPATIBLE_TXN."). Whether a
// read-only transaction takes BFE's transaction lock, and so waits for (and makes wait)
// a write transaction, is not documented; this engine takes it, like a read-write one,
// which is the conservative model (a reader that times out is reported, never a reader
// that sees half a commit).
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmtransactionbegin0

// BeginReadTransaction implements wfp.Engine (FwpmTransactionBegin0 with
// FWPM_TXN_READ_ONLY). Inside it Add and Delete fail with FWP_E_INCOMPATIBLE_TXN and
// CommitTransaction applies nothing.
func (s *Session) BeginReadTransaction() error { return s.begin(true) }

// view returns the committed state for reading only: the callers must not change it.
// For an in-memory BFE it is the committed state itself, not a copy — store replaces
// b.committed with a new state and never changes a stored one, so a reader keeps a
// consistent snapshot at no cost, and a Get by key is one map lookup whatever the
// number of objects. A file-backed BFE has to read (and parse) its file.
func (b *BFE) view() (*state, error) {
	b.mu.Lock()
	if b.file == nil {
		defer b.mu.Unlock()
		return b.committed, nil
	}
	f := b.file
	b.mu.Unlock()
	return f.read()
}

// checkObjectSD validates the sd argument of Fwpm*Add0: empty (NULL: "the system assigns
// a default security descriptor") or a valid self-relative security descriptor. An
// invalid one fails with ERROR_INVALID_SECURITY_DESCR, FwpmFilterAdd0's documented code
// ("The security descriptor structure is invalid"). Like every failed Add, nothing is
// added.
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilteradd0
func checkObjectSD(call, object string, sd []byte) error {
	if len(sd) == 0 {
		return nil
	}
	if account.ValidateSelfRelativeSD(sd) != nil {
		return fail(call, object, wfp.ErrInvalidSecurityDescr)
	}
	return nil
}

// clearSD drops the security descriptor from an object about to be returned by a Get
// or an enumeration: FWPM_PROVIDER0, FWPM_SUBLAYER0 and FWPM_FILTER0 have no member
// for it, so the real engine's Fwpm*GetByKey0 and Fwpm*Enum0 cannot return it, and
// code that works here must not come to depend on it. SecurityDescriptor reads it.
func clearSD(x any) {
	switch o := x.(type) {
	case *wfp.Provider:
		o.SecurityDescriptor = nil
	case *wfp.Sublayer:
		o.SecurityDescriptor = nil
	case *wfp.Filter:
		o.SecurityDescriptor = nil
	}
}

// SecurityDescriptor returns the sd argument the object of kind ("provider",
// "sublayer" or "filter") with key was added with — nil when it was added with NULL —
// or the kind's not-found error. It stands in for Fwpm*GetSecurityInfoByKey0, with a
// difference: this engine models no default security and no inheritance, so it returns
// exactly the bytes given to Add, where BFE would return the descriptor it built from
// them (DACL for a New Object). It is not part of wfp.Engine; tests use it to see what
// setup asked for.
func (s *Session) SecurityDescriptor(kind string, key wfp.GUID) ([]byte, error) {
	const call = "Fwpm*GetSecurityInfoByKey0"
	var out []byte
	err := s.get(call, func(st *state) error {
		var sd []byte
		var ok bool
		var notFound wfp.Code
		switch kind {
		case "provider":
			var p *wfp.Provider
			p, ok = st.providers[key]
			if ok {
				sd = p.SecurityDescriptor
			}
			notFound = wfp.ErrProviderNotFound
		case "sublayer":
			var x *wfp.Sublayer
			x, ok = st.sublayers[key]
			if ok {
				sd = x.SecurityDescriptor
			}
			notFound = wfp.ErrSublayerNotFound
		case "filter":
			var f *wfp.Filter
			f, ok = st.filters[key]
			if ok {
				sd = f.SecurityDescriptor
			}
			notFound = wfp.ErrFilterNotFound
		default:
			return fail(call, kind, wfp.ErrInvalidParameterWin32)
		}
		if !ok {
			return fail(call, wfp.ObjectName(kind, key, ""), notFound)
		}
		out = bytes.Clone(sd)
		return nil
	})
	return out, err
}

var _ wfp.SecuritySetter = (*Session)(nil)

// SetDACL implements wfp.SecuritySetter (Fwpm*SetSecurityInfoByKey0 with
// DACL_SECURITY_INFORMATION). Inside an explicit transaction it fails with
// FWP_E_TXN_IN_PROGRESS (WFP documents that the call is not allowed there, not which
// code it returns). This engine keeps the whole descriptor it is given in place of the
// object's (wfpsandbox's descriptors carry only a DACL) and models no inheritance.
func (s *Session) SetDACL(kind wfp.ObjectKind, key wfp.GUID, sd []byte) error {
	call := map[wfp.ObjectKind]string{
		wfp.ObjectProvider: "FwpmProviderSetSecurityInfoByKey0",
		wfp.ObjectSublayer: "FwpmSubLayerSetSecurityInfoByKey0",
		wfp.ObjectFilter:   "FwpmFilterSetSecurityInfoByKey0",
	}[kind]
	if call == "" {
		return fail("Fwpm*SetSecurityInfoByKey0", string(kind), wfp.ErrInvalidParameterWin32)
	}
	object := wfp.ObjectName(string(kind), key, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(call, nil); err != nil {
		return s.done(err)
	}
	if s.txn != nil {
		return s.done(fail(call, object, wfp.ErrTxnInProgress))
	}
	if len(sd) == 0 {
		return s.done(fail(call, object, wfp.ErrInvalidSecurityDescr))
	}
	if err := checkObjectSD(call, object, sd); err != nil {
		return s.done(err)
	}
	return s.done(s.write(call, func(st *state) error {
		c := bytes.Clone(sd)
		switch kind {
		case wfp.ObjectProvider:
			if p, ok := st.providers[key]; ok {
				p.SecurityDescriptor = c
				return nil
			}
			return fail(call, object, wfp.ErrProviderNotFound)
		case wfp.ObjectSublayer:
			if x, ok := st.sublayers[key]; ok {
				x.SecurityDescriptor = c
				return nil
			}
			return fail(call, object, wfp.ErrSublayerNotFound)
		default:
			if f, ok := st.filters[key]; ok {
				f.SecurityDescriptor = c
				return nil
			}
			return fail(call, object, wfp.ErrFilterNotFound)
		}
	}))
}
