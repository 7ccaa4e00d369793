//go:build generate

package winapi

//go:generate go tool mkwinsyscall -output zsyscall_windows.go syscall_windows.go
