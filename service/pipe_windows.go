//go:build windows

package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/setup"
)

// Pipe I/O limits.
const (
	// pipeIOTimeout bounds reading a request and writing its response.
	pipeIOTimeout = 10 * time.Second
	// maxPipeClients bounds the connections served at once; more wait in the
	// pipe's backlog (ERROR_PIPE_BUSY for the client until an instance is free).
	maxPipeClients = 8
)

// callerAccess is what a configured caller is granted on the pipe: FILE_READ_DATA,
// FILE_WRITE_DATA, FILE_READ_EA, FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES,
// READ_CONTROL and SYNCHRONIZE — not FILE_GENERIC_WRITE, because "FILE_APPEND_DATA
// and FILE_CREATE_PIPE_INSTANCE have the same definition, so FILE_GENERIC_WRITE
// permits the creation of the pipe" ("Named Pipe Security and Access Rights",
// https://learn.microsoft.com/windows/win32/ipc/named-pipe-security-and-access-rights):
// a caller allowed to create an instance could serve our pipe's name to other clients.
const callerAccess = windows.FILE_READ_DATA | windows.FILE_WRITE_DATA | windows.FILE_READ_EA |
	windows.FILE_READ_ATTRIBUTES | windows.FILE_WRITE_ATTRIBUTES | windows.READ_CONTROL | windows.SYNCHRONIZE

// clientAccess is what the client asks for when it opens the pipe: exactly what
// callerAccess grants (GENERIC_WRITE would ask for FILE_APPEND_DATA and be refused).
const clientAccess = callerAccess

// PipeSDDL is the pipe's security descriptor: owner SYSTEM, a protected DACL granting
// SYSTEM and Administrators full access and each configured caller SID callerAccess;
// nobody else (no Everyone, no Anonymous: the default pipe DACL would grant them read,
// same page).
func PipeSDDL(callers []string) string {
	var b strings.Builder
	b.WriteString("O:SYG:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)")
	for _, s := range callers {
		fmt.Fprintf(&b, "(A;;0x%x;;;%s)", uint32(callerAccess), s)
	}
	return b.String()
}

// pipeRetry is how long Serve waits before it tries again to create a pipe it could
// not create (another process holding the name, say): the pipe API comes back once the
// name is free, without a restart.
const pipeRetry = time.Minute

// Serve runs the service's two halves until ctx is done: the converge loop (Run) and
// the pipe server (ServePipe). It calls ready (when not nil) once clients can connect —
// the pipe's first instance exists — or once the pipe has failed: the service goes on
// converging without it (keeping the policy in place is its first job), logs the
// failure (event 124, Error) at once, and tries again every pipeRetry. It returns when
// both halves have ended, with Run's error.
func Serve(ctx context.Context, s *Service, ready func()) error {
	var once sync.Once
	readyOnce := func() {
		if ready != nil {
			once.Do(ready)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pipeDone := make(chan struct{})
	go func() {
		defer close(pipeDone)
		s.servePipeRetrying(ctx, readyOnce)
	}()
	runErr := s.Run(ctx)
	cancel()
	<-pipeDone
	return runErr
}

// servePipeRetrying runs ServePipe until ctx is done, again after pipeRetry when it
// fails; one error record per episode of failures, one info record when it is served
// again.
func (s *Service) servePipeRetrying(ctx context.Context, ready func()) {
	failing := false
	for {
		err := ServePipe(ctx, s, func() {
			if failing {
				failing = false
				s.log.Info("service: the pipe is served again", setup.Event(setup.EventServiceState))
			}
			ready()
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				s.log.Error("service: the pipe cannot be served; the policy is still kept converged, but unelevated callers cannot reach the service until it can (tried again every "+pipeRetry.String()+"): "+err.Error(),
					setup.Event(setup.EventServiceState), "call", "CreateNamedPipeW")
			} else {
				s.log.Debug("service: the pipe still cannot be served: " + err.Error())
			}
			failing = true
			ready() // the converge loop runs: the service is running, without its pipe
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pipeRetry):
		}
	}
}

// ServePipe serves requests on PipeName until ctx is done: one request and its
// response per connection, the caller identified from its token (Identify). It calls
// listening (when not nil) once the pipe's first instance exists, so that clients can
// connect. It returns an error only when the pipe cannot be created (another process
// already holds the name, or the security descriptor is refused).
func ServePipe(ctx context.Context, s *Service, listening func()) error {
	sd, err := windows.SecurityDescriptorFromString(PipeSDDL(s.cfg.Callers))
	if err != nil {
		return fmt.Errorf("pipe security descriptor: %w", err)
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	name, err := windows.UTF16PtrFromString(PipeName)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxPipeClients)
	first := true
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		// CreateNamedPipeW:
		// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createnamedpipew
		// FILE_FLAG_FIRST_PIPE_INSTANCE on the first instance: if another process
		// already created a pipe of this name (squatting it to impersonate the
		// service), creation fails (ERROR_ACCESS_DENIED) instead of joining it.
		// PIPE_REJECT_REMOTE_CLIENTS: connections from remote clients are refused.
		open := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
		if first {
			open |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
		}
		h, err := windows.CreateNamedPipe(name, open,
			windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS,
			windows.PIPE_UNLIMITED_INSTANCES, MaxRequestSize, MaxRequestSize, 0, sa)
		if err != nil {
			<-slots
			if first {
				return fmt.Errorf("CreateNamedPipeW %s: %w (is another process serving it?)", PipeName, err)
			}
			s.log.Error("CreateNamedPipeW "+PipeName+": "+err.Error(), "call", "CreateNamedPipeW")
			select {
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if first && listening != nil {
			listening()
		}
		first = false
		c, err := newPipeConn(h)
		if err != nil {
			windows.CloseHandle(h)
			<-slots
			return err
		}
		if err := c.connect(ctx); err != nil {
			c.close()
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("ConnectNamedPipe: "+err.Error(), "call", "ConnectNamedPipe")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.servePipeConn(ctx, c)
		}()
	}
}

// servePipeConn reads one request, identifies the caller, answers and disconnects.
func (s *Service) servePipeConn(ctx context.Context, c *pipeConn) {
	defer c.close()
	// The log file takes debug records at any level, and a caller may connect as fast
	// as the pipe takes it: a connection's debug records come within a budget.
	debug := func(string, ...any) {}
	if ok, suppressed := s.pipeDebug.take(time.Now()); ok {
		debug = s.log.Debug
		if suppressed > 0 {
			debug(fmt.Sprintf("pipe: %d connection(s) before this one had no debug records (at most %d a %s)",
				suppressed, requestRecords, requestRecordsWindow))
		}
	}
	debug("pipe: a client connected")
	c.deadline = time.Now().Add(pipeIOTimeout)
	frame, err := NewFrameReader(c).ReadFrame()
	debug("pipe: request read", "bytes", len(frame), "error", fmt.Sprint(err))
	var resp *Response
	switch {
	case err != nil:
		var re *RequestError
		if !errors.As(err, &re) {
			debug("pipe: reading a request: " + err.Error())
			return
		}
		resp = errorResponse("", re.Code, err)
	default:
		// The caller's identity comes from the pipe, after the read (impersonation
		// takes "the security context of the last message read from the pipe").
		caller, ierr := c.identify()
		debug("pipe: caller", "user", caller.User, "groups", len(caller.Groups), "error", fmt.Sprint(ierr))
		if ierr != nil {
			s.log.Warn("pipe: the caller could not be identified; request refused: "+ierr.Error(), "call", "ImpersonateNamedPipeClient")
			resp = errorResponse("", CodeDenied, fmt.Errorf("the caller could not be identified: %w", ierr))
		} else {
			resp = s.Handle(ctx, caller, frame)
		}
	}
	c.deadline = time.Now().Add(pipeIOTimeout)
	if err := EncodeResponse(c, resp); err != nil {
		debug("pipe: writing a response: " + err.Error())
		return
	}
	debug("pipe: response written", "ok", resp.OK)
	// Let the client read the response before the instance is disconnected:
	// DisconnectNamedPipe discards what the client has not read. Not
	// FlushFileBuffers, which waits without a bound for a client that never reads;
	// instead wait, until the deadline, for the client to close its end.
	// https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-disconnectnamedpipe
	var sink [64]byte
	for {
		if _, err := c.Read(sink[:]); err != nil {
			return
		}
	}
}

// pipeConn is one pipe handle opened for overlapped I/O, with a deadline.
type pipeConn struct {
	h        windows.Handle
	ev       windows.Handle
	server   bool
	deadline time.Time
}

func newPipeConn(h windows.Handle) (*pipeConn, error) {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("CreateEventW: %w", err)
	}
	return &pipeConn{h: h, ev: ev, server: true}, nil
}

func (c *pipeConn) close() {
	if c.server {
		_ = windows.DisconnectNamedPipe(c.h)
	}
	windows.CloseHandle(c.h)
	windows.CloseHandle(c.ev)
}

var errPipeTimeout = errors.New("pipe I/O timed out")

// wait waits for the overlapped operation ov until the deadline (or, when stop is
// not nil, until it is closed), cancelling it then (CancelIoEx) and waiting for the
// cancellation to complete, so that ov is never left in use.
// https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-getoverlappedresult
// https://learn.microsoft.com/windows/win32/fileio/cancelioex-func
func (c *pipeConn) wait(ov *windows.Overlapped, stop <-chan struct{}) (uint32, error) {
	for {
		ms := uint32(200)
		if stop == nil {
			left := time.Until(c.deadline)
			if left <= 0 {
				break
			}
			ms = uint32(min(left, 200*time.Millisecond) / time.Millisecond)
			if ms == 0 {
				ms = 1
			}
		} else {
			select {
			case <-stop:
				goto cancel
			default:
			}
		}
		ev, err := windows.WaitForSingleObject(c.ev, ms)
		if err != nil {
			return 0, fmt.Errorf("WaitForSingleObject: %w", err)
		}
		if ev == windows.WAIT_OBJECT_0 {
			var n uint32
			err := windows.GetOverlappedResult(c.h, ov, &n, false)
			return n, err
		}
	}
cancel:
	_ = windows.CancelIoEx(c.h, ov)
	var n uint32
	_ = windows.GetOverlappedResult(c.h, ov, &n, true)
	return 0, errPipeTimeout
}

// connect waits for a client (ConnectNamedPipe, overlapped) until ctx is done.
// https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-connectnamedpipe
func (c *pipeConn) connect(ctx context.Context) error {
	ov := &windows.Overlapped{HEvent: c.ev}
	err := windows.ConnectNamedPipe(c.h, ov)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_PIPE_CONNECTED):
		// "a client connects in the interval between the call to CreateNamedPipe and
		// the call to ConnectNamedPipe": connected.
		return nil
	case !errors.Is(err, windows.ERROR_IO_PENDING):
		return fmt.Errorf("ConnectNamedPipe: %w", err)
	}
	_, err = c.wait(ov, ctx.Done())
	if err != nil {
		return fmt.Errorf("ConnectNamedPipe: %w", err)
	}
	return nil
}

// Read reads from the pipe until the deadline; a broken pipe (the client closed it)
// is io.EOF.
func (c *pipeConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	windows.ResetEvent(c.ev)
	ov := &windows.Overlapped{HEvent: c.ev}
	err := windows.ReadFile(c.h, p, nil, ov)
	if err != nil && !errors.Is(err, windows.ERROR_IO_PENDING) {
		return 0, pipeErr("ReadFile", err)
	}
	n, err := c.wait(ov, nil)
	if err != nil {
		return int(n), pipeErr("ReadFile", err)
	}
	return int(n), nil
}

// Write writes p to the pipe until the deadline.
func (c *pipeConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		windows.ResetEvent(c.ev)
		ov := &windows.Overlapped{HEvent: c.ev}
		err := windows.WriteFile(c.h, p[done:], nil, ov)
		if err != nil && !errors.Is(err, windows.ERROR_IO_PENDING) {
			return done, pipeErr("WriteFile", err)
		}
		n, err := c.wait(ov, nil)
		done += int(n)
		if err != nil {
			return done, pipeErr("WriteFile", err)
		}
	}
	return done, nil
}

func pipeErr(call string, err error) error {
	if errors.Is(err, windows.ERROR_BROKEN_PIPE) || errors.Is(err, windows.ERROR_PIPE_NOT_CONNECTED) {
		return io.EOF
	}
	return fmt.Errorf("%s %s: %w", call, PipeName, err)
}

// identify returns the connected client's identity from its token: impersonate the
// client (ImpersonateNamedPipeClient), open the thread's impersonation token
// (OpenThreadToken, as self: the service's own access to the token object), revert
// (RevertToSelf) and read the token's user and enabled groups. The goroutine is
// locked to its OS thread meanwhile, because impersonation is per thread. If
// RevertToSelf fails the thread would keep the client's identity: the process
// stops rather than go on as the client.
// https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-impersonatenamedpipeclient
// https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openthreadtoken
// https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-reverttoself
func (c *pipeConn) identify() (Caller, error) {
	tok, err := func() (windows.Token, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := impersonateNamedPipeClient(c.h); err != nil {
			// "If the ImpersonateNamedPipeClient function fails, the client is not
			// impersonated … no client requests should be executed."
			return 0, fmt.Errorf("ImpersonateNamedPipeClient: %w", err)
		}
		var t windows.Token
		oerr := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &t)
		if rerr := windows.RevertToSelf(); rerr != nil {
			panic("wfpsandbox service: RevertToSelf failed after impersonating a pipe client: " + rerr.Error())
		}
		if oerr != nil {
			return 0, fmt.Errorf("OpenThreadToken: %w", oerr)
		}
		return t, nil
	}()
	if err != nil {
		return Caller{}, err
	}
	defer tok.Close()
	return callerOf(tok)
}

// callerOf reads a token's user and enabled, not deny-only, groups
// (TOKEN_GROUPS, SE_GROUP_ENABLED, SE_GROUP_USE_FOR_DENY_ONLY:
// https://learn.microsoft.com/windows/win32/api/winnt/ns-winnt-token_groups).
func callerOf(tok windows.Token) (Caller, error) {
	u, err := tok.GetTokenUser()
	if err != nil {
		return Caller{}, fmt.Errorf("GetTokenInformation(TokenUser): %w", err)
	}
	c := Caller{User: u.User.Sid.String()}
	gs, err := tok.GetTokenGroups()
	if err != nil {
		return Caller{}, fmt.Errorf("GetTokenInformation(TokenGroups): %w", err)
	}
	for _, g := range gs.AllGroups() {
		if g.Attributes&windows.SE_GROUP_ENABLED != 0 && g.Attributes&windows.SE_GROUP_USE_FOR_DENY_ONLY == 0 {
			c.Groups = append(c.Groups, g.Sid.String())
		}
	}
	return c, nil
}
