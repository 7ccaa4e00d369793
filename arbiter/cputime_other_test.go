//go:build !unix

package arbiter_test

// processCPU is not measured on this OS.
func processCPU() (int64, bool) { return 0, false }
