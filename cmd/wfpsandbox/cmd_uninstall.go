package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
)

func init() {
	register(&command{
		name:    "uninstall",
		summary: "remove one account's filters (--sid) or every wfpsandbox object (--all), in one transaction",
		usage:   "--sid SID | --account NAME | --all [--dry-run] [--engine windows|memory:PATH] [--state-dir DIR] [--format text|json]",
		run:     runUninstall,
	})
}

func runUninstall(ctx context.Context, c *cli, args []string) int {
	fs := c.flags("uninstall")
	sid := fs.String("sid", "", "remove the filters of the account with this SID")
	name := fs.String("account", "", "remove the filters of the account with this name (Windows only)")
	all := fs.Bool("all", false, "remove every wfpsandbox filter, every wfpsandbox sublayer (shared and per-account) and the provider")
	dryRun := fs.Bool("dry-run", false, "print what would be removed, change nothing")
	engine := engineFlag(fs)
	stateDirFlag := fs.String("state-dir", "", "state directory whose setup records go with the filters (default: as setup)")
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
	// Opened before anything is created or removed: a mistyped --engine memory:PATH is
	// refused here, before the lock and the record of the real host are touched.
	e, err := openEngine(*engine)
	if err != nil {
		return c.fail("uninstall", err)
	}
	defer e.Close()
	// uninstall --all also removes the wfpsandbox service (Windows), first: stopped,
	// it cannot repair what is being removed. Removing one account keeps it.
	serviceRemoved := false
	if *all && !*dryRun && *engine == "windows" {
		if serviceRemoved, err = removeService(); err != nil {
			return c.fail("uninstall", fmt.Errorf("remove the wfpsandbox service (nothing else was changed): %w", err))
		}
	}
	// Take turns with setup, and forget the record of what is removed (below).
	stateDir := ""
	if !*dryRun {
		d, err := uninstallStateDir(*stateDirFlag)
		if err != nil {
			return c.fail("uninstall", err)
		}
		stateDir = d
	}
	if stateDir != "" {
		// Refused before the transaction: records removed through a planted link as
		// accounts/ would be files outside the state directory, and a record left in
		// place after the filters went would have ensure call the removed policy current.
		if err := state.CheckDir(stateDir); err != nil {
			return c.fail("uninstall", err)
		}
	}
	if stateDir != "" {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		lock, err := setup.AcquireLock(lctx, stateDir, slog.New(slog.NewTextHandler(c.stderr, nil)))
		cancel()
		if err != nil {
			return c.fail("uninstall", err)
		}
		defer lock.Release()
	}
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
	doc := uninstallDoc{Result: res, Target: target, NothingInstalled: len(res.Changes) == 0, ServiceRemoved: serviceRemoved}
	if !res.DryRun {
		log.Info("uninstall done", setup.Event(setup.EventUninstallOK), "target", who, "writes", res.Writes)
		removed, err := forgetRecords(stateDir, target)
		if err != nil {
			fmt.Fprintf(c.stderr, "wfpsandbox uninstall: warning: %v; ensure may call the removed policy current until setup runs again\n", err)
			log.Warn("uninstall: the setup record could not be removed: " + err.Error())
		}
		doc.RecordRemoved, doc.RecordPaths = len(removed) > 0, removed
	}
	c.emit(doc, func(w io.Writer) {
		if doc.NothingInstalled {
			if target != "" {
				fmt.Fprintf(w, "nothing installed for %s: no wfpsandbox filter of that account on this host\n", target)
			} else {
				fmt.Fprintln(w, "nothing installed: no wfpsandbox object on this host")
			}
		} else {
			printChanges(w, res)
		}
		if doc.ServiceRemoved {
			fmt.Fprintln(w, "removed the wfpsandbox service")
		}
		for _, p := range doc.RecordPaths {
			fmt.Fprintf(w, "removed the setup record %s (ensure now reports setup needed)\n", p)
		}
	})
	return exitOK
}

// uninstallDoc is uninstall's JSON: the reconcile result and what happened to the
// setup record (the marker).
type uninstallDoc struct {
	*reconcile.Result
	// Target is the SID whose filters were removed; empty for --all.
	Target string `json:"target,omitempty"`
	// NothingInstalled is true when there was nothing to remove (no wfpsandbox filter
	// of the account, or with --all no wfpsandbox object at all).
	NothingInstalled bool `json:"nothingInstalled"`
	// RecordRemoved is true when the setup record of the removed account (every
	// account's, for --all) was deleted; RecordPaths are those files (the old single
	// marker among them when it recorded the account). Never set by a dry run.
	RecordRemoved bool     `json:"recordRemoved"`
	RecordPaths   []string `json:"recordPaths,omitempty"`
	// ServiceRemoved is true when --all also removed the wfpsandbox service (Windows).
	ServiceRemoved bool `json:"serviceRemoved,omitempty"`
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

// uninstallStateDir returns the state directory whose records uninstall must forget:
// --state-dir, else setup's default; "" when that directory does not exist (setup never
// ran there, so there is no record and no one to take turns with).
func uninstallStateDir(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		d, err := setup.DefaultStateDir()
		if err != nil {
			return "", err
		}
		dir = d
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("state directory: %w", err)
	case !fi.IsDir():
		return "", fmt.Errorf("state directory %s is not a directory (pass --state-dir)", dir)
	}
	return dir, nil
}

// forgetRecords removes the setup record of the account whose filters were removed
// (every account's, for --all), and the old single marker if it records it: otherwise
// ensure, which relies on the record when it cannot read the live policy
// (unelevated), would go on calling the removed policy current. Other accounts'
// records stay: their filters are still installed. With no record, ensure reports
// "no-record" and setup reinstalls. It returns the files it removed.
func forgetRecords(stateDir, targetSID string) ([]string, error) {
	if stateDir == "" {
		return nil, nil
	}
	if targetSID == "" {
		return state.RemoveAll(stateDir)
	}
	return state.Remove(stateDir, targetSID)
}
