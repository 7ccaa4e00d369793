package main

import (
	"context"
	"io"

	"github.com/wfpsandbox/wfpsandbox/reconcile"
)

// Interim setup: installs the plan through reconcile directly. The full setup (marker,
// retry, logs, metrics) replaces this file.

func init() {
	register(&command{
		name:    "setup",
		summary: "install or update the WFP policy for the sandbox account (elevated)",
		usage:   "--sid SID | --account NAME [--profile P] [--user-match M] [--engine windows|memory:PATH] [--dry-run] [--format text|json]",
		run:     runSetup,
	})
}

func runSetup(_ context.Context, c *cli, args []string) int {
	fs := c.flags("setup")
	pf := addPlanFlags(fs)
	engine := engineFlag(fs)
	dryRun := fs.Bool("dry-run", false, "compute the change set, change nothing")
	if !c.parse(fs, args) {
		return exitError
	}
	plan, err := pf.build()
	if err != nil {
		return c.fail("setup", err)
	}
	e, err := openSetupEngine(c, *engine, *dryRun)
	if err != nil {
		return c.fail("setup", err)
	}
	defer e.Close()
	res, err := reconcile.Install(e, plan, reconcile.Options{DryRun: *dryRun})
	if err != nil {
		return c.fail("setup", err)
	}
	c.emit(res, func(w io.Writer) { printChanges(w, res) })
	return exitOK
}
