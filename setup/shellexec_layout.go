package setup

// shellExecuteLayout is SHELLEXECUTEINFOW's size and the offsets Elevate depends on,
// per pointer size, from the SDK headers. shellexec_abi_test.go checks the numbers
// against the mingw-w64 headers (on Unix, with the cross compilers);
// elevate_windows_test.go checks the Go mirror against them.
var shellExecuteLayout = map[int]struct{ size, nShow, hProcess uintptr }{
	8: {size: 112, nShow: 48, hProcess: 104},
	4: {size: 60, nShow: 28, hProcess: 56},
}

// shellExecuteMasks are the SEE_MASK_* values Elevate uses, by SDK name (checked by
// shellexec_abi_test.go; syscall_windows.go declares them for Windows builds).
var shellExecuteMasks = map[string]uint32{
	"SEE_MASK_NOCLOSEPROCESS": 0x00000040,
	"SEE_MASK_NOASYNC":        0x00000100,
	"SEE_MASK_NO_CONSOLE":     0x00008000,
}
