package setup

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
)

// LogOptions configures NewLogger.
type LogOptions struct {
	// Stderr receives human-readable text records (nil: none).
	Stderr io.Writer
	// Level is the least level written to Stderr (slog.LevelInfo by default). The log
	// file always gets Debug and above.
	Level slog.Level
	// StateDir, when not empty, holds the JSON-lines log file LogFile.
	StateDir string
	// MaxBytes and Backups cap the log file (DefaultLogMaxBytes, DefaultLogBackups).
	MaxBytes int64
	Backups  int
	// EventLog sends warnings, errors and records tagged with an event ID (Event) to
	// the Windows Application Event Log under EventSource. Ignored elsewhere.
	EventLog bool
}

// EventSource is the Application Event Log source wfpsandbox logs under.
const EventSource = "wfpsandbox"

// NewLogger returns the standard wfpsandbox logger and a closer for its files. A
// destination that cannot be opened (a log file an unelevated user may not write, an
// event source that cannot be opened) is left out and reported in warnings; the
// logger always works.
func NewLogger(opts LogOptions) (logger *slog.Logger, closer io.Closer, warnings []error) {
	var hs []slog.Handler
	var closers multiCloser
	if opts.Stderr != nil {
		hs = append(hs, slog.NewTextHandler(opts.Stderr, &slog.HandlerOptions{Level: opts.Level}))
	}
	if opts.StateDir != "" {
		max, backups := opts.MaxBytes, opts.Backups
		if max == 0 {
			max = DefaultLogMaxBytes
		}
		if backups == 0 {
			backups = DefaultLogBackups
		}
		if err := makeStateDir(opts.StateDir); err != nil {
			warnings = append(warnings, err)
		} else if f, err := openRotatingFile(filepath.Join(opts.StateDir, LogFile), max, backups); err != nil {
			warnings = append(warnings, err)
		} else {
			closers = append(closers, f)
			hs = append(hs, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	if opts.EventLog {
		sink, err := openEventSink(EventSource)
		if err != nil {
			warnings = append(warnings, err)
		} else if sink != nil {
			closers = append(closers, sink)
			hs = append(hs, newEventHandler(sink))
		}
	}
	return slog.New(fanout(hs)), closers, warnings
}

type multiCloser []io.Closer

// Close closes every closer and joins their errors.
func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// fanout sends each record to every handler that is enabled for it.
type fanout []slog.Handler

// Enabled reports whether any handler wants records of level l.
func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

// Handle passes r to every handler enabled for its level.
func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

// WithAttrs applies as to every handler.
func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

// WithGroup applies the group to every handler.
func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
