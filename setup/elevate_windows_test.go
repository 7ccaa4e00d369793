//go:build windows

package setup

import (
	"testing"
	"unsafe"
)

// TestShellExecuteInfoLayout checks the Go mirror against shellExecuteLayout (itself
// checked against the SDK headers by TestShellExecuteInfoABI), and the masks.
func TestShellExecuteInfoLayout(t *testing.T) {
	var s shellExecuteInfo
	want := shellExecuteLayout[int(unsafe.Sizeof(uintptr(0)))]
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

func TestShellExecuteMasks(t *testing.T) {
	for name, got := range map[string]uint32{
		"SEE_MASK_NOCLOSEPROCESS": seeMaskNoCloseProcess,
		"SEE_MASK_NOASYNC":        seeMaskNoAsync,
		"SEE_MASK_NO_CONSOLE":     seeMaskNoConsole,
	} {
		if want := shellExecuteMasks[name]; got != want {
			t.Errorf("%s = %#x, want %#x", name, got, want)
		}
	}
}
