package events

import "github.com/wfpsandbox/wfpsandbox/wfp"

// The engine-level net event types live in package wfp, so that the Windows engine
// (wfp/winengine) can produce them without importing this package; these are their
// names in the decoding code.
type (
	// Source is a net event log: the Windows engine or a fake.
	Source = wfp.NetEventSource
	// Raw is one net event as the engine returned it (see wfp.NetEvent).
	Raw = wfp.NetEvent
	// RawDrop is its classifyDrop record.
	RawDrop = wfp.NetEventDrop
)

// typeNames are the FWPM_NET_EVENT_TYPE values (SDK shared/fwpmtypes.h).
var typeNames = []string{
	"IKEEXT_MM_FAILURE", "IKEEXT_QM_FAILURE", "IKEEXT_EM_FAILURE", "CLASSIFY_DROP",
	"IPSEC_KERNEL_DROP", "IPSEC_DOSP_DROP", "CLASSIFY_ALLOW", "CAPABILITY_DROP",
	"CAPABILITY_ALLOW", "CLASSIFY_DROP_MAC", "LPM_PACKET_ARRIVAL",
}
