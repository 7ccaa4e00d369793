//go:build windows

package service

//go:generate go tool mkwinsyscall -output zsyscall_windows.go syscall_windows.go

// ImpersonateNamedPipeClient is not in golang.org/x/sys/windows.
// https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-impersonatenamedpipeclient
//sys	impersonateNamedPipeClient(pipe windows.Handle) (err error) = advapi32.ImpersonateNamedPipeClient
