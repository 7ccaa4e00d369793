//go:build generate

package winengine

//go:generate go tool mkwinsyscall -output zsyscall_windows.go syscall_windows.go syscall_netevents_windows.go syscall_changes_windows.go
