package service

import (
	"context"
	"errors"
)

// PipeName is the service's named pipe (Windows).
const PipeName = `\\.\pipe\wfpsandbox`

// ErrNotAvailable means there is no wfpsandbox service to ask: not Windows, the
// service is not installed or not running, or the pipe is not the service's.
// Callers then do what they do without it.
var ErrNotAvailable = errors.New("the wfpsandbox service is not available")

// Ask sends req to the local wfpsandbox service and returns its response. It
// returns an error wrapping ErrNotAvailable when there is no service to ask.
func Ask(ctx context.Context, req *Request) (*Response, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return ask(ctx, req)
}
