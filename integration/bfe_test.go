//go:build windows && wfpintegration

package integration

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceWait bounds each service state change.
const serviceWait = 90 * time.Second

// errNotStoppable says the host will not let BFE be stopped, so persistence across a
// BFE restart cannot be checked there (only across a reboot).
var errNotStoppable = errors.New("service cannot be stopped on this host")

// restartBFE stops the services that depend on BFE (mpssvc, IKEEXT, PolicyAgent, …:
// whatever is running), stops BFE, starts it again and starts the dependents it
// stopped, in reverse order. A t.Cleanup starts BFE and those dependents again if
// anything fails half-way, so the host is never left without its firewall. It returns
// an error wrapping errNotStoppable when a service refuses to stop (it does not accept
// SERVICE_CONTROL_STOP, or the SCM denies it, as for protected services).
func restartBFE(t *testing.T) error {
	t.Helper()
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("OpenSCManager: %w", err)
	}
	defer m.Disconnect()

	var stopped []string // in stop order
	t.Cleanup(func() {
		m, err := mgr.Connect() // the outer connection is closed by now
		if err != nil {
			t.Errorf("cleanup: OpenSCManager: %v — check that BFE and %v run", err, stopped)
			return
		}
		defer m.Disconnect()
		for _, name := range append([]string{"BFE"}, reversed(stopped)...) {
			if err := startService(m, name); err != nil {
				t.Errorf("cleanup: start %s again: %v — start it by hand (sc start %s)", name, err, name)
			}
		}
	})

	// Refuse before stopping anything when a service says it cannot be stopped.
	deps, err := dependents(m, "BFE")
	if err != nil {
		return err
	}
	for _, name := range append(deps, "BFE") {
		if err := acceptsStop(m, name); err != nil {
			return err
		}
	}

	for attempt := 0; ; attempt++ {
		deps, err := dependents(m, "BFE")
		if err != nil {
			return err
		}
		for _, name := range deps {
			if slices.Contains(stopped, name) {
				continue
			}
			if err := stopService(m, name); err != nil {
				return fmt.Errorf("stop %s (depends on BFE): %w", name, err)
			}
			stopped = append(stopped, name)
			t.Logf("stopped %s", name)
		}
		err = stopService(m, "BFE")
		if err == nil {
			break
		}
		// A trigger-start dependent may have started meanwhile: list again.
		if !errors.Is(err, windows.ERROR_DEPENDENT_SERVICES_RUNNING) || attempt == 3 {
			return fmt.Errorf("stop BFE: %w", err)
		}
	}
	t.Log("stopped BFE")
	if err := startService(m, "BFE"); err != nil {
		return fmt.Errorf("start BFE: %w", err)
	}
	t.Log("started BFE")
	for _, name := range reversed(stopped) {
		if err := startService(m, name); err != nil {
			return fmt.Errorf("start %s again: %w", name, err)
		}
		t.Logf("started %s", name)
	}
	return nil
}

// dependents returns the running services that depend on name, directly or not, in
// the order EnumDependentServices gives (reverse start order: safe to stop in).
func dependents(m *mgr.Mgr, name string) ([]string, error) {
	s, err := m.OpenService(name)
	if err != nil {
		return nil, fmt.Errorf("OpenService(%s): %w", name, err)
	}
	defer s.Close()
	deps, err := s.ListDependentServices(svc.Active)
	if err != nil {
		return nil, fmt.Errorf("EnumDependentServices(%s): %w", name, err)
	}
	return deps, nil
}

// acceptsStop returns an error wrapping errNotStoppable when a running service does
// not accept SERVICE_CONTROL_STOP.
func acceptsStop(m *mgr.Mgr, name string) error {
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("OpenService(%s): %w", name, err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("QueryServiceStatus(%s): %w", name, err)
	}
	if st.State != svc.Stopped && st.Accepts&svc.AcceptStop == 0 {
		return fmt.Errorf("%w: %s does not accept SERVICE_CONTROL_STOP", errNotStoppable, name)
	}
	return nil
}

func stopService(m *mgr.Mgr, name string) error {
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("OpenService(%s): %w", name, err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("QueryServiceStatus(%s): %w", name, err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if st.Accepts&svc.AcceptStop == 0 {
		return fmt.Errorf("%w: %s does not accept SERVICE_CONTROL_STOP", errNotStoppable, name)
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return fmt.Errorf("%w: ControlService(%s, STOP): %v", errNotStoppable, name, err)
		}
		return fmt.Errorf("ControlService(%s, STOP): %w", name, err)
	}
	return waitState(s, name, svc.Stopped)
}

func startService(m *mgr.Mgr, name string) error {
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("OpenService(%s): %w", name, err)
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State == svc.Running {
		return nil
	}
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return fmt.Errorf("StartService(%s): %w", name, err)
	}
	return waitState(s, name, svc.Running)
}

func waitState(s *mgr.Service, name string, want svc.State) error {
	deadline := time.Now().Add(serviceWait)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("QueryServiceStatus(%s): %w", name, err)
		}
		if st.State == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still in state %d after %s (want %d)", name, st.State, serviceWait, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// ensureRunning starts a service if it is not running. The test needs the Secondary
// Logon service (seclogon, demand-start) for CreateProcessWithLogonW.
func ensureRunning(t *testing.T, name string) {
	t.Helper()
	m, err := mgr.Connect()
	if err != nil {
		t.Fatalf("OpenSCManager: %v", err)
	}
	defer m.Disconnect()
	if err := startService(m, name); err != nil {
		t.Fatalf("the %s service must run for this test: %v", name, err)
	}
}
