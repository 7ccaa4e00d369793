//go:build windows

package setup

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Elevate runs exe with args elevated — ShellExecuteEx with the "runas" verb, which
// shows the UAC prompt — waits for it to exit and returns its exit code. A declined
// prompt returns ErrElevationCancelled. If ctx ends first, Elevate stops waiting (the
// elevated process keeps running; an unelevated process may not terminate it) and
// returns ctx's error.
//
// The child runs hidden in its own console: its output goes to the log file and the
// event log, and its exit code is the result.
func Elevate(ctx context.Context, exe string, args []string) (int, error) {
	verb, err := windows.UTF16PtrFromString("runas")
	if err != nil {
		return -1, err
	}
	file, err := windows.UTF16PtrFromString(exe)
	if err != nil {
		return -1, fmt.Errorf("run %s elevated: %w", exe, err)
	}
	params, err := windows.UTF16PtrFromString(parameters(args))
	if err != nil {
		return -1, fmt.Errorf("run %s elevated: arguments: %w", exe, err)
	}
	info := &shellExecuteInfo{
		fMask:        seeMaskNoCloseProcess | seeMaskNoAsync | seeMaskNoConsole,
		lpVerb:       verb,
		lpFile:       file,
		lpParameters: params,
		nShow:        windows.SW_HIDE,
	}
	info.cbSize = uint32(unsafe.Sizeof(*info))
	if err := shellExecuteWithCOM(info); err != nil {
		if errors.Is(err, windows.ERROR_CANCELLED) {
			return -1, fmt.Errorf("run %s elevated: %w", exe, ErrElevationCancelled)
		}
		return -1, fmt.Errorf("ShellExecuteEx(runas, %s): %w", exe, err)
	}
	if info.hProcess == 0 {
		// The shell handed the request to an existing process (DDE); nothing to wait on.
		return -1, fmt.Errorf("ShellExecuteEx(runas, %s) returned no process handle", exe)
	}
	h := windows.Handle(info.hProcess)
	defer windows.CloseHandle(h)
	for {
		ev, err := windows.WaitForSingleObject(h, 200)
		if err != nil {
			return -1, fmt.Errorf("wait for elevated %s: %w", exe, err)
		}
		if ev == windows.WAIT_OBJECT_0 {
			break
		}
		if ctx.Err() != nil {
			return -1, fmt.Errorf("wait for elevated %s: %w", exe, context.Cause(ctx))
		}
	}
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return -1, fmt.Errorf("GetExitCodeProcess(elevated %s): %w", exe, err)
	}
	return int(code), nil
}

// shellExecuteWithCOM calls ShellExecuteEx on a thread with COM initialized, as its
// documentation asks: "Because ShellExecuteEx can delegate execution to Shell
// extensions … that are activated using Component Object Model (COM), COM should be
// initialized before ShellExecuteEx is called. Some Shell extensions require the COM
// single-threaded apartment (STA) type. In that case, COM should be initialized as
// shown here: CoInitializeEx(NULL, COINIT_APARTMENTTHREADED | COINIT_DISABLE_OLE1DDE)"
// (learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-shellexecuteexw).
//
// COM initialization is per thread, so the goroutine is locked to its OS thread for
// the call. Each successful CoInitializeEx, S_FALSE (already initialized) included, is
// balanced by CoUninitialize (CoInitializeEx's documentation); RPC_E_CHANGED_MODE means
// the thread is already in another apartment — COM is initialized then, and that
// initialization is not ours to undo.
func shellExecuteWithCOM(info *shellExecuteInfo) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch err := windows.CoInitializeEx(0, windows.COINIT_APARTMENTTHREADED|windows.COINIT_DISABLE_OLE1DDE); {
	case err == nil || errors.Is(err, sFalse):
		defer windows.CoUninitialize()
	case errors.Is(err, windows.Errno(windows.RPC_E_CHANGED_MODE)):
	default:
		return fmt.Errorf("CoInitializeEx(COINIT_APARTMENTTHREADED) before ShellExecuteEx: %w", err)
	}
	return shellExecuteEx(info)
}

// sFalse is S_FALSE (1), which CoInitializeEx returns when COM is already initialized
// on the thread; golang.org/x/sys/windows reports any non-zero HRESULT as an Errno.
const sFalse = windows.Errno(1)

// parameters quotes args for SHELLEXECUTEINFOW.lpParameters, which the shell appends
// to the quoted program path: every argument, the first included, is quoted by the
// CommandLineToArgvW rules (windows.EscapeArg). windows.ComposeCommandLine would not
// do: it treats its first argument as the program name, dropping its quotes and not
// escaping a trailing backslash.
func parameters(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = windows.EscapeArg(a)
	}
	return strings.Join(q, " ")
}
