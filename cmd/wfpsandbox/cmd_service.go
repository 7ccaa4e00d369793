package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/service"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/version"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func init() {
	register(&command{
		name: "service",
		summary: "the optional Windows service: install|uninstall|start|stop (elevated) or status; it keeps every recorded " +
			"account's policy in place and answers \\\\.\\pipe\\wfpsandbox (the policy works without it)",
		usage: "install [--state-dir DIR] | uninstall | start | stop | status [--sid SID]  [--format text|json]",
		run:   runService,
	})
}

// serviceDoc is the JSON of every service subcommand.
type serviceDoc struct {
	Action string `json:"action"`
	// Installed, State and PID are the service control manager's view (status).
	Installed bool   `json:"installed"`
	State     string `json:"state,omitempty"`
	PID       uint32 `json:"pid,omitempty"`
	// Account is the service's live status of the account status --sid named,
	// asked over the pipe; Pipe says why there is none.
	Account *service.StatusResult `json:"account,omitempty"`
	Pipe    string                `json:"pipe,omitempty"`
	// PolicyKept is true for uninstall: the WFP policy and the records stay.
	PolicyKept bool `json:"policyKept,omitempty"`
	// Warnings: what install registered with less than it asked for.
	Warnings []string `json:"warnings,omitempty"`
}

func runService(ctx context.Context, c *cli, args []string) int {
	sub := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs := c.flags("service")
	stateDir := fs.String("state-dir", "", "state directory the service keeps converged (default: $WFPSANDBOX_STATE_DIR, else %ProgramData%\\wfpsandbox)")
	engine := engineFlag(fs)
	analytics := fs.Bool("analytics", false, "count repairs (and, with [service] drop_metrics, drops) as OpenTelemetry metrics (also on with WFPSANDBOX_ANALYTICS=1 or 'analytics = true' in config.toml)")
	verbose := fs.Bool("verbose", false, "log debug records on stderr")
	sid := fs.String("sid", "", "status: also ask the running service, over its pipe, for the live status of this account")
	// --scm is what install registers: the process was started by the service control
	// manager and connects to it (StartServiceCtrlDispatcher), rather than guessing.
	scm := fs.Bool("scm", false, "run: started by the service control manager (what 'service install' registers)")
	if !c.parse(fs, args) {
		return exitError
	}
	if *sid != "" && sub != "status" {
		return c.fail("service "+sub, errors.New("--sid goes with status only"))
	}
	switch sub {
	case "install", "uninstall", "start", "stop", "status":
		doc, err := serviceControl(sub, *stateDir)
		if err != nil {
			return c.fail("service "+sub, err)
		}
		if *sid != "" {
			if err := askServiceStatus(ctx, doc, *sid); err != nil {
				return c.fail("service status", err)
			}
		}
		c.emit(doc, func(w io.Writer) { printServiceDoc(w, doc) })
		return exitOK
	case "run":
		return runServiceProcess(ctx, c, *stateDir, *engine, *analytics, *verbose, *scm)
	case "":
		return c.fail("service", errors.New("name a subcommand: install, uninstall, start, stop or status"))
	}
	return c.fail("service", fmt.Errorf("unknown subcommand %q: want install, uninstall, start, stop or status", sub))
}

func printServiceDoc(w io.Writer, d *serviceDoc) {
	switch d.Action {
	case "status":
		if !d.Installed {
			fmt.Fprintln(w, "the wfpsandbox service is not installed (the WFP policy does not need it)")
			return
		}
		fmt.Fprintf(w, "the wfpsandbox service is %s", d.State)
		if d.PID != 0 {
			fmt.Fprintf(w, " (pid %d)", d.PID)
		}
		fmt.Fprintln(w)
		if d.Pipe != "" {
			fmt.Fprintf(w, "pipe %s: %s\n", service.PipeName, d.Pipe)
		}
		if a := d.Account; a != nil {
			fmt.Fprintf(w, "%s: profile %s, %d of %d filters as planned, current %v (live, as the service sees it)\n",
				a.SID, a.Profile, a.Verify.Matching, a.Verify.Planned, a.Current)
			for _, f := range a.Verify.Findings {
				fmt.Fprintf(w, "  %s %s %s: %s\n", f.Kind, f.Name, f.Problem, f.Detail)
			}
			if a.Notifications {
				fmt.Fprintln(w, "the service converges on WFP change notifications and on its poll")
			} else {
				fmt.Fprintln(w, "the service converges on its poll only (no WFP change notifications now)")
			}
		}
	case "uninstall":
		fmt.Fprintln(w, "the wfpsandbox service is uninstalled; the WFP policy and the setup records are kept")
	default:
		fmt.Fprintf(w, "service %s: done\n", d.Action)
	}
	for _, x := range d.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

// askServiceStatus asks the service over its pipe for sid's live status. No service
// to ask is reported in doc.Pipe; a refusal is an error.
func askServiceStatus(ctx context.Context, doc *serviceDoc, sid string) error {
	ctx, cancel := context.WithTimeout(ctx, serviceAskTimeout)
	defer cancel()
	resp, err := askService(ctx, &service.Request{Version: service.ProtocolVersion, Op: service.OpStatus, SID: sid})
	switch {
	case errors.Is(err, service.ErrNotAvailable):
		doc.Pipe = err.Error()
		return nil
	case err != nil:
		return err
	case !resp.OK:
		return fmt.Errorf("the service refused status (%s): %s", resp.Error.Code, resp.Error.Message)
	}
	doc.Pipe, doc.Account = "answered", resp.Status
	return nil
}

// runServiceProcess is `wfpsandbox service run`: what the service control manager
// starts (or, run from a console, the same loop in the foreground until Ctrl+C).
func runServiceProcess(ctx context.Context, c *cli, stateDir, engine string, analytics, verbose, scm bool) int {
	if stateDir == "" {
		d, err := setup.DefaultStateDir()
		if err != nil {
			return c.fail("service run", err)
		}
		stateDir = d
	}
	// The logger comes first: started by the service control manager, stderr goes
	// nowhere, and a config.toml the service refuses must reach the log file and the
	// Event Log, or the admin sees only a service that does not start.
	level := setupLogLevel(verbose)
	log, closer, warnings := setup.NewLogger(setup.LogOptions{Stderr: c.stderr, Level: level, StateDir: stateDir, EventLog: runtime.GOOS == "windows"})
	defer closer.Close()
	for _, w := range warnings {
		log.Warn("logging: " + w.Error())
	}
	refuse := func(err error) int {
		log.Error("service: not started: "+err.Error(), setup.Event(setup.EventServiceState), "stateDir", stateDir)
		return c.fail("service run", err)
	}
	poll, callers, err := service.FromConfig(stateDir)
	if err != nil {
		return refuse(err)
	}
	drops, err := service.DropMetricsConfigured(stateDir)
	if err != nil {
		return refuse(err)
	}
	on, warning, err := setup.AnalyticsEnabled(analytics, stateDir)
	if warning != nil {
		log.Warn("analytics setting ignored: " + warning.Error())
	}
	if err != nil {
		return refuse(err)
	}
	metrics, err := telemetry.Start(ctx, telemetry.Config{Enabled: on, ServiceVersion: version.Get().Version, ExportInterval: time.Minute})
	if err != nil {
		log.Warn("metrics disabled: "+err.Error(), setup.Event(setup.EventMetricsFailed))
	}
	defer func() {
		if err := metrics.Close(context.Background()); err != nil {
			log.Warn("metrics not sent: "+err.Error(), setup.Event(setup.EventMetricsFailed))
		}
	}()
	spec := engine
	svc, err := service.New(service.Config{
		StateDir: stateDir, Logger: log, Metrics: metrics, Poll: poll, Callers: callers, DropMetrics: drops,
		Open:   func() (wfp.Engine, error) { return openEngine(spec) },
		Events: serviceEventLog(spec),
	})
	if err != nil {
		return refuse(err)
	}
	if err := serveService(ctx, svc, scm); err != nil {
		log.Error("service: "+err.Error(), setup.Event(setup.EventServiceState))
		return c.fail("service run", err)
	}
	return exitOK
}

// serviceEventLog opens the net event log of the engine spec names for events requests.
func serviceEventLog(spec string) service.EventLog {
	return func() (src events.Source, filters events.Filters, closer io.Closer, err error) {
		l, err := openEventLog(spec, -1)
		if err != nil {
			return nil, nil, nil, err
		}
		return l.src, l.filters, closerFunc(l.close), nil
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func setupLogLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
