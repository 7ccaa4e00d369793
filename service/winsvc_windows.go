//go:build windows

package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// ServiceName is the Windows service's name; DisplayName what services.msc shows.
const (
	ServiceName = "wfpsandbox"
	DisplayName = "wfpsandbox policy service"
	description = "Keeps the wfpsandbox WFP policy of every recorded sandbox account in place (repairs tampering) " +
		"and answers local callers on \\\\.\\pipe\\wfpsandbox. Optional: the persistent filters work without it."
)

// bfeService is the Base Filtering Engine's service name.
// https://learn.microsoft.com/windows/win32/fwp/about-windows-filtering-platform
const bfeService = "BFE"

// recoveryActions restart the service after a failure: 5 s, 30 s, then every 60 s;
// the failure count resets after a day. SetRecoveryActions is
// ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS).
// https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actionsw
var recoveryActions = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
}

// Install registers the service (LocalSystem, automatic start, recovery actions,
// also on a stop with an error exit code) to run exe with args ("service", "run", …).
// It needs elevation. An existing service of that name is an error naming it; what
// was installed with less than asked is in warnings.
// https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-createservicew
func Install(exe string, args ...string) (warnings []string, err error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("connect to the service control manager (elevated?): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(ServiceName); err == nil {
		s.Close()
		return nil, fmt.Errorf("the service %q is already installed ('wfpsandbox service uninstall' first to re-register it)", ServiceName)
	}
	s, err := m.CreateService(ServiceName, exe, mgr.Config{
		DisplayName: DisplayName, Description: description,
		StartType:    mgr.StartAutomatic, // ServiceStartName "" is LocalSystem
		ErrorControl: mgr.ErrorNormal,
		// BFE first: at boot the first converge pass and the change subscription need
		// the engine; without the dependency they can fail and wait for the next poll.
		// lpDependencies: "names of services ... that the system must start before
		// this service" (CreateServiceW, link above).
		Dependencies: []string{bfeService},
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("CreateServiceW %s: %w", ServiceName, err)
	}
	defer s.Close()
	warning, err := setRecovery(s)
	if err != nil {
		_ = s.Delete()
		return nil, fmt.Errorf("%w (the service was not installed)", err)
	}
	if warning != "" {
		warnings = append(warnings, warning)
	}
	return warnings, nil
}

// recoveryConfig is what Install sets of a service's recovery (*mgr.Service).
type recoveryConfig interface {
	SetRecoveryActions(actions []mgr.RecoveryAction, resetPeriod uint32) error
	SetRecoveryActionsOnNonCrashFailures(flag bool) error
}

// setRecovery sets the recovery actions, and fFailureActionsOnNonCrashFailures:
// without it the actions are "queued only if the service process terminates without
// reporting a status of SERVICE_STOPPED", so a run that fails and reports
// SERVICE_STOPPED with an exit code (RunAsService) would never be restarted; with it
// also "if it enters the SERVICE_STOPPED state but the dwWin32ExitCode member ... is
// not ERROR_SUCCESS". A service control manager that does not know the flag's level
// (ERROR_INVALID_LEVEL: Wine's) is a warning, not a failure: the crash restarts stand.
// https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actions_flag
func setRecovery(s recoveryConfig) (warning string, err error) {
	if err := s.SetRecoveryActions(recoveryActions, uint32((24 * time.Hour).Seconds())); err != nil {
		return "", fmt.Errorf("ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS) %s: %w", ServiceName, err)
	}
	err = s.SetRecoveryActionsOnNonCrashFailures(true)
	switch {
	case errors.Is(err, windows.ERROR_INVALID_LEVEL):
		return fmt.Sprintf("ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS_FLAG) %s: %v: this service control manager "+
			"restarts the service only when its process dies, not when it stops with an error", ServiceName, err), nil
	case err != nil:
		return "", fmt.Errorf("ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS_FLAG) %s: %w", ServiceName, err)
	}
	return "", nil
}

// Uninstall stops the service if it runs and deletes it. The WFP policy and the
// records are not touched. Not installed is ErrNotInstalled.
func Uninstall(timeout time.Duration) error {
	return withService(func(s *mgr.Service) error {
		if err := stop(s, timeout); err != nil {
			return err
		}
		if err := s.Delete(); err != nil {
			return fmt.Errorf("DeleteService %s: %w", ServiceName, err)
		}
		return nil
	})
}

// withService runs fn on the installed wfpsandbox service (ErrNotInstalled when there
// is none), with the service control manager connection and the handle closed after.
func withService(fn func(s *mgr.Service) error) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager (elevated?): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(ServiceName)
	if err != nil {
		return notInstalled(err)
	}
	defer s.Close()
	return fn(s)
}

// ErrNotInstalled means the service is not registered.
var ErrNotInstalled = errors.New("the wfpsandbox service is not installed")

func notInstalled(err error) error {
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return ErrNotInstalled
	}
	return fmt.Errorf("OpenServiceW %s: %w", ServiceName, err)
}

// Start starts the service and waits until it runs.
func Start(timeout time.Duration) error {
	return withService(func(s *mgr.Service) error {
		if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return fmt.Errorf("StartServiceW %s: %w", ServiceName, err)
		}
		return waitState(s, svc.Running, timeout)
	})
}

// Stop stops the service and waits until it has stopped.
func Stop(timeout time.Duration) error {
	return withService(func(s *mgr.Service) error { return stop(s, timeout) })
}

func stop(s *mgr.Service, timeout time.Duration) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("QueryServiceStatusEx %s: %w", ServiceName, err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("ControlService(SERVICE_CONTROL_STOP) %s: %w", ServiceName, err)
	}
	return waitState(s, svc.Stopped, timeout)
}

func waitState(s *mgr.Service, want svc.State, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("QueryServiceStatusEx %s: %w", ServiceName, err)
		}
		if st.State == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the service %s is in state %d after %s, not %d", ServiceName, st.State, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// State is the service's registration and run state, as an unelevated caller can
// read it (SC_MANAGER_CONNECT, SERVICE_QUERY_STATUS).
type State struct {
	Installed bool   `json:"installed"`
	State     string `json:"state,omitempty"` // "running", "stopped", "start-pending", …
	PID       uint32 `json:"pid,omitempty"`
}

// Query returns the service's state; it needs no elevation.
// https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-openscmanagerw
func Query() (State, error) {
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return State{}, fmt.Errorf("OpenSCManagerW: %w", err)
	}
	defer windows.CloseServiceHandle(scm)
	name, _ := windows.UTF16PtrFromString(ServiceName)
	h, err := windows.OpenService(scm, name, windows.SERVICE_QUERY_STATUS)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("OpenServiceW %s: %w", ServiceName, err)
	}
	s := &mgr.Service{Name: ServiceName, Handle: h}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return State{Installed: true}, fmt.Errorf("QueryServiceStatusEx %s: %w", ServiceName, err)
	}
	return State{Installed: true, State: stateName(st.State), PID: st.ProcessId}, nil
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "start-pending"
	case svc.StopPending:
		return "stop-pending"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continue-pending"
	case svc.PausePending:
		return "pause-pending"
	case svc.Paused:
		return "paused"
	}
	return fmt.Sprintf("state-%d", s)
}

// IsService reports whether the process was started by the service control manager.
func IsService() (bool, error) { return svc.IsWindowsService() }

// RunAsService runs run under the service control manager until it is told to stop
// (run's ctx is then cancelled, and RunAsService waits for run to return). The service
// is reported SERVICE_START_PENDING until run calls ready, then SERVICE_RUNNING: so
// `service start` (which waits for RUNNING) returns only once the pipe accepts clients,
// and an ensure right after it finds the service. If run fails, the service stops with
// a service-specific exit code, which makes the recovery actions restart it.
// https://learn.microsoft.com/windows/win32/services/service-servicemain-function
// ("the service should report SERVICE_START_PENDING ... until initialization is
// complete"; the SCM allows the wait hint between reports).
func RunAsService(run func(ctx context.Context, ready func()) error) error {
	return svc.Run(ServiceName, handler{run})
}

type handler struct {
	run func(ctx context.Context, ready func()) error
}

// startWaitHint is the StartPending wait hint: how long the SCM should expect before
// the next status report (the pipe's creation; the first converge pass does not count).
const startWaitHint = 30 * time.Second

// Execute is svc.Handler: report StartPending until run is ready, Running (accepting
// Stop and Shutdown), then StopPending when told to stop.
func (h handler) Execute(_ []string, req <-chan svc.ChangeRequest, st chan<- svc.Status) (bool, uint32) {
	st <- svc.Status{State: svc.StartPending, WaitHint: uint32(startWaitHint.Milliseconds())}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	readyc := make(chan struct{})
	var once sync.Once
	ready := func() { once.Do(func() { close(readyc) }) }
	go func() { done <- h.run(ctx, ready) }()
	for {
		select {
		case <-readyc:
			readyc = nil // reported once
			st <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
		case err := <-done:
			st <- svc.Status{State: svc.StopPending}
			if err != nil {
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				st <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				st <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				cancel()
				<-done
				return false, 0
			}
		}
	}
}
