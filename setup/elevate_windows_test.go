//go:build windows

package setup

import (
	"testing"
	"unsafe"
)

// TestShellExecuteInfoLayout pins SHELLEXECUTEINFOW's size and the offsets of the
// fields Elevate reads and writes, from the SDK layout (shellapi.h; natural alignment).
func TestShellExecuteInfoLayout(t *testing.T) {
	var s shellExecuteInfo
	want := struct{ size, nShow, hProcess uintptr }{112, 48, 104}
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = struct{ size, nShow, hProcess uintptr }{60, 28, 56}
	}
	if got := unsafe.Sizeof(s); got != want.size {
		t.Errorf("sizeof = %d, want %d", got, want.size)
	}
	if got := unsafe.Offsetof(s.nShow); got != want.nShow {
		t.Errorf("offsetof nShow = %d, want %d", got, want.nShow)
	}
	if got := unsafe.Offsetof(s.hProcess); got != want.hProcess {
		t.Errorf("offsetof hProcess = %d, want %d", got, want.hProcess)
	}
}
