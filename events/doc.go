// Package events answers "which filter blocked this": it turns entries of the WFP net
// event log (FwpmNetEventEnum*, FwpmNetEventSubscribe*) into events that name the time,
// the account, the application, the protocol, the addresses and ports, the layer and
// the filter that dropped the connection — for wfpsandbox's own filters, the rule and the
// sandbox account it was installed for; for other providers' filters, the provider.
//
// The package is pure Go and builds everywhere. The engine side — reading the C
// structures fwpuclnt.dll returns — lives in wfp/winengine, which hands over Raw values
// through the Source interface; tests use fakes. Nothing here trusts a Raw blindly: a
// field the header flags do not mark as set, a missing classify-drop record, an empty or
// odd-sized application blob, an invalid SID or an unknown layer becomes a note on the
// event ("could not decode …"), never a crash and never a guess.
package events
