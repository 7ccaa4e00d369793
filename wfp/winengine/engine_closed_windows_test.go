package winengine

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/windows"

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

// TestCloseWaitsForCallsInProgress needs no BFE either: Close must not end the session
// (FwpmEngineClose0 frees it inside fwpuclnt.dll) while another goroutine's call still
// uses the handle, and calls after Close must not reach the DLL.
func TestCloseWaitsForCallsInProgress(t *testing.T) {
	e := &Engine{h: 0x1234}
	inCall, release := make(chan struct{}), make(chan struct{})
	callDone := make(chan error)
	go func() {
		callDone <- e.withHandle("FwpmFilterEnum0", func(h windows.Handle) error {
			close(inCall)
			<-release
			return nil
		})
	}()
	<-inCall
	closed := make(chan windows.Handle, 1)
	closeDone := make(chan error)
	go func() {
		closeDone <- e.closeWith(func(h windows.Handle) error { closed <- h; return nil })
	}()
	select {
	case h := <-closed:
		t.Fatalf("Close freed session %#x while a call was using it", h)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-callDone; err != nil {
		t.Fatalf("call in progress: %v", err)
	}
	if err := <-closeDone; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if h := <-closed; h != 0x1234 {
		t.Errorf("Close closed handle %#x, want 0x1234", h)
	}
	err := e.withHandle("FwpmFilterAdd0", func(windows.Handle) error {
		t.Error("a call after Close reached the DLL")
		return nil
	})
	var ce *wfp.CallError
	if !errors.As(err, &ce) || ce.Code != errInvalidHandle {
		t.Errorf("call after Close: %v, want ERROR_INVALID_HANDLE", err)
	}
}
