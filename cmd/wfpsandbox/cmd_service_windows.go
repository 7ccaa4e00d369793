//go:build windows

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/service"
)

// serviceTimeout bounds waiting for the service to start or stop.
const serviceTimeout = 60 * time.Second

// serviceControl runs install, uninstall, start, stop (elevated) or status.
func serviceControl(sub, stateDir string) (*serviceDoc, error) {
	doc := &serviceDoc{Action: sub}
	if sub != "status" {
		if ok, err := account.IsElevated(); err == nil && !ok {
			return nil, fmt.Errorf("service %s needs an elevated prompt (Run as administrator)", sub)
		}
	}
	switch sub {
	case "install":
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find wfpsandbox.exe: %w", err)
		}
		args := []string{"service", "run", "--scm"}
		if stateDir != "" {
			abs, err := filepath.Abs(stateDir)
			if err != nil {
				return nil, err
			}
			args = append(args, "--state-dir", abs)
		}
		warnings, err := service.Install(exe, args...)
		if err != nil {
			return nil, err
		}
		doc.Warnings = warnings
		doc.Installed = true
	case "uninstall":
		if err := service.Uninstall(serviceTimeout); err != nil && !errors.Is(err, service.ErrNotInstalled) {
			return nil, err
		}
		doc.PolicyKept = true
	case "start":
		if err := service.Start(serviceTimeout); err != nil {
			return nil, err
		}
	case "stop":
		if err := service.Stop(serviceTimeout); err != nil {
			return nil, err
		}
	case "status":
		st, err := service.Query()
		if err != nil {
			return nil, err
		}
		doc.Installed, doc.State, doc.PID = st.Installed, st.State, st.PID
	}
	return doc, nil
}

// serveService runs the converge loop and the pipe server: under the service control
// manager when started by it (scm, or svc.IsWindowsService), else in the foreground
// until Ctrl+C.
func serveService(ctx context.Context, svc *service.Service, scm bool) error {
	if ok, err := service.IsService(); scm || (err == nil && ok) {
		return service.RunAsService(func(ctx context.Context, ready func()) error { return service.Serve(ctx, svc, ready) })
	}
	return service.Serve(ctx, svc, nil)
}

// removeService is uninstall --all's: stop and delete the service, if installed,
// before the policy goes (so that it does not repair what uninstall removes).
func removeService() (bool, error) {
	err := service.Uninstall(serviceTimeout)
	if errors.Is(err, service.ErrNotInstalled) {
		return false, nil
	}
	return err == nil, err
}
