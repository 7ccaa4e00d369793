//go:build !windows

package selftest

import "context"

// Run is the selftest; off Windows it returns ErrWindowsOnly and does nothing.
func Run(_ context.Context, opts RunOptions) (*Report, error) {
	_ = opts.logger()
	return nil, ErrWindowsOnly
}
