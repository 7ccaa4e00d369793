//go:build windows

package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"
)

// ask connects to PipeName, checks that the pipe is the service's, sends req and
// reads the response, within ctx's deadline (DefaultRequestTimeout when it has none,
// plus the I/O time).
func ask(ctx context.Context, req *Request) (*Response, error) {
	name, err := windows.UTF16PtrFromString(PipeName)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultRequestTimeout + pipeIOTimeout)
	}
	var h windows.Handle
	for {
		// CreateFileW on a pipe; SECURITY_SQOS_PRESENT|SECURITY_IDENTIFICATION: the
		// server may identify this client but not impersonate it, so a process
		// squatting the pipe's name cannot act as the caller.
		// https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew
		h, err = windows.CreateFile(name, clientAccess, 0, nil, windows.OPEN_EXISTING,
			windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, windows.ERROR_FILE_NOT_FOUND):
			return nil, fmt.Errorf("%w: no %s (the service is not installed or not running)", ErrNotAvailable, PipeName)
		case errors.Is(err, windows.ERROR_ACCESS_DENIED):
			return nil, fmt.Errorf("%w: %s refused this account (not SYSTEM, an elevated administrator or a SID in config.toml [service] callers)", ErrNotAvailable, PipeName)
		case errors.Is(err, windows.ERROR_PIPE_BUSY) && time.Now().Before(deadline):
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return nil, fmt.Errorf("%w: CreateFileW %s: %v", ErrNotAvailable, PipeName, err)
	}
	if err := checkPipeOwner(h); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("CreateEventW: %w", err)
	}
	c := &pipeConn{h: h, ev: ev, deadline: deadline}
	defer c.close()
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(append(data, '\n')); err != nil {
		return nil, fmt.Errorf("send the request to the service: %w", err)
	}
	frame, err := NewFrameReader(c).ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("read the service's response: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(frame, &resp); err != nil {
		return nil, fmt.Errorf("the service's response is not JSON: %w", err)
	}
	if resp.Version != ProtocolVersion {
		return nil, fmt.Errorf("the service answered protocol version %d, want %d", resp.Version, ProtocolVersion)
	}
	return &resp, nil
}

// checkPipeOwner refuses a pipe whose owner is not SYSTEM or Administrators: the
// service creates it with owner SYSTEM (PipeSDDL), and an unprivileged process that
// created a pipe of that name first cannot make SYSTEM its owner.
// https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-getsecurityinfo
func checkPipeOwner(h windows.Handle) error {
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("%w: GetSecurityInfo %s: %v", ErrNotAvailable, PipeName, err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("%w: %s has no owner", ErrNotAvailable, PipeName)
	}
	if o := owner.String(); o != SIDLocalSystem && o != SIDAdministrators {
		return fmt.Errorf("%w: %s is owned by %s, not SYSTEM: not the wfpsandbox service's; not used", ErrNotAvailable, PipeName, o)
	}
	return nil
}
