//go:build !windows

package winengine

import (
	"errors"
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Engine is the real WFP engine; outside Windows it cannot be opened.
type Engine struct{ wfp.Engine }

// Open fails outside Windows with an error wrapping wfp.ErrUnavailable.
func Open(Options) (*Engine, error) {
	return nil, fmt.Errorf("%w: %w", wfp.ErrUnavailable, errNotWindows)
}

var errNotWindows = errors.New("the real WFP engine exists only on Windows; use --engine memory:PATH")
