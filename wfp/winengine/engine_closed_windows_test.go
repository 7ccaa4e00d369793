package winengine

import (
	"errors"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestClosedEngineRefusesCalls needs no BFE: an Engine without a session (closed, or
// never opened) answers every call with ERROR_INVALID_HANDLE naming the call, as
// wfp/memengine does, and never reaches fwpuclnt.dll with handle 0.
func TestClosedEngineRefusesCalls(t *testing.T) {
	var e Engine
	check := func(call string, err error) {
		t.Helper()
		var ce *wfp.CallError
		if !errors.As(err, &ce) || ce.Call != call || ce.Code != errInvalidHandle {
			t.Errorf("%s on a closed engine: %v, want a CallError with ERROR_INVALID_HANDLE", call, err)
		}
	}
	check("FwpmEngineClose0", e.Close())
	check("FwpmTransactionBegin0", e.BeginTransaction())
	check("FwpmTransactionCommit0", e.CommitTransaction())
	check("FwpmTransactionAbort0", e.AbortTransaction())
	check("FwpmProviderAdd0", e.AddProvider(&wfp.Provider{Name: "p"}))
	check("FwpmSubLayerAdd0", e.AddSublayer(&wfp.Sublayer{Name: "s"}))
	_, err := e.AddFilter(&wfp.Filter{Name: "f"})
	check("FwpmFilterAdd0", err)
	check("FwpmProviderDeleteByKey0", e.DeleteProvider(wfp.GUID{}))
	check("FwpmSubLayerDeleteByKey0", e.DeleteSublayer(wfp.GUID{}))
	check("FwpmFilterDeleteByKey0", e.DeleteFilter(wfp.GUID{}))
	_, err = e.Provider(wfp.GUID{})
	check("FwpmProviderGetByKey0", err)
	_, err = e.Sublayer(wfp.GUID{})
	check("FwpmSubLayerGetByKey0", err)
	_, err = e.Filter(wfp.GUID{})
	check("FwpmFilterGetByKey0", err)
	_, err = e.FilterByID(1)
	check("FwpmFilterGetById0", err)
	_, err = e.Providers()
	check("FwpmProviderCreateEnumHandle0", err)
	_, err = e.Sublayers(nil)
	check("FwpmSubLayerCreateEnumHandle0", err)
	_, err = e.Filters(&wfp.GUID{})
	check("FwpmFilterCreateEnumHandle0", err)
}
