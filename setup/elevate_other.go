//go:build !windows

package setup

import (
	"context"
	"fmt"
)

// Elevate runs exe with args elevated and returns its exit code. Only on Windows;
// elsewhere it returns ErrElevationUnsupported (run setup as root instead).
func Elevate(_ context.Context, exe string, _ []string) (int, error) {
	return -1, fmt.Errorf("run %s elevated: %w", exe, ErrElevationUnsupported)
}
