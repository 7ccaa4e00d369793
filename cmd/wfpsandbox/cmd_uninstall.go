package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
)

func init() {
	register(&command{
		name:    "uninstall",
		summary: "remove one account's filters (--sid) or every wfpsandbox object (--all), in one transaction",
		usage:   "--sid SID | --account NAME | --all [--dry-run] [--engine windows|memory:PATH] [--format text|json]",
		run:     runUninstall,
	})
}

func runUninstall(_ context.Context, c *cli, args []string) int {
	fs := c.flags("uninstall")
	sid := fs.String("sid", "", "remove the filters of the account with this SID")
	name := fs.String("account", "", "remove the filters of the account with this name (Windows only)")
	all := fs.Bool("all", false, "remove every wfpsandbox filter, the sublayer and the provider")
	dryRun := fs.Bool("dry-run", false, "print what would be removed, change nothing")
	engine := engineFlag(fs)
	if !c.parse(fs, args) {
		return exitError
	}
	target := *sid
	switch n := boolCount(*sid != "", *name != "", *all); {
	case n != 1:
		return c.fail("uninstall", fmt.Errorf("give exactly one of --sid, --account or --all"))
	case *name != "":
		a, err := account.Resolve(*name)
		if err != nil {
			return c.fail("uninstall", err)
		}
		target = a.SID.String()
	case *sid != "":
		s, err := account.ParseSID(*sid)
		if err != nil {
			return c.fail("uninstall", err)
		}
		target = s.String()
	}
	if *engine == "windows" && !*dryRun {
		if err := account.RequireElevation("uninstall"); err != nil {
			return c.fail("uninstall", err)
		}
	}
	e, err := openEngine(*engine)
	if err != nil {
		return c.fail("uninstall", err)
	}
	defer e.Close()
	log, closer := auditLogger()
	defer closer.Close()
	who := target
	if who == "" {
		who = "every account"
	}
	res, err := reconcile.Uninstall(e, target, reconcile.Options{DryRun: *dryRun})
	if err != nil {
		log.Error("uninstall failed; nothing was changed", setup.Event(setup.EventUninstallError), "target", who, "error", err)
		return c.fail("uninstall", err)
	}
	if !res.DryRun {
		log.Info("uninstall done", setup.Event(setup.EventUninstallOK), "target", who, "writes", res.Writes)
	}
	c.emit(res, func(w io.Writer) { printChanges(w, res) })
	return exitOK
}

func printChanges(w io.Writer, res *reconcile.Result) {
	verb := "made"
	if res.DryRun {
		verb = "would make"
	}
	fmt.Fprintf(w, "%s %d write(s)\n", verb, len(res.Changes))
	for _, ch := range res.Changes {
		fmt.Fprintf(w, "  %-6s %-8s {%s} %s", ch.Op, ch.Kind, ch.Key, ch.Name)
		if ch.Reason != "" {
			fmt.Fprintf(w, " (%s)", ch.Reason)
		}
		fmt.Fprintln(w)
	}
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
