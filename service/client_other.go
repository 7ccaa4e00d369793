//go:build !windows

package service

import (
	"context"
	"fmt"
	"runtime"
)

func ask(context.Context, *Request) (*Response, error) {
	return nil, fmt.Errorf("%w: the service runs on Windows only, this is %s", ErrNotAvailable, runtime.GOOS)
}
