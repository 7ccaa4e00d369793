//go:build windows

package setup

//go:generate go tool mkwinsyscall -output zsyscall_windows.go syscall_windows.go

// shellExecuteInfo mirrors SHELLEXECUTEINFOW (shellapi.h). Natural Go alignment gives
// the SDK layout: 112 bytes on 64-bit, 60 on 32-bit (elevate_windows_test.go checks).
// https://learn.microsoft.com/windows/win32/api/shellapi/ns-shellapi-shellexecuteinfow
type shellExecuteInfo struct {
	cbSize       uint32  // DWORD
	fMask        uint32  // ULONG
	hwnd         uintptr // HWND
	lpVerb       *uint16 // LPCWSTR
	lpFile       *uint16 // LPCWSTR
	lpParameters *uint16 // LPCWSTR
	lpDirectory  *uint16 // LPCWSTR
	nShow        int32   // int
	hInstApp     uintptr // HINSTANCE (out)
	lpIDList     uintptr // void*
	lpClass      *uint16 // LPCWSTR
	hkeyClass    uintptr // HKEY
	dwHotKey     uint32  // DWORD
	hIconOrMon   uintptr // union { HANDLE hIcon; HANDLE hMonitor; }
	hProcess     uintptr // HANDLE (out, with SEE_MASK_NOCLOSEPROCESS)
}

// SHELLEXECUTEINFOW.fMask flags (shellapi.h).
const (
	seeMaskNoCloseProcess = 0x00000040 // SEE_MASK_NOCLOSEPROCESS: return hProcess
	seeMaskNoAsync        = 0x00000100 // SEE_MASK_NOASYNC: finish before returning
	seeMaskNoConsole      = 0x00008000 // SEE_MASK_NO_CONSOLE: give the child its own console
)

// https://learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-shellexecuteexw
//sys	shellExecuteEx(info *shellExecuteInfo) (err error) = shell32.ShellExecuteExW
