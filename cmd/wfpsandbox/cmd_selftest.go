package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest"
	"github.com/wfpsandbox/wfpsandbox/selftest/probe"
	"github.com/wfpsandbox/wfpsandbox/version"
)

func init() {
	register(&command{
		name:    "selftest",
		summary: "check on this Windows host, in a temporary account, that the policy blocks what it claims and nothing else (elevated; leaves nothing behind)",
		usage:   "[--profile P] [--user-match M] [--proxy-port N] [--policy FILE] [--keep-account] [--report FILE] [--format text|json]",
		run:     runSelftest,
	})
	register(&command{
		name:    selftest.ProbeCommand,
		summary: "internal: the selftest's probe helper",
		usage:   "-plan PLAN.json -out OUT.jsonl [-as SHAPE]",
		hidden:  true,
		run: func(_ context.Context, c *cli, args []string) int {
			return probe.Main([]string{selftest.ProbeCommand}, args, c.stderr)
		},
	})
}

func runSelftest(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("selftest")
	pf := addPlanFlags(fs)
	keep := fs.Bool("keep-account", false, "leave the temporary account and its profile in place at the end (its password is not kept)")
	reportPath := fs.String("report", "", "also write the JSON report to this file")
	if !c.parse(fs, args) {
		return exitError
	}
	if pf.sid != "" || pf.account != "" {
		return c.fail("selftest", fmt.Errorf("--sid and --account do not apply: the selftest creates its own temporary account and deletes it at the end"))
	}
	// Refuse bad input (profile, user-match, proxy ports, policy file) before anything
	// is created: build the plan once for a placeholder account.
	opts, err := pf.optionsFor(selftest.PlaceholderSID)
	if err != nil {
		return c.fail("selftest", err)
	}
	plan, err := policy.Build(opts)
	if err != nil {
		return c.fail("selftest", err)
	}
	ctx, stop := untilTerminated(ctx)
	defer stop()
	rep, err := selftest.Run(ctx, selftest.RunOptions{
		Config:      selftestConfig(plan, opts, pf.policyFile),
		Plan:        pf.optionsFor,
		KeepAccount: *keep,
		Version:     version.Get().Version,
		Logger:      slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if rep == nil {
		return c.fail("selftest", err)
	}
	if *reportPath != "" {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*reportPath, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			fmt.Fprintf(c.stderr, "wfpsandbox selftest: writing the report to %s: %v\n", *reportPath, jerr)
		}
	}
	c.emit(rep, rep.WriteText)
	return rep.Verdict.ExitCode
}

// selftestConfig is what the report says is installed: the plan's profile and shape,
// the proxy ports and the policy file's rules, which get probes of their own. A
// policy file's rules do not depend on the SID, so those of the placeholder's options
// are the temporary account's (selftest.Run checks).
func selftestConfig(plan *policy.Plan, opts policy.Options, policyFile string) selftest.Config {
	return selftest.Config{Profile: plan.Profile, UserMatch: plan.UserMatch, ProxyPorts: opts.ProxyPorts, PolicyFile: policyFile,
		Extra: selftest.ExtraRulesOf(opts.Extra)}
}

// untilTerminated returns ctx cancelled, with a selftest.Terminating cause, when the
// process is about to be ended: on Windows a closed console (CTRL_CLOSE_EVENT; also
// CTRL_LOGOFF_EVENT and CTRL_SHUTDOWN_EVENT, which reach services only), which Go's
// os/signal delivers as syscall.SIGTERM ("if Notify is called, and Windows sends
// CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT or CTRL_SHUTDOWN_EVENT to the process, Notify will
// return syscall.SIGTERM", os/signal package doc, Windows section). The process is still
// ended within seconds (selftest.CloseBudget says how many are used); Ctrl+C stays the
// plain cancellation main installs, with no hurry.
func untilTerminated(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			cancel(&selftest.Terminating{At: time.Now(), Reason: "the console was closed (" + s.String() + ")"})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		cancel(nil)
	}
}
