package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/version"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func init() {
	register(&command{
		name:    "setup",
		summary: "full setup for the sandbox account (elevated): install the WFP policy, write the account's record (exit 3: WFP step failed, retried next run)",
		usage: "--sid SID | --account NAME [--profile P] [--user-match M] [--proxy-port N] [--policy FILE] [--recorded-plan] " +
			"[--engine windows|memory:PATH] [--state-dir DIR] [--reader SID]... [--analytics] [--dry-run] [--verbose] [--format text|json]",
		run: runSetup,
	})
}

// setupFlags are the flags setup and ensure share.
type setupFlags struct {
	plan      *planFlags
	engine    *string
	stateDir  *string
	analytics *bool
	verbose   *bool
}

func addSetupFlags(fs *flag.FlagSet) *setupFlags {
	return &setupFlags{
		plan:      addPlanFlags(fs),
		engine:    engineFlag(fs),
		stateDir:  fs.String("state-dir", "", "state directory for the setup records, lock, log and config.toml (default: $WFPSANDBOX_STATE_DIR, else %ProgramData%\\wfpsandbox on Windows, $XDG_STATE_HOME/wfpsandbox elsewhere)"),
		analytics: fs.Bool("analytics", false, "send OpenTelemetry metrics (OTLP/HTTP, configured by OTEL_EXPORTER_OTLP_*); also on with WFPSANDBOX_ANALYTICS=1 or 'analytics = true' in config.toml"),
		verbose:   fs.Bool("verbose", false, "log debug records on stderr"),
	}
}

// stateDirOrDefault returns --state-dir or the default.
func (f *setupFlags) stateDirOrDefault() (string, error) {
	if *f.stateDir != "" {
		return *f.stateDir, nil
	}
	return setup.DefaultStateDir()
}

// accountArg returns the account the flags name (--sid or --account), "" when none.
func (f *setupFlags) accountArg() (string, error) {
	p := f.plan
	if p.sid != "" && p.account != "" {
		return "", errors.New("give --sid or --account, not both")
	}
	if p.sid != "" {
		// --sid takes a SID only: the resolver also takes names (--account's), and a
		// --sid of "../x" or "sandbox" was looked up as an account name.
		if _, err := account.ParseSID(p.sid); err != nil {
			return "", fmt.Errorf("--sid: %w (an account name goes in --account)", err)
		}
		return p.sid, nil
	}
	return p.account, nil
}

// givenPlan returns the plan choices given on the command line: a policy file (which
// the other plan flags must not accompany), or the plan flags set explicitly — with
// all, their defaults count as given too.
func (p *planFlags) givenPlan(all bool) (setup.Given, error) {
	if p.policyFile != "" {
		for _, name := range []string{"profile", "user-match", "proxy-port"} {
			if p.given(name) {
				return setup.Given{}, fmt.Errorf("--policy %s sets the profile, user-match and proxy ports; do not also give --%s", p.policyFile, name)
			}
		}
		f, err := policy.LoadFile(p.policyFile)
		if err != nil {
			return setup.Given{}, err
		}
		return setup.Given{Policy: f}, nil
	}
	g := setup.Given{ProxyPorts: p.proxyPorts}
	if all || p.given("profile") {
		g.Profile = policy.Profile(p.profile)
	}
	if all || p.given("user-match") {
		g.UserMatch = policy.UserMatch(p.userMatch)
	}
	return g, nil
}

// opener returns the engine opener for --engine. A memory engine is opened once up
// front so that a bad path is reported as bad input (exit 2) rather than as a WFP
// failure; the live engine is not, since its failures are what exit 3 is for.
func (f *setupFlags) opener(c *cli, dryRun bool) (setup.Opener, error) {
	spec := *f.engine
	if dryRun && spec == "" {
		fmt.Fprintf(c.stderr, "wfpsandbox: no WFP on %s and no --engine given: dry run against an empty simulated host\n", runtime.GOOS)
		return func() (wfp.Engine, error) { return memengine.NewBFE().Open(), nil }, nil
	}
	if strings.HasPrefix(spec, "memory:") {
		e, err := openEngineFor(spec, true)
		if err != nil {
			return nil, err
		}
		e.Close()
	} else if spec != "windows" && spec != "" {
		return nil, fmt.Errorf("unknown --engine %q: want 'windows' or 'memory:PATH'", spec)
	}
	return func() (wfp.Engine, error) { return openEngineFor(spec, true) }, nil
}

// logger returns the standard logger: stderr text, the log file in the state
// directory when toFile and, on Windows when eventLog, the Application event log.
// A dry run asks for neither: it writes nothing.
func (f *setupFlags) logger(c *cli, stateDir string, toFile, eventLog bool) (*slog.Logger, io.Closer) {
	lo := setup.LogOptions{Stderr: c.stderr, EventLog: eventLog && runtime.GOOS == "windows"}
	if *f.verbose {
		lo.Level = slog.LevelDebug
	}
	if toFile {
		lo.StateDir = stateDir
	}
	log, closer, warns := setup.NewLogger(lo)
	for _, w := range warns {
		// A link or special file planted as the log is refused (never written through):
		// say so, or the audit log would stop silently. Other failures (an event source
		// that cannot be opened) stay quiet.
		if errors.Is(w, safefile.ErrLink) || errors.Is(w, safefile.ErrNotRegular) {
			log.Warn("the log file is not written: " + w.Error())
			continue
		}
		log.Debug("log destination unavailable: " + w.Error())
	}
	return log, closer
}

func runSetup(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("setup")
	sf := addSetupFlags(fs)
	dryRun := fs.Bool("dry-run", false, "compute the WFP change set and change nothing (no record, lock, log file or metric)")
	fromRecord := fs.Bool("recorded-plan", false,
		"start from the plan the account's record holds (profile, user-match, proxy ports, a policy file's rules); plan flags given override it (ensure passes this)")
	var readers []string
	fs.Func("reader", "a SID (or SDDL alias such as BU) granted FWPM_ACTRL_READ on the WFP objects setup adds, so an unelevated ensure "+
		"run by it can read the live policy (repeat; default: 'readers' in config.toml, else S-1-5-32-545, BUILTIN\\Users)", func(s string) error {
		readers = append(readers, s)
		return nil
	})
	if !c.parse(fs, args) {
		return exitError
	}
	acct, err := sf.accountArg()
	if err != nil {
		return c.fail("setup", err)
	}
	if acct == "" {
		return c.fail("setup", errors.New("name the sandbox account with --sid S-1-5-21-... or --account NAME"))
	}
	// Without --recorded-plan, setup installs exactly what its flags say (their
	// defaults included); with it, only the flags given override the record.
	given, err := sf.plan.givenPlan(!*fromRecord)
	if err != nil {
		return c.fail("setup", err)
	}
	stateDir, err := sf.stateDirOrDefault()
	if err != nil {
		return c.fail("setup", err)
	}
	open, err := sf.opener(c, *dryRun)
	if err != nil {
		return c.fail("setup", err)
	}
	if runtime.GOOS == "windows" && *sf.engine == "windows" && !*dryRun {
		if err := account.RequireElevation("setup"); err != nil {
			return c.fail("setup", fmt.Errorf("%w (or run 'wfpsandbox ensure', which asks for elevation only when setup is needed)", err))
		}
	}
	so := setup.Options{
		Account: acct, Profile: given.Profile, UserMatch: given.UserMatch, ProxyPorts: given.ProxyPorts, Policy: given.Policy,
		FromRecord: *fromRecord, StateDir: stateDir, Open: open, Analytics: *sf.analytics, DryRun: *dryRun,
		ToolVersion: version.Get().Version, Readers: readers,
	}
	// Refused input creates nothing: checked before the log file (and with it the state
	// directory) is created.
	if err := setup.CheckInput(so); err != nil {
		return c.fail("setup", err)
	}
	if spec := *sf.engine; strings.HasPrefix(spec, "memory:") && !*dryRun {
		if err := checkWritable(strings.TrimPrefix(spec, "memory:")); err != nil {
			return c.fail("setup", err)
		}
	}
	log, closer := sf.logger(c, stateDir, !*dryRun, !*dryRun)
	defer closer.Close()
	so.Logger = log
	rep, err := setup.Run(ctx, so)
	if err != nil {
		return c.fail("setup", err)
	}
	if rep.Reasons == nil {
		rep.Reasons = []setup.Reason{} // JSON [] as README shows, not null
	}
	if rep.WFPFailed() && rep.DryRun {
		// A failure (exit 2): the report carries the error document's fields too, so a
		// script reading "error" from any failing command finds it here as well.
		s, _ := rep.Step(setup.StepWFP)
		doc := struct {
			setup.Report
			Error string `json:"error"`
			Code  string `json:"code,omitempty"`
		}{rep, "dry run: the WFP policy could not be read: " + s.Error, s.Code}
		c.emit(doc, func(w io.Writer) { printSetupReport(w, &rep) })
		return exitError // nothing was changed or recorded, and nothing will be retried
	}
	c.emit(rep, func(w io.Writer) { printSetupReport(w, &rep) })
	switch {
	case rep.WFPFailed():
		return exitWFPFailed
	}
	return exitOK
}

func printSetupReport(w io.Writer, rep *setup.Report) {
	who := rep.Account.SID
	if rep.Account.Name != "" {
		who = rep.Account.Name + " (" + rep.Account.SID + ")"
		if rep.Account.Domain != "" {
			who = rep.Account.Domain + `\` + who
		}
	}
	fmt.Fprintf(w, "setup for %s: profile %s, %d filters, setup version %d\n", who, rep.Profile, rep.FilterCount, rep.SetupVersion)
	for _, r := range rep.Reasons {
		fmt.Fprintf(w, "  why: %s\n", r.Detail)
	}
	for _, s := range rep.Steps {
		switch s.Status {
		case setup.StatusOK:
			fmt.Fprintf(w, "  %-8s ok (%s)\n", s.Name, s.Finished.Sub(s.Started).Round(time.Millisecond))
		case setup.StatusFailed:
			fmt.Fprintf(w, "  %-8s FAILED after %d attempt(s): %s\n", s.Name, s.Attempts, s.Error)
		default:
			fmt.Fprintf(w, "  %-8s %s\n", s.Name, s.Status)
		}
	}
	printChanges(w, &reconcile.Result{Changes: rep.Changes, Writes: rep.Writes, DryRun: rep.DryRun})
	for _, f := range rep.Overrides {
		fmt.Fprintf(w, "warning: %s {%s} (%s): %s — setup cannot remove another owner's filter; see 'wfpsandbox verify'\n",
			f.Name, f.Key, f.Problem, f.Detail)
	}
	if rep.SetAside != "" {
		fmt.Fprintf(w, "unusable setup record kept as %s\n", rep.SetAside)
	}
	if rep.Migrated != "" {
		fmt.Fprintf(w, "old setup-marker.json migrated into the record of %s\n", rep.Migrated)
	}
	if rep.RecordPath != "" {
		fmt.Fprintf(w, "record: %s\n", rep.RecordPath)
	}
	switch {
	case rep.WFPFailed() && rep.DryRun:
		fmt.Fprintln(w, "dry run: the WFP policy could not be read, so the change set is unknown; nothing was written (exit code 2)")
	case rep.WFPFailed():
		fmt.Fprintln(w, "setup done, but the WFP step failed; it will be retried on the next run (exit code 3)")
	}
}

// checkWritable refuses, as bad input (exit 2), a simulated host whose directory setup
// cannot write, before anything is written: opening the host only reads it, and without
// this the WFP step would fail, be recorded and be retried (exit 3) for a mistyped path.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	probe, err := os.CreateTemp(dir, filepath.Base(path)+".probe-*")
	if err != nil {
		return fmt.Errorf("--engine memory:%s: the directory %s cannot be written: %w", path, dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}
