//go:build windows && wfpintegration

package integration

import (
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// The descriptor BFE built for our objects, read with Fwpm*GetSecurityInfoByKey0. These
// calls are made here directly (wfp/winengine does not bind them): the suite only logs
// what it finds, to settle what the WFP pages leave open — whether BFE merges the
// container's inheritable ACEs (the service SIDs of the documented default) into the
// DACL given to Fwpm*Add0, as "DACL for a New Object" says the system does.
var (
	fwpuclnt                                 = windows.NewLazySystemDLL("fwpuclnt.dll")
	procEngineOpen0                          = fwpuclnt.NewProc("FwpmEngineOpen0")
	procEngineClose0                         = fwpuclnt.NewProc("FwpmEngineClose0")
	procFreeMemory0                          = fwpuclnt.NewProc("FwpmFreeMemory0")
	procProviderGetSecurityInfoByKey0        = fwpuclnt.NewProc("FwpmProviderGetSecurityInfoByKey0")
	procSubLayerGetSecurityInfoByKey0        = fwpuclnt.NewProc("FwpmSubLayerGetSecurityInfoByKey0")
	procFilterGetSecurityInfoByKey0          = fwpuclnt.NewProc("FwpmFilterGetSecurityInfoByKey0")
	rpcCAuthnWinNT                    uint32 = 10 // RPC_C_AUTHN_WINNT (rpcdce.h), one of FwpmEngineOpen0's two documented values
)

// objectSDDL returns the SDDL of the DACL of one object, read with proc
// (Fwpm*GetSecurityInfoByKey0(engine, key, DACL_SECURITY_INFORMATION, NULL, NULL,
// &dacl, NULL, &sd), freed with FwpmFreeMemory0).
func objectSDDL(h windows.Handle, proc *windows.LazyProc, key wfp.GUID) (string, error) {
	var dacl, sd unsafe.Pointer
	r, _, _ := proc.Call(uintptr(h), uintptr(unsafe.Pointer(&key)), windows.DACL_SECURITY_INFORMATION,
		0, 0, uintptr(unsafe.Pointer(&dacl)), 0, uintptr(unsafe.Pointer(&sd)))
	if r != 0 {
		return "", fmt.Errorf("%s: %#08x", proc.Name, uint32(r))
	}
	defer procFreeMemory0.Call(uintptr(unsafe.Pointer(&sd)))
	return (*windows.SECURITY_DESCRIPTOR)(sd).String(), nil
}

// logObjectSecurity logs the DACL BFE holds for the plan's provider, sublayer and first
// filter (recorded, not asserted; see doc.go hypothesis 8).
func logObjectSecurity(t *testing.T, plan *policy.Plan) {
	t.Helper()
	var h windows.Handle
	if r, _, _ := procEngineOpen0.Call(0, uintptr(rpcCAuthnWinNT), 0, 0, uintptr(unsafe.Pointer(&h))); r != 0 {
		t.Logf("object security not read: FwpmEngineOpen0: %#08x", uint32(r))
		return
	}
	defer procEngineClose0.Call(uintptr(h))
	for _, o := range []struct {
		what string
		proc *windows.LazyProc
		key  wfp.GUID
	}{
		{"provider", procProviderGetSecurityInfoByKey0, plan.Provider.Key},
		{"sublayer", procSubLayerGetSecurityInfoByKey0, plan.Sublayer.Key},
		{"filter", procFilterGetSecurityInfoByKey0, plan.Filters[0].Key},
	} {
		sddl, err := objectSDDL(h, o.proc, o.key)
		if err != nil {
			t.Logf("%s security not read: %v", o.what, err)
			continue
		}
		t.Logf("%s DACL as BFE holds it: %s", o.what, sddl)
	}
}
