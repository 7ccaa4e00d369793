package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func init() {
	register(&command{
		name: "ensure",
		summary: "unelevated: exit 0 if setup is current, else run setup (elevating via UAC on Windows) " +
			"or, with --no-elevate or while a failed step's retry is deferred, exit 4 with the reasons",
		usage: "[--sid SID | --account NAME] [--profile P] [--user-match M] [--proxy-port N] [--policy FILE] " +
			"[--engine windows|memory:PATH] [--state-dir DIR] [--no-elevate] [--require-live] [--retry-backoff D] [--analytics] [--format text|json]",
		run: runEnsure,
	})
}

// ensureDoc is ensure's JSON output.
type ensureDoc struct {
	Current  bool               `json:"current"`
	Action   string             `json:"action"` // "none", "setup-needed", "retry-deferred", "live-unreadable", "elevated-setup-ran"
	Check    *setup.CheckResult `json:"check"`
	Deferred []setup.Deferred   `json:"deferred,omitempty"`
	ExitCode int                `json:"exitCode"`

	// Live is whether the live WFP policy was read (by key); LiveReason says why not
	// (setup.LiveAccessDenied, …). Copies of Check's fields, so that a caller sees at
	// once whether "current" rests on the marker alone.
	Live       bool   `json:"live"`
	LiveReason string `json:"liveReason,omitempty"`
}

func runEnsure(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("ensure")
	sf := addSetupFlags(fs)
	noElevate := fs.Bool("no-elevate", false, "never elevate or run setup: exit 4 with the reasons when setup is needed")
	backoff := fs.Duration("retry-backoff", setup.DefaultRetryBackoff,
		"wait this long (doubling per consecutive failure, up to 6h) before retrying a failed WFP step; 0 retries at once")
	requireLive := fs.Bool("require-live", false,
		"exit 4 (reason live-unreadable) instead of 0 when the marker says current but the live WFP policy could not be read")
	if !c.parse(fs, args) {
		return exitError
	}
	acct, err := sf.accountArg()
	if err != nil {
		return c.fail("ensure", err)
	}
	stateDir, err := sf.stateDirOrDefault()
	if err != nil {
		return c.fail("ensure", err)
	}
	popts, err := sf.plan.optionsFor("")
	if err != nil {
		return c.fail("ensure", err)
	}
	// Only what was given on the command line counts; the rest comes from the marker.
	co := setup.CheckOptions{Account: acct, StateDir: stateDir, RetryBackoff: *backoff}
	if *backoff == 0 {
		co.RetryBackoff = -1
	}
	if sf.plan.policyFile != "" || sf.plan.given("profile") {
		co.Profile = popts.Profile
	}
	if sf.plan.policyFile != "" || sf.plan.given("user-match") {
		co.UserMatch = popts.UserMatch
	}
	co.ProxyPorts, co.Extra = popts.ProxyPorts, popts.Extra
	if *sf.engine != "" {
		spec := *sf.engine
		co.Open = func() (wfp.Engine, error) { return openEngine(spec) }
	}
	log, closer := sf.logger(c, stateDir, false, true)
	defer closer.Close()
	co.Logger = log

	res, err := setup.Check(ctx, co)
	if err != nil {
		return c.fail("ensure", err)
	}
	current := res.Current() && len(res.Deferred) == 0
	doc := &ensureDoc{Current: current, Live: res.Live, LiveReason: res.LiveReason, Action: "none", Check: res, Deferred: res.Deferred}
	if current && *requireLive && !res.Live {
		// Only the marker says current. A setup fixes this only when the cause is a
		// missing read grant (it re-applies it), not when BFE is down or the readers
		// leave the caller out; elevating on every start for those would prompt
		// forever. So this does not elevate: it reports, and the caller decides.
		res.Reasons = append(res.Reasons, setup.Reason{Code: setup.ReasonLiveUnreadable,
			Detail: fmt.Sprintf("the live WFP policy could not be read (%s): %s", res.LiveReason, res.LiveError)})
		doc.Current, doc.Action, doc.ExitCode = false, "live-unreadable", exitSetupNeeded
		c.emit(doc, func(w io.Writer) { printCheck(w, res) })
		return exitSetupNeeded
	}
	if current {
		c.emit(doc, func(w io.Writer) { printCheck(w, res) })
		return exitOK
	}
	doc.Action, doc.ExitCode = "setup-needed", exitSetupNeeded
	if res.Current() {
		// Only a failed step whose retry waits for the backoff: do not prompt for
		// elevation yet, but do not call the host current either — the WFP policy
		// may well be missing, and a detection script or start-up path must know.
		doc.Action = "retry-deferred"
		c.emit(doc, func(w io.Writer) { printCheck(w, res) })
		return exitSetupNeeded
	}
	if *noElevate {
		c.emit(doc, func(w io.Writer) { printCheck(w, res) })
		return exitSetupNeeded
	}
	if res.Account.SID == "" {
		// One JSON document on stdout: the error. The reasons go to stderr.
		printCheck(c.stderr, res)
		return c.fail("ensure", errors.New("setup is needed but no account is known: name it with --sid or --account"))
	}
	if res.PartialPlan {
		// The marker does not record the policy file: a setup from what it does record
		// would delete the file's extra block rules.
		printCheck(c.stderr, res)
		return c.fail("ensure", errors.New("setup is needed, but the last setup used a policy file that ensure was not given; "+
			"rerun ensure with the same --policy FILE (a setup without it would remove that file's rules)"))
	}
	setupArgs := ensureSetupArgs(sf, res, co, stateDir)
	log.Info("setup needed; running it", setup.Event(setup.EventSetupNeeded), "reasons", fmt.Sprint(res.Reasons))
	if c.format == "text" {
		printCheck(c.stderr, res)
	}

	elevated, eerr := account.IsElevated()
	if runtime.GOOS != "windows" || (eerr == nil && elevated) {
		// Already as privileged as we can be: run setup here, with its output.
		return runSetup(ctx, c, setupArgs[1:])
	}
	exe, err := os.Executable()
	if err != nil {
		return c.fail("ensure", fmt.Errorf("find wfpsandbox.exe to relaunch elevated: %w", err))
	}
	fmt.Fprintf(c.stderr, "wfpsandbox ensure: asking for elevation to run setup (its log: %s)\n", stateDir)
	code, err := setup.Elevate(ctx, exe, setupArgs)
	if err != nil {
		return c.fail("ensure", err)
	}
	doc.Action, doc.ExitCode = "elevated-setup-ran", code
	c.emit(doc, func(w io.Writer) { fmt.Fprintf(w, "elevated setup finished with exit code %d\n", code) })
	return code
}

// ensureSetupArgs is the setup command line that brings the host to what Check wanted.
func ensureSetupArgs(sf *setupFlags, res *setup.CheckResult, co setup.CheckOptions, stateDir string) []string {
	args := []string{"setup", "--sid", res.Account.SID, "--state-dir", absPath(stateDir)}
	if sf.plan.policyFile != "" {
		args = append(args, "--policy", absPath(sf.plan.policyFile))
	} else {
		args = append(args, "--profile", res.Profile)
		um := string(co.UserMatch)
		if um == "" && res.Marker != nil {
			um = res.Marker.UserMatch
		}
		if um == "" {
			um = string(policy.DefaultUserMatch)
		}
		args = append(args, "--user-match", um)
		ports := co.ProxyPorts
		if len(ports) == 0 && res.Marker != nil && !sf.plan.given("profile") {
			ports = res.Marker.ProxyPorts
		}
		for _, p := range ports {
			args = append(args, "--proxy-port", fmt.Sprint(p))
		}
	}
	if spec := *sf.engine; strings.HasPrefix(spec, "memory:") {
		args = append(args, "--engine", "memory:"+absPath(strings.TrimPrefix(spec, "memory:")))
	} else if spec != "" {
		args = append(args, "--engine", spec)
	}
	// The elevated process need not see this process's environment (ShellExecuteEx
	// "runas" starts it through the AppInfo service), so an analytics switch given by
	// WFPSANDBOX_ANALYTICS is passed on as the flag.
	if on, _, _ := setup.AnalyticsEnabled(*sf.analytics, stateDir); on {
		args = append(args, "--analytics")
	}
	return args
}

// absPath makes p absolute. The elevated setup does not necessarily start in this
// process's working directory, so the paths ensure hands it must not be relative; p is
// returned as is when the working directory cannot be found.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func printCheck(w io.Writer, res *setup.CheckResult) {
	switch {
	case res.Current() && len(res.Deferred) > 0:
		fmt.Fprintln(w, "setup needed: a step of the last setup failed; its retry is deferred (no elevation before then)")
	case res.Current():
		fmt.Fprintf(w, "current: setup version %d", setup.SetupVersion)
		if res.Account.SID != "" {
			fmt.Fprintf(w, " for %s, profile %s", res.Account.SID, res.Profile)
		}
		if res.Live {
			fmt.Fprint(w, ", live policy verified")
		}
		fmt.Fprintln(w)
	default:
		if len(res.Reasons) == 1 && res.Reasons[0].Code == setup.ReasonLiveUnreadable {
			fmt.Fprintln(w, "not current (--require-live): the marker says current, but the live policy could not be read:")
		} else {
			fmt.Fprintln(w, "setup needed:")
		}
		for _, r := range res.Reasons {
			fmt.Fprintf(w, "  %s: %s\n", r.Code, r.Detail)
		}
	}
	for _, d := range res.Deferred {
		fmt.Fprintf(w, "retry of a failed step deferred until %s: %s\n", d.Due.Local().Format(time.RFC3339), d.Reason.Detail)
	}
	if !res.Live && res.LiveError != "" {
		fmt.Fprintf(w, "live: false (%s): the live WFP policy was not read, so this rests on the marker alone: %s\n", res.LiveReason, res.LiveError)
	}
}
