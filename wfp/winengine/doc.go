// Package winengine is the real wfp.Engine: a session with the Windows Base Filtering
// Engine through fwpuclnt.dll.
//
// Layout of the package:
//
//   - syscall_windows.go, zsyscall_windows.go: one //sys binding per fwpuclnt.dll
//     function (go generate -tags generate), each returning the function's DWORD status
//     as the error;
//   - types.go, types_64.go, types_32.go: unexported C mirrors of the SDK structures,
//     proven equal to the mingw-w64 headers by abi_test.go on Linux for amd64 and 386;
//   - arena*.go, compose.go, parse.go: Go values are composed into C structures in a
//     per-call arena outside the Go heap and parsed back by copying; these files also
//     build on Unix so that their tests run there;
//   - engine_windows.go: Open and the Engine methods; every failed call is a
//     *wfp.CallError naming the call, the object and the status. engine_other.go makes
//     Open fail with wfp.ErrUnavailable elsewhere.
//
// This is the only WFP package of wfpsandbox that imports unsafe (setup and the
// integration helpers use it for their own Win32 calls).
package winengine
