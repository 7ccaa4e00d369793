//go:build !windows

package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/wfpsandbox/wfpsandbox/service"
)

// serviceControl: the service control manager is Windows only.
func serviceControl(sub, _ string) (*serviceDoc, error) {
	if sub == "status" {
		return &serviceDoc{Action: sub}, nil
	}
	return nil, fmt.Errorf("the wfpsandbox service is a Windows service; there is none on %s (the converge loop runs in the foreground with 'service run --engine memory:PATH')", runtime.GOOS)
}

// serveService runs the converge loop in the foreground until ctx is done; there is
// no pipe outside Windows.
func serveService(ctx context.Context, svc *service.Service, _ bool) error {
	return svc.Run(ctx)
}

// removeService is uninstall --all's: there is no service outside Windows.
func removeService() (bool, error) { return false, nil }
