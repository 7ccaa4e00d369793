package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func init() {
	register(&command{
		name:    "explain",
		summary: "evaluate a flow of the account against its plan or the installed filters and say which filter decides",
		usage: "--sid SID [--as SID] [--token normal|deny-only|restricted|appcontainer|low|anonymous|none] [--direction out|in] " +
			"--proto tcp|udp|icmp|icmpv6 --remote ADDR[:PORT] " +
			"[--plan [--profile P] [--user-match allow|deny] [--proxy-port N] [--policy FILE] | --engine windows|memory:PATH] " +
			"[--callout FILTERKEY=soft-permit|hard-permit|soft-block|hard-block]... [--trace] [--format text|json]",
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
	tokenKind := choiceFlag(fs, "token", string(arbiter.TokenNormal), "token of the process: normal, deny-only, restricted, appcontainer, low (low integrity), anonymous (the anonymous logon token) or none (a classify without a user token)", tokenKindNames()...)
	direction := choiceFlag(fs, "direction", "out", "out (a connect) or in (an accept)", "out", "in")
	proto := protoFlag(fs)
	remote := fs.String("remote", "", "remote ADDR[:PORT] or [V6ADDR]:PORT (for ICMP the port is the ICMP code)")
	usePlan := fs.Bool("plan", false, "evaluate against the plan (any OS) instead of an engine")
	engine := engineFlag(fs)
	fullTrace := fs.Bool("trace", false, "list every filter evaluated with the reason (default: per sublayer, only the filters that matter and a count of the others)")
	callouts := calloutFlag{}
	fs.Var(callouts, "callout", "assume callout filter FILTERKEY returns soft-permit, hard-permit, soft-block or hard-block (repeatable; callouts are otherwise not evaluated)")
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
	for key := range callouts {
		if !hasCallout(filters, key) {
			return c.fail("explain", fmt.Errorf("--callout %s: no callout filter with that key among the filters evaluated; list them with --trace", key))
		}
	}
	d, err := arbiter.NewIndex(filters).Evaluate(flow, arbiter.Options{FullTrace: *fullTrace, Callouts: callouts})
	if err != nil {
		return c.fail("explain", err)
	}
	c.emit(d.Doc(flow), func(w io.Writer) {
		fmt.Fprint(w, d.Text())
		for i, n := range d.NotEvaluated {
			if i == maxNotEvaluatedLines && !*fullTrace {
				fmt.Fprintf(w, "not evaluated: … and %d more (all of them with --trace or --format json)\n", len(d.NotEvaluated)-i)
				break
			}
			fmt.Fprintf(w, "not evaluated: %s\n", n)
		}
	})
	return exitOK
}

// maxNotEvaluatedLines caps the "not evaluated" lines of the text output without
// --trace: a host with thousands of filters of other providers on unmodelled fields
// would otherwise print one line each.
const maxNotEvaluatedLines = 20

func hasCallout(set arbiter.Set, key wfp.GUID) bool {
	for _, f := range set.Filters {
		if f.Key == key && f.Action.Type&wfp.ActionFlagCallout != 0 {
			return true
		}
	}
	return false
}

// calloutFlag collects --callout FILTERKEY=RESULT.
type calloutFlag map[wfp.GUID]arbiter.CalloutResult

func (c calloutFlag) String() string { return "" }

func (c calloutFlag) Set(s string) error {
	key, res, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("--callout %q: want FILTERKEY=soft-permit|hard-permit|soft-block|hard-block", s)
	}
	g, err := wfp.ParseGUID(key)
	if err != nil {
		return fmt.Errorf("--callout %q: filter key: %w", s, err)
	}
	r, err := arbiter.ParseCalloutResult(res)
	if err != nil {
		return fmt.Errorf("--callout %q: %w", s, err)
	}
	if _, dup := c[g]; dup {
		return fmt.Errorf("--callout: filter %s given twice", g)
	}
	c[g] = r
	return nil
}
