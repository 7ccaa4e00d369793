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
	"github.com/wfpsandbox/wfpsandbox/service"
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
	Current bool   `json:"current"`
	Action  string `json:"action"` // "none", "setup-needed", "retry-deferred", "live-unreadable", "elevated-setup-ran", "service-set-proxy-ports"
	// Check is the account ensure acted on: the one named, the only recorded one, or
	// the recorded one that needs setup (the first when all are current).
	Check *setup.CheckResult `json:"check"`
	// Checks are every recorded account's, when ensure was given no account and more
	// than one has a record.
	Checks   []*setup.CheckResult `json:"checks,omitempty"`
	Deferred []setup.Deferred     `json:"deferred,omitempty"`
	ExitCode int                  `json:"exitCode"`

	// Live is whether the live WFP policy was read (by key) for every account
	// checked; LiveReason says why not (setup.LiveAccessDenied, …), for the first
	// that was not. Copies of the checks' fields, so that a caller sees at once
	// whether "current" rests on the record alone.
	Live       bool   `json:"live"`
	LiveReason string `json:"liveReason,omitempty"`
	// Via is "service" when the live status or the change came from the wfpsandbox
	// service, "direct" otherwise (today's path: ensure's own reads, setup elevated).
	Via string `json:"via"`
	// ServiceChange is what the service applied (action "service-set-proxy-ports").
	ServiceChange *service.SetProxyPortsResult `json:"serviceChange,omitempty"`
}

func runEnsure(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("ensure")
	sf := addSetupFlags(fs)
	noElevate := fs.Bool("no-elevate", false, "never elevate or run setup: exit 4 with the reasons when setup is needed")
	backoff := durationFlag(fs, "retry-backoff", setup.DefaultRetryBackoff,
		"wait this long (doubling per consecutive failure, up to 6h) before retrying a failed WFP step; 0 retries at once (default "+setup.DefaultRetryBackoff.String()+")")
	requireLive := fs.Bool("require-live", false,
		"exit 4 (reason live-unreadable) instead of 0 when the record says current but the live WFP policy could not be read")
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
	// Only what was given on the command line counts; the rest comes from the record.
	given, err := sf.plan.givenPlan(false)
	if err != nil {
		return c.fail("ensure", err)
	}
	co := setup.CheckOptions{Account: acct, StateDir: stateDir, RetryBackoff: *backoff,
		Profile: given.Profile, UserMatch: given.UserMatch, ProxyPorts: given.ProxyPorts, Policy: given.Policy}
	if *backoff == 0 {
		co.RetryBackoff = -1
	}
	if *sf.engine != "" {
		spec := *sf.engine
		// As setup's: ensure runs setup when the host lacks the policy, and a simulated
		// host with no file yet is one without it.
		co.Open = func() (wfp.Engine, error) { return openEngineFor(spec, true) }
	}
	log, closer := sf.logger(c, stateDir, false, true)
	defer closer.Close()
	co.Logger = log

	// With no account named, every recorded account is checked.
	all, err := setup.CheckAll(ctx, co)
	if err != nil {
		return c.fail("ensure", err)
	}
	for _, r := range all {
		if r.Reasons == nil {
			// JSON [] rather than null: `jq '.check.reasons[]'` fails on null.
			r.Reasons = []setup.Reason{}
		}
	}
	// The service, when it runs, sees the live policy an unelevated ensure cannot.
	via := viaDirect
	for _, r := range all {
		if serviceStatus(ctx, r) {
			via = viaService
		}
	}
	doc := &ensureDoc{Action: "none", Check: all[0], Via: via, Live: true}
	for _, r := range all {
		if !r.Live && doc.Live {
			doc.Live, doc.LiveReason = false, r.LiveReason
		}
	}
	if len(all) > 1 {
		doc.Checks = all
	}
	var needs, deferred, unreadable []*setup.CheckResult
	for _, r := range all {
		switch {
		case !r.Current():
			needs = append(needs, r)
		case len(r.Deferred) > 0:
			deferred = append(deferred, r)
		case *requireLive && !r.Live:
			// Only the record says current. A setup fixes this only when the cause
			// is a missing read grant (it re-applies it), not when BFE is down or the
			// readers leave the caller out; elevating on every start for those would
			// prompt forever. So this does not elevate: it reports, and the caller
			// decides.
			r.Reasons = append(r.Reasons, setup.Reason{Code: setup.ReasonLiveUnreadable,
				Detail: fmt.Sprintf("the live WFP policy could not be read (%s): %s", r.LiveReason, r.LiveError)})
			unreadable = append(unreadable, r)
		}
		doc.Deferred = append(doc.Deferred, r.Deferred...)
	}
	show := func(w io.Writer) {
		for _, r := range all {
			if len(all) > 1 {
				fmt.Fprintf(w, "%s: ", r.Account.SID)
			}
			printCheck(w, r)
		}
	}
	switch {
	case len(needs) == 0 && len(deferred) == 0 && len(unreadable) == 0:
		doc.Current = true
		c.emit(doc, show)
		return exitOK
	case len(needs) == 0 && len(deferred) == 0:
		doc.Action, doc.ExitCode, doc.Check = "live-unreadable", exitSetupNeeded, unreadable[0]
		c.emit(doc, show)
		return exitSetupNeeded
	case len(needs) == 0:
		// Only a failed step whose retry waits for the backoff: do not prompt for
		// elevation yet, but do not call the host current either — the WFP policy
		// may well be missing, and a detection script or start-up path must know.
		doc.Action, doc.ExitCode, doc.Check = "retry-deferred", exitSetupNeeded, deferred[0]
		c.emit(doc, show)
		return exitSetupNeeded
	}
	res := needs[0]
	doc.Action, doc.ExitCode, doc.Check = "setup-needed", exitSetupNeeded, res
	if *noElevate {
		c.emit(doc, show)
		return exitSetupNeeded
	}
	if len(needs) > 1 {
		show(c.stderr)
		var sids []string
		for _, r := range needs {
			sids = append(sids, r.Account.SID)
		}
		return c.fail("ensure", fmt.Errorf("setup is needed for %d recorded accounts (%s): run 'ensure --sid SID' for each, so that each setup is asked for on its own",
			len(needs), strings.Join(sids, ", ")))
	}
	if res.AccountMissing {
		// Setup would fail for it: no elevation prompt for nothing.
		show(c.stderr)
		return c.fail("ensure", fmt.Errorf("the setup record of %s names no account on this host; forget it with 'uninstall --sid %s'",
			res.Account.SID, res.Account.SID))
	}
	if res.Account.SID == "" {
		// One JSON document on stdout: the error. The reasons go to stderr.
		show(c.stderr)
		return c.fail("ensure", errors.New("setup is needed but no account is known: name it with --sid or --account"))
	}
	if ports, ok := onlyProxyPorts(sf.plan, res); ok {
		// A strict account whose only change is its proxy ports: the service applies
		// them (one transaction, the same plan code as setup), no UAC prompt.
		r, err := serviceSetProxyPorts(ctx, res.Account.SID, ports)
		if err == nil {
			log.Info("the wfpsandbox service applied the proxy ports", "sid", res.Account.SID, "proxyPorts", fmt.Sprint(ports), "writes", r.Writes)
			doc.Action, doc.Via, doc.Current, doc.ExitCode, doc.ServiceChange = "service-set-proxy-ports", viaService, true, exitOK, r
			c.emit(doc, func(w io.Writer) {
				fmt.Fprintf(w, "the wfpsandbox service set the proxy ports of %s to %v (%d writes); no elevation needed\n", res.Account.SID, ports, r.Writes)
			})
			return exitOK
		}
		log.Info("the proxy ports were not applied by the wfpsandbox service; running setup: " + err.Error())
	}
	setupArgs := ensureSetupArgs(sf, res, stateDir)
	log.Info("setup needed; running it", setup.Event(setup.EventSetupNeeded), "sid", res.Account.SID, "reasons", fmt.Sprint(res.Reasons))
	if c.format == "text" {
		show(c.stderr)
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

// ensureSetupArgs is the setup command line that brings the account res checked to
// what Check wanted: the plan flags ensure was given and, when the account has a
// usable record, --recorded-plan for everything they do not say (a policy file's
// rules included). Without a record, setup's defaults fill the rest, as Check's did.
func ensureSetupArgs(sf *setupFlags, res *setup.CheckResult, stateDir string) []string {
	args := []string{"setup", "--sid", res.Account.SID, "--state-dir", absPath(stateDir)}
	p := sf.plan
	if p.policyFile != "" {
		args = append(args, "--policy", absPath(p.policyFile))
	} else {
		if res.Record != nil {
			args = append(args, "--recorded-plan")
		}
		if p.given("profile") {
			args = append(args, "--profile", p.profile)
		}
		if p.given("user-match") {
			args = append(args, "--user-match", p.userMatch)
		}
		for _, port := range p.proxyPorts {
			args = append(args, "--proxy-port", fmt.Sprint(port))
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
			fmt.Fprint(w, ", live policy read back by key as planned")
		}
		fmt.Fprintln(w)
	default:
		if len(res.Reasons) == 1 && res.Reasons[0].Code == setup.ReasonLiveUnreadable {
			fmt.Fprintln(w, "not current (--require-live): the record says current, but the live policy could not be read:")
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
		fmt.Fprintf(w, "live: false (%s): the live WFP policy was not read, so this rests on the record alone: %s\n", res.LiveReason, res.LiveError)
	}
}
