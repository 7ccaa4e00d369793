package setup

import (
	"fmt"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// Check reads the live policy by key and says plainly, in one word, why it could not.
func TestCheckLiveReason(t *testing.T) {
	h := newHost(t)
	h.run(h.opts(sidA))

	c := h.check(CheckOptions{Open: h.open})
	if !c.Live || c.LiveReason != "" || c.LiveCheck == nil || !c.LiveCheck.Current || !c.Current() {
		t.Fatalf("readable host: live %v reason %q check %+v reasons %v", c.Live, c.LiveReason, c.LiveCheck, c.Reasons)
	}

	for _, tc := range []struct {
		name  string
		open  Opener
		fault func(memengine.Call) error
		want  string
	}{
		{name: "no engine", want: LiveNoEngine},
		{name: "session refused", open: func() (wfp.Engine, error) {
			return nil, &wfp.CallError{Call: "FwpmEngineOpen0", Code: wfp.ErrAccessDenied}
		}, want: LiveAccessDenied},
		{name: "BFE down", open: func() (wfp.Engine, error) {
			return nil, fmt.Errorf("%w: %w", wfp.ErrUnavailable, &wfp.CallError{Call: "FwpmEngineOpen0", Code: wfp.ErrEPTNotRegistered})
		}, want: LiveUnavailable},
		// An install older than the read grant: the session opens, the transaction is
		// refused (no BEGIN_READ_TXN) and so is the read of our objects.
		{name: "objects not readable", open: h.open, fault: func(c memengine.Call) error {
			switch c.Name {
			case "FwpmTransactionBegin0", "FwpmProviderGetByKey0":
				return wfp.ErrAccessDenied
			}
			return nil
		}, want: LiveAccessDenied},
		{name: "timeout", open: h.open, fault: func(c memengine.Call) error {
			if c.Name == "FwpmTransactionBegin0" {
				return wfp.ErrTimeout
			}
			return nil
		}, want: LiveReadFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.fault = tc.fault
			defer func() { h.fault = nil }()
			c := h.check(CheckOptions{Open: tc.open})
			if c.Live || c.LiveReason != tc.want || c.LiveError == "" {
				t.Fatalf("live %v reason %q (%s), want not live, %q", c.Live, c.LiveReason, c.LiveError, tc.want)
			}
			if !c.Current() {
				t.Fatalf("reasons %v: an unreadable policy alone must not make setup run (ensure --require-live decides)", c.Reasons)
			}
		})
	}
}

// The check a caller without BEGIN_READ_TXN makes still sees a deleted filter.
func TestCheckLiveWithoutTransactionSeesDrift(t *testing.T) {
	h := newHost(t)
	h.run(h.opts(sidA))
	plan, err := policy.Build(policy.Options{SID: sidA})
	if err != nil {
		t.Fatal(err)
	}
	e, err := h.open()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteFilter(plan.Filters[3].Key); err != nil {
		t.Fatal(err)
	}
	e.Close()
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmTransactionBegin0" {
			return wfp.ErrAccessDenied
		}
		return nil
	}
	c := h.check(CheckOptions{Open: h.open})
	if !c.Live || c.LiveCheck.ReadTransaction || c.Current() || !hasReason(c.Reasons, ReasonPolicyDrift) {
		t.Fatalf("live %v (txn %v) reasons %v: want the drift seen without a transaction", c.Live, c.LiveCheck != nil && c.LiveCheck.ReadTransaction, c.Reasons)
	}
}
