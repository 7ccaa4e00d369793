package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "check that the installed policy matches the plan the account's last setup recorded (or the plan flags given) and that no other filter overrides it (exit 0 compliant, 1 findings)",
		usage: "--sid SID | --account NAME [--profile P] [--user-match M] [--proxy-port N] [--policy FILE] " +
			"[--engine windows|memory:PATH] [--state-dir DIR] [--format text|json]",
		run: runVerify,
	})
}

func runVerify(_ context.Context, c *cli, args []string) int {
	fs := c.flags("verify")
	pf := addPlanFlags(fs)
	engine := engineFlag(fs)
	stateDirFlag := fs.String("state-dir", "", "state directory holding the setup records (default: as setup)")
	if !c.parse(fs, args) {
		return exitError
	}
	sid, err := pf.resolveSID()
	if err != nil {
		return c.fail("verify", err)
	}
	// The plan: what the account's last setup recorded, the flags given overriding it
	// (a policy file replaces it); without a record, the flags and their defaults.
	given, err := pf.givenPlan(false)
	if err != nil {
		return c.fail("verify", err)
	}
	stateDir := *stateDirFlag
	if stateDir == "" {
		if stateDir, err = setup.DefaultStateDir(); err != nil {
			return c.fail("verify", err)
		}
	}
	plan, rec, recErr, err := setup.RecordedPlan(stateDir, sid, given)
	if err != nil {
		return c.fail("verify", err)
	}
	if recErr != nil {
		fmt.Fprintf(c.stderr, "wfpsandbox verify: warning: not using the setup record of %s (%v); checking the plan the flags choose\n", sid, recErr)
	} else if rec != nil && given.Policy == nil {
		fmt.Fprintf(c.stderr, "wfpsandbox verify: checking %s against its setup record (%s)\n", sid, state.Path(stateDir, sid))
	}
	e, err := openEngine(*engine)
	if err != nil {
		return c.fail("verify", err)
	}
	defer e.Close()
	log, closer := auditLogger()
	defer closer.Close()
	rep, err := reconcile.Verify(e, plan)
	if err != nil {
		log.Error("verify failed", setup.Event(setup.EventSetupError), "sid", plan.SID, "error", err)
		return c.fail("verify", err)
	}
	if rep.Compliant {
		log.Info("verify: policy compliant", setup.Event(setup.EventVerifyOK), "sid", plan.SID, "filters", len(plan.Filters))
	} else {
		log.Warn("verify: policy missing, drifted or overridden", setup.Event(setup.EventVerifyDrift), "sid", plan.SID, "findings", len(rep.Findings))
	}
	c.emit(rep, func(w io.Writer) {
		defer printPossibleOverrides(w, rep)
		if rep.Compliant {
			fmt.Fprintf(w, "compliant: %d filters for %s installed as planned, none overridden\n", len(plan.Filters), plan.SID)
			return
		}
		fmt.Fprintf(w, "NOT compliant for %s: %d finding(s)\n", plan.SID, len(rep.Findings))
		for _, f := range rep.Findings {
			fmt.Fprintf(w, "  %-8s %-8s {%s} %s", f.Problem, f.Kind, f.Key, f.Name)
			if f.Detail != "" {
				fmt.Fprintf(w, ": %s", f.Detail)
			}
			fmt.Fprintln(w)
			if hint := explainHint(plan.SID, *engine, f.Override); hint != "" {
				fmt.Fprintf(w, "           trace it: %s\n", hint)
			}
		}
	})
	if !rep.Compliant {
		return exitDrift
	}
	return exitOK
}

// printPossibleOverrides adds one line per possible override: filters that would
// override a block if conditions verify cannot evaluate (application ID, interface, …)
// matched. They are not findings and do not change the exit code.
func printPossibleOverrides(w io.Writer, rep *reconcile.Report) {
	if len(rep.PossibleOverrides) == 0 {
		return
	}
	fmt.Fprintf(w, "note: %d possible override(s), not counted as findings (they depend on conditions verify cannot evaluate):\n", len(rep.PossibleOverrides))
	for _, o := range rep.PossibleOverrides {
		fmt.Fprintf(w, "  possible {%s} %s: overrides %q at %s for %s if its conditions on %s match\n",
			o.Filter.Key, o.Filter.Name, o.Block.Name, o.Layer, o.Flow.Text, strings.Join(o.Assumed, ", "))
	}
}

// explainHint is the explain command line that shows how the override's flow is
// decided, or "" when explain cannot describe the flow (a protocol it has no name
// for, or a local address and port, which explain does not take).
func explainHint(sid, engine string, o *reconcile.Override) string {
	if o == nil || o.Flow.Local != "" {
		return ""
	}
	switch o.Flow.Protocol {
	case "tcp", "udp", "icmp", "icmpv6":
	default:
		return ""
	}
	s := fmt.Sprintf("wfpsandbox explain --sid %s --token %s --direction %s --proto %s --remote %s", sid, o.Flow.Token, o.Flow.Direction, o.Flow.Protocol, o.Flow.Remote)
	if engine != "" {
		s += " --engine " + engine
	}
	return s
}
