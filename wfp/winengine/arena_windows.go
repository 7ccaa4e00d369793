package winengine

import (
	"fmt"
	"math"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sysAlloc returns size zeroed bytes from LocalAlloc (LMEM_FIXED|LMEM_ZEROINIT), whose
// size argument is 32 bits wide: a larger request is refused rather than truncated into
// a smaller block that the arena would then overrun.
// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-localalloc
func sysAlloc(size uintptr) (unsafe.Pointer, error) {
	if uint64(size) > math.MaxUint32 {
		return nil, fmt.Errorf("LocalAlloc takes at most %d bytes", uint32(math.MaxUint32))
	}
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
