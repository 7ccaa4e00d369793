package winengine

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// filterGetByID calls FwpmFilterGetById0 on windows/386. The generated binding passes
// the UINT64 id as one uintptr, which truncates it; under stdcall a 64-bit argument
// takes two 4-byte stack slots, low half first. (i686-w64-mingw32-gcc calls it as
// _FwpmFilterGetById0@16 with h at 0(%esp), the id at 4 and 8, filter at 12.)
func filterGetByID(h windows.Handle, id uint64, filter **fwpmFilter0) error {
	r0, _, _ := syscall.SyscallN(procFwpmFilterGetById0.Addr(), uintptr(h), uintptr(uint32(id)), uintptr(id>>32), uintptr(unsafe.Pointer(filter)))
	if uint32(r0) != 0 {
		return syscall.Errno(uint32(r0))
	}
	return nil
}
