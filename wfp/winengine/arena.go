//go:build windows || unix

package winengine

import (
	"fmt"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// arenaAlign is the alignment of every arena allocation: the largest alignment of any
// SDK structure wfpsandbox builds (FWPM_FILTER0 and UINT64 are 8-aligned in C).
const arenaAlign = 8

// arenaSlab is the size of an ordinary slab; larger requests get a slab of their own.
const arenaSlab = 4096

// arena is a bump allocator over memory outside the Go heap (LocalAlloc on Windows,
// mmap elsewhere). Every call that hands structures to WFP composes them in a fresh
// arena and disposes of it when the call returns, so no Go pointer is ever stored in a C
// structure and nothing is freed piecemeal. Memory is zeroed. An arena is not safe for
// concurrent use.
type arena struct {
	slabs []slab
	cur   unsafe.Pointer // current slab
	used  uintptr        // bytes used in the current slab
	size  uintptr        // size of the current slab
}

type slab struct {
	p    unsafe.Pointer
	size uintptr
}

func newArena() *arena { return &arena{} }

// alloc returns n zeroed bytes aligned to arenaAlign. It panics when the system is out
// of memory, as the Go runtime does.
func (a *arena) alloc(n uintptr) unsafe.Pointer {
	if n == 0 {
		n = 1
	}
	n = (n + arenaAlign - 1) &^ (arenaAlign - 1)
	if a.cur == nil || a.size-a.used < n {
		size := uintptr(arenaSlab)
		if n > size {
			size = n
		}
		p, err := sysAlloc(size)
		if err != nil {
			panic(fmt.Sprintf("winengine: allocating %d bytes outside the Go heap: %v", size, err))
		}
		a.slabs = append(a.slabs, slab{p, size})
		a.cur, a.used, a.size = p, 0, size
	}
	p := unsafe.Add(a.cur, a.used)
	a.used += n
	return p
}

// Dispose frees every slab at once. The arena may be reused afterwards.
func (a *arena) Dispose() {
	for _, s := range a.slabs {
		sysFree(s.p, s.size)
	}
	a.slabs, a.cur, a.used, a.size = nil, nil, 0, 0
}

// bytes copies b into the arena; nil for an empty slice.
func (a *arena) bytes(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	p := (*byte)(a.alloc(uintptr(len(b))))
	copy(unsafe.Slice(p, len(b)), b)
	return p
}

// utf16 copies s into the arena as a NUL-terminated UTF-16 string; nil for "" when
// nilIfEmpty is set. It fails on an embedded NUL, which C would silently truncate.
func (a *arena) utf16(s string, nilIfEmpty bool) (*uint16, error) {
	if s == "" && nilIfEmpty {
		return nil, nil
	}
	u, err := utf16FromString(s)
	if err != nil {
		return nil, err
	}
	p := (*uint16)(a.alloc(uintptr(len(u)) * 2))
	copy(unsafe.Slice(p, len(u)), u)
	return p, nil
}

// guid copies g into the arena.
func (a *arena) guid(g wfp.GUID) *wfpGUID {
	p := (*wfpGUID)(a.alloc(unsafe.Sizeof(g)))
	*p = g
	return p
}
