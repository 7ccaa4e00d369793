package memengine

import (
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
