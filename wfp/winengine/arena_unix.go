//go:build unix

package winengine

import (
	"syscall"
	"unsafe"
)

// sysAlloc returns size zeroed bytes from an anonymous mapping. Outside Windows the
// arena serves the marshaling tests, which need memory the Go garbage collector does
// not own, exactly like LocalAlloc's.
func sysAlloc(size uintptr) (unsafe.Pointer, error) {
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	return unsafe.Pointer(unsafe.SliceData(b)), nil
}

// sysFree unmaps memory from sysAlloc.
func sysFree(p unsafe.Pointer, size uintptr) {
	_ = syscall.Munmap(unsafe.Slice((*byte)(p), size))
}
