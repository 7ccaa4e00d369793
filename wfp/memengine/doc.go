// Package memengine is an in-memory wfp.Engine that refuses what the Windows Filtering
// Platform documents it refuses, so that code above it (reconcile, setup, the CLI) can be
// tested on any OS against WFP's contract rather than against a permissive fake.
//
// # Shape
//
// A BFE is the simulated Base Filtering Engine: the committed providers, sublayers and
// filters plus the transaction lock every session shares. BFE.Open returns a Session (a
// non-dynamic session, like FwpmEngineOpen0 with flags 0) implementing wfp.Engine.
// BFE.Restart simulates a BFE stop/start; BFE.Snapshot returns a deterministic dump of the
// committed state. OpenFile backs a BFE by a JSON file for the CLI's --engine memory:PATH;
// RestartFile drops the non-persistent objects from such a file.
//
// # Contract enforced (wfp-facts.md §1, §4, §5, §6; the doc sentences are cited by contract_test.go)
//
//   - FWP_E_ALREADY_EXISTS for a key in use; a zero key is replaced by a generated one
//     (FWPM_FILTER0 and friends: "If the GUID is initialized to zero … BFE will generate one").
//   - FWP_E_PROVIDER_NOT_FOUND, FWP_E_SUBLAYER_NOT_FOUND, FWP_E_FILTER_NOT_FOUND for absent
//     objects on get, delete and reference; FWP_E_LAYER_NOT_FOUND for a layer GUID fwpmu.h
//     does not define. A zero sublayer key on a filter means FWPM_SUBLAYER_UNIVERSAL. The
//     SDK's built-in sublayers and providers (fwpmu.h names) count as existing, built-in
//     objects: they can be referred to by anything and not deleted (FWP_E_BUILTIN_OBJECT),
//     and they are not enumerated.
//   - FWP_E_IN_USE when deleting a provider still referred to by a sublayer or filter, or a
//     sublayer still referred to by a filter. Deletes never cascade.
//   - FWP_E_LIFETIME_MISMATCH when a persistent object refers to a non-persistent object, or
//     to a persistent object of another provider (a persistent filter whose ProviderKey
//     differs from its persistent sublayer's). A provider-less persistent filter in a
//     provider's sublayer is accepted: the docs do not say which way WFP goes.
//   - FWP_E_NULL_DISPLAY_NAME for an empty Name; FWP_E_INVALID_FLAGS for
//     BOOTTIME|PERSISTENT; FWP_E_INVALID_WEIGHT for a weight that is not FWP_EMPTY,
//     FWP_UINT8 ≤ 15 or FWP_UINT64; FWP_E_INVALID_ACTION_TYPE for an action other than block,
//     permit or a callout; FWP_E_CALLOUT_NOT_FOUND for callout actions (no callouts exist here).
//   - Conditions: FWP_E_CONDITION_NOT_FOUND for a field GUID fwpmu.h does not define or that
//     the layer does not offer (wfp.FieldAvailable). Evidence: the WFP error page says only
//     "The filter condition does not exist."; one public project reports FwpmFilterAdd0
//     returning it for mistyped condition GUIDs. That a known field at the wrong layer gets
//     the same code is an inference (medium confidence) — the filter engine looks a
//     condition up in the layer's field list, so "not found" is the natural outcome.
//     FWP_E_TYPE_MISMATCH for a value type wfp.FieldValueTypes does not allow (fields of
//     unknown type are not checked); FWP_E_MATCH_TYPE_MISMATCH for a match type the
//     FWP_MATCH_TYPE reference does not allow for the value's data type (checkMatchType:
//     EQUAL any type; GREATER/LESS/…/NOT_EQUAL and RANGE's bounds only sortable types -
//     integers, FWP_BYTE_ARRAY16_TYPE, FWP_BYTE_BLOB_TYPE, FWP_UNICODE_STRING_TYPE; FLAGS_*
//     unsigned integers; EQUAL_CASE_INSENSITIVE strings; PREFIX/NOT_PREFIX blobs and
//     strings; RANGE exactly with a range value), so NOT_EQUAL on a security descriptor is
//     refused; the full table is wfp/testdata/matchtypes.tsv. These checks apply when a
//     filter is added; a state file holding such filters (written before they existed)
//     still loads. FWP_E_INVALID_RANGE for a range with missing, mismatched or reversed
//     bounds; FWP_E_INVALID_NET_MASK for an address mask of
//     the wrong family; FWP_E_OUT_OF_BOUNDS for an integer too large for its type (only
//     possible in Go's representation); ERROR_INVALID_SECURITY_DESCR (0x8007053A) for
//     security-descriptor bytes that account.ValidateSelfRelativeSD rejects.
//   - Transactions: FWP_E_TXN_IN_PROGRESS on a nested begin, FWP_E_NO_TXN_IN_PROGRESS on
//     commit/abort without one. A failed call inside a transaction changes nothing and does
//     not abort it. Commit is all-or-nothing; other sessions see nothing before it. A begin
//     while another session holds the transaction lock waits up to the session's
//     TxnWaitTimeout (default 15 s, WFP's documented default) and then fails with
//     FWP_E_TIMEOUT. Calls outside an explicit transaction run in an implicit one (writes
//     take the lock, so they can time out too; reads see the committed state). Close
//     aborts an open transaction; calls on a closed session fail with ERROR_INVALID_HANDLE.
//     A read-only transaction (BeginReadTransaction, FWPM_TXN_READ_ONLY) takes the lock
//     too (undocumented either way; see readtxn.go) and refuses every Add and Delete
//     with FWP_E_INCOMPATIBLE_TXN.
//   - Security: the sd argument of an Add must be empty or a valid self-relative
//     descriptor (ERROR_INVALID_SECURITY_DESCR otherwise); it is kept with the object and
//     in the state file, never returned by Get or Enum (the FWPM_*0 structures have no
//     member for it), read back by Session.SecurityDescriptor and replaced by SetDACL
//     (wfp.SecuritySetter; FWP_E_TXN_IN_PROGRESS inside a transaction). No access check,
//     default descriptor or inheritance is modelled: every session may read everything.
//   - Restart: non-persistent objects vanish, persistent ones stay; sessions opened before
//     it fail every call with FWP_E_SESSION_ABORTED ("The session has been canceled"). On
//     real Windows a client whose BFE went away more likely sees an RPC status such as
//     RPC_S_SERVER_UNAVAILABLE; FWP_E_SESSION_ABORTED is the documented WFP code for a dead
//     session and is what callers must handle either way. The real BFE also skips, at start,
//     persistent objects whose provider names a service that is not auto-start; that is
//     not modelled (ServiceName is kept but ignored). Close still succeeds on such a
//     session, as the WFP docs ask callers to close it.
//
// # Approximations
//
// Filter IDs are a counter starting at 1 that survives restarts. Enumerations are sorted
// (providers and sublayers by key, filters by ID). EffectiveWeight is the UINT64 weight as
// given; for FWP_UINT8 w it is w<<60 | auto; for FWP_EMPTY it is auto, where auto = (number
// of distinct condition fields, at most 255)<<52. WFP documents only that automatic weights
// lie below 2^60 and are assigned "based on the filter conditions". Real effective weights
// seen in a public `netsh wfp show filters` dump (mysteriumnetwork/node#375) are
// 0x4000008000000000 for FWP_UINT8 4 with one ALE_APP_ID condition and 0x3003070000000000
// for FWP_UINT8 3 with port conditions: the low 60 bits depend on which fields are
// present, not on the filter, so filters with the same fields tie. This formula keeps the
// range, the ties and "more conditions weigh more"; its bit values are not the real ones.
// Enumerating the sublayers or filters of a provider that does not exist fails with
// FWP_E_PROVIDER_NOT_FOUND (one public WFP client handles exactly that code from
// FwpmFilterCreateEnumHandle0; unconfirmed).
//
// # Files
//
// The file (format "wfpsandbox-memengine", version 1) holds the whole committed state as
// JSON: GUIDs as strings, data/match/action types by SDK name, bytes as base64. Every
// successful commit, implicit or explicit, rewrites it atomically: a temporary file in the
// same directory, fsync, rename. A lock file PATH.lock, held with an exclusive OS lock
// (flock, LockFileEx) for the duration of each transaction — from begin to commit or
// abort, or around one implicit write — keeps two processes from losing each other's
// writes; the state is re-read from the file after the lock is taken. Waiting for it obeys
// TxnWaitTimeout. Reads outside a transaction take no lock: they read the last complete
// file (on Windows the writer retries its rename while a reader has the old file open).
// The lock file is never removed (removing it would let two processes hold locks on
// different files), and only a write creates it: reading a host writes nothing, so a
// read-only host can be verified. Until the lock file exists (a host never written), an
// explicit transaction takes it only before its first write, and that write fails if
// another process committed since the transaction began. A commit without writes leaves
// the file as it is. Errors about an unusable existing file wrap ErrCorrupt and name it.
//
// # Change notifications
//
// Sessions of an in-memory BFE implement wfp.ChangeSubscriber: adds and deletes of a
// provider's objects, delivered after commit to every other session's subscription
// (changes.go). A file-backed host refuses (wfp.ErrChangesUnsupported): other processes
// change its file unwatched.
//
// # Tests
//
// Session.InjectFault makes a chosen call fail without side effects; Session.Stats counts
// calls by kind.
package memengine
