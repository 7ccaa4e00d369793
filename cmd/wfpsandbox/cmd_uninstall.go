package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
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
	stateDirFlag := fs.String("state-dir", "", "state directory whose setup marker goes with the account's filters (default: as setup)")
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
	// Take turns with setup, and forget the marker of what is removed (below).
	stateDir := ""
	if !*dryRun {
		d, err := uninstallStateDir(*stateDirFlag)
		if err != nil {
			return c.fail("uninstall", err)
		}
		stateDir = d
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
		if err := forgetMarker(stateDir, target); err != nil {
			fmt.Fprintf(c.stderr, "wfpsandbox uninstall: warning: %v; ensure may call the removed policy current until setup runs again\n", err)
			log.Warn("uninstall: the setup marker could not be removed: " + err.Error())
		}
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

// uninstallStateDir returns the state directory whose marker uninstall must forget:
// --state-dir, else setup's default; "" when that directory does not exist (setup never
// ran there, so there is no marker and no one to take turns with).
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

// forgetMarker removes the setup marker in stateDir when it records the account whose
// filters were removed (or any account, for --all): otherwise ensure, which relies on
// the marker when it cannot read the live policy (unelevated), would go on calling the
// removed policy current. With no marker, ensure reports "no-marker" and setup
// reinstalls. A missing or unusable marker needs nothing.
func forgetMarker(stateDir, targetSID string) error {
	if stateDir == "" {
		return nil
	}
	m, err := setup.ReadMarker(stateDir)
	if err != nil {
		return nil
	}
	if targetSID != "" && !strings.EqualFold(m.Account.SID, targetSID) {
		return nil
	}
	if err := os.Remove(filepath.Join(stateDir, setup.MarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the setup marker: %w", err)
	}
	return nil
}
