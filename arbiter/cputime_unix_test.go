//go:build unix

package arbiter_test

import "syscall"

// processCPU returns the user+system CPU time of the process in nanoseconds, so that a
// benchmark on a shared machine can report CPU time per operation next to wall time.
func processCPU() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
