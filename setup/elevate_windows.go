//go:build windows

package setup

import (
	"context"
	"errors"
	"fmt"
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
	if err := shellExecuteEx(info); err != nil {
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
