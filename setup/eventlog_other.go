//go:build !windows

package setup

// openEventSink returns no sink: there is no Windows event log here.
func openEventSink(string) (eventSink, error) { return nil, nil }

// EventSourceRegistered reports false: there is no Windows event log here.
func EventSourceRegistered() (bool, error) { return false, nil }

// RegisterEventSource does nothing outside Windows.
func RegisterEventSource() (bool, error) { return false, nil }
