package winengine

import "time"

// DefaultTxnWaitTimeout is how long a transaction waits for the engine's lock when
// Options.TxnWaitTimeout is zero. WFP's own default is 15 s and INFINITE is allowed;
// wfpsandbox keeps the wait bounded so another tool holding the lock produces
// FWP_E_TIMEOUT, not a hang.
const DefaultTxnWaitTimeout = 10 * time.Second

// Options configures the session Open creates (FWPM_SESSION0).
type Options struct {
	// Name and Description are the session's display data; BFE shows them in
	// 'netsh wfp show state' and in lock-holder diagnostics.
	Name, Description string
	// TxnWaitTimeout bounds the wait for the transaction lock
	// (txnWaitTimeoutInMSec); zero means DefaultTxnWaitTimeout. It is never infinite.
	TxnWaitTimeout time.Duration
	// Dynamic makes the session dynamic (FWPM_SESSION_FLAG_DYNAMIC): every object it
	// adds is deleted when the session ends. wfpsandbox's persistent install needs a
	// non-dynamic session; tests use dynamic ones so that nothing outlives them.
	Dynamic bool
}
