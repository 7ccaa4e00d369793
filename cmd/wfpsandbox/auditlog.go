package main

import (
	"io"
	"log/slog"
	"runtime"

	"github.com/wfpsandbox/wfpsandbox/setup"
)

// auditLogger returns a logger for the outcome of verify and uninstall: on Windows the
// Application Event Log (source "wfpsandbox", the event IDs of setup/events.go), so
// that fleet monitoring sees drift and removals; nothing elsewhere — the command's own
// output is the report.
func auditLogger() (*slog.Logger, io.Closer) {
	log, closer, _ := setup.NewLogger(setup.LogOptions{EventLog: runtime.GOOS == "windows"})
	return log, closer
}
