package selftest

import (
	"errors"
	"log/slog"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// ErrWindowsOnly is what Run returns on every other system: the selftest observes the
// Windows Filtering Platform, and there is none here.
var ErrWindowsOnly = errors.New("the selftest runs only on Windows (it observes the Windows Filtering Platform of the host it runs on); nothing was changed")

// ProbeCommand is the hidden subcommand of the wfpsandbox binary that runs the probe
// helper (package selftest/probe): `wfpsandbox selftest-probe -plan P -out O -as KIND`.
// The selftest starts its own executable with it as each identity.
const ProbeCommand = "selftest-probe"

// PlaceholderSID stands in for the temporary account where a plan must be built
// without one: the CLI's input check before anything is created, and the rehearsal
// under Wine. It is a syntactically valid, non-reserved local-account SID; nothing is
// installed for it outside a dynamic session.
const PlaceholderSID = "S-1-5-21-1-2-3-1001"

// RunOptions configure one selftest run.
type RunOptions struct {
	// Config is what the report states was installed.
	Config Config
	// Plan returns the policy options for the temporary account's SID: the same options
	// `setup` would use (flags or --policy file), with the SID filled in.
	Plan func(sid string) (policy.Options, error)
	// KeepAccount leaves the temporary account (and its profile) in place at the end, for
	// inspection; its name is in the report and the log. Its password is not kept anywhere.
	KeepAccount bool
	// Version is the tool version recorded in the report.
	Version string
	// StateDir holds the crash record (journal.go) in its JournalDir subdirectory; empty:
	// setup.DefaultStateDir().
	StateDir string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (o *RunOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
