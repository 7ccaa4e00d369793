package winengine

import (
	"math"
	"testing"
)

// TestSysAllocRefusesMoreThanLocalAllocTakes: LocalAlloc's size is 32 bits, so on
// 64-bit Windows a 4 GiB + 16 request must fail instead of returning 16 bytes.
func TestSysAllocRefusesMoreThanLocalAllocTakes(t *testing.T) {
	big := uint64(math.MaxUint32) + 17
	if uint64(uintptr(big)) != big {
		t.Log("32-bit uintptr: no request can exceed LocalAlloc's size argument")
		return
	}
	p, err := sysAlloc(uintptr(big))
	if err == nil {
		sysFree(p, uintptr(big))
		t.Fatal("sysAlloc of 4 GiB + 16 bytes succeeded; LocalAlloc would have been asked for 16")
	}
	p, err = sysAlloc(64)
	if err != nil {
		t.Fatal(err)
	}
	sysFree(p, 64)
}
