package main

import (
	"context"
	"fmt"
	"io"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

func init() {
	register(&command{
		name:    "explain",
		summary: "evaluate a flow of the account against its plan or the installed filters and say which filter decides",
		usage: "--sid SID [--as SID] [--token normal|deny-only|restricted|appcontainer] [--direction out|in] " +
			"--proto tcp|udp|icmp|icmpv6 --remote ADDR[:PORT] " +
			"[--plan [--profile P] [--user-match allow|deny] [--policy FILE] | --engine windows|memory:PATH] [--format text|json]",
		run: runExplain,
	})
}

// runExplain parses the flags, builds the filter set (from the plan, or from every
// provider of an engine) and prints the arbiter's decision. The exit code is 0 for
// either decision; the decision is in the output.
func runExplain(_ context.Context, c *cli, args []string) int {
	fs := c.flags("explain")
	pf := addPlanFlags(fs)
	as := fs.String("as", "", "SID of the account the process runs as (default: the sandbox account)")
	tokenKind := choiceFlag(fs, "token", string(arbiter.TokenNormal), "token of the process: normal, deny-only, restricted or appcontainer", tokenKindNames()...)
	direction := choiceFlag(fs, "direction", "out", "out (a connect) or in (an accept)", "out", "in")
	proto := protoFlag(fs)
	remote := fs.String("remote", "", "remote ADDR[:PORT] or [V6ADDR]:PORT (for ICMP the port is the ICMP code)")
	usePlan := fs.Bool("plan", false, "evaluate against the plan (any OS) instead of an engine")
	engine := engineFlag(fs)
	if !c.parse(fs, args) {
		return exitError
	}

	req := arbiter.Request{As: *as, Token: arbiter.TokenKind(*tokenKind), Proto: *proto, Remote: *remote}
	switch *direction {
	case "out":
		req.Direction = arbiter.Outbound
	case "in":
		req.Direction = arbiter.Inbound
	default:
		return c.fail("explain", fmt.Errorf("--direction %q: want out or in", *direction))
	}
	if *proto == "" || *remote == "" {
		return c.fail("explain", fmt.Errorf("--proto and --remote are required"))
	}
	if !*usePlan {
		for _, name := range []string{"profile", "user-match", "policy", "proxy-port"} {
			if pf.given(name) {
				return c.fail("explain", fmt.Errorf("--%s applies only with --plan", name))
			}
		}
	} else if pf.given("engine") {
		return c.fail("explain", fmt.Errorf("give --plan or --engine, not both"))
	}
	sandbox := ""
	if pf.sid != "" || pf.account != "" || *usePlan {
		s, err := pf.resolveSID()
		if err != nil {
			return c.fail("explain", err)
		}
		sandbox = s
	}
	if req.As == "" {
		if sandbox == "" {
			return c.fail("explain", fmt.Errorf("name the sandbox account with --sid (or the process's account with --as)"))
		}
		req.As = sandbox
	}
	flow, err := arbiter.BuildFlow(req)
	if err != nil {
		return c.fail("explain", err)
	}

	var filters arbiter.Set
	if *usePlan {
		opts, err := pf.optionsFor(sandbox)
		if err != nil {
			return c.fail("explain", err)
		}
		plan, err := policy.Build(opts)
		if err != nil {
			return c.fail("explain", err)
		}
		filters = arbiter.FromPlan(plan)
	} else {
		e, err := openEngine(*engine)
		if err != nil {
			return c.fail("explain", fmt.Errorf("%w (or use --plan)", err))
		}
		filters, err = arbiter.FromEngine(e)
		if cerr := e.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("explain: close engine: %w", cerr)
		}
		if err != nil {
			return c.fail("explain", err)
		}
	}
	d, err := arbiter.Evaluate(filters, flow)
	if err != nil {
		return c.fail("explain", err)
	}
	c.emit(d.Doc(flow), func(w io.Writer) {
		fmt.Fprint(w, d.Text())
		for _, n := range d.NotEvaluated {
			fmt.Fprintf(w, "not evaluated: %s\n", n)
		}
	})
	return exitOK
}
