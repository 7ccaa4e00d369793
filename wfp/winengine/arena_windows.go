package winengine

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// sysAlloc returns size zeroed bytes from LocalAlloc (LMEM_FIXED|LMEM_ZEROINIT).
// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-localalloc
func sysAlloc(size uintptr) (unsafe.Pointer, error) {
	h, err := windows.LocalAlloc(windows.LPTR, uint32(size))
	if err != nil {
		return nil, err
	}
	return cPointer(h), nil
}

// sysFree releases memory from sysAlloc.
func sysFree(p unsafe.Pointer, _ uintptr) {
	windows.LocalFree(windows.Handle(uintptr(p)))
}
