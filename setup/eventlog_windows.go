//go:build windows

package setup

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/eventlog"
)

// eventSourceKey is where event sources of the Application log are registered.
const eventSourceKey = `SYSTEM\CurrentControlSet\Services\EventLog\Application\` + EventSource

// openEventSink opens the Application Event Log under EventSource (RegisterEventSource).
// It works before the source is registered, but Event Viewer then cannot format the
// messages; RegisterEventSource fixes that.
func openEventSink(source string) (eventSink, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, fmt.Errorf("open the Application event log as %q: %w", source, err)
	}
	return l, nil
}

// EventSourceRegistered reports whether the "wfpsandbox" event source exists.
func EventSourceRegistered() (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, eventSourceKey, registry.QUERY_VALUE)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open HKLM\\%s: %w", eventSourceKey, err)
	}
	k.Close()
	return true, nil
}

// RegisterEventSource registers the "wfpsandbox" Application Event Log source with
// EventCreate.exe as its message file, if it is not registered yet. It needs
// elevation. It reports whether it registered the source now.
func RegisterEventSource() (bool, error) {
	ok, err := EventSourceRegistered()
	if err != nil {
		return false, err
	}
	if ok {
		return false, nil
	}
	err = eventlog.InstallAsEventCreate(EventSource, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil {
		return false, fmt.Errorf("register event source %q (HKLM\\%s): %w", EventSource, eventSourceKey, err)
	}
	return true, nil
}
