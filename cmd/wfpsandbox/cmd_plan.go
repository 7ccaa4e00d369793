package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

func init() {
	register(&command{
		name:    "plan",
		summary: "print the provider, sublayer and filters wfpsandbox would install for an account",
		usage:   "--sid SID | --account NAME [--profile baseline|strict] [--user-match deny|allow] [--proxy-port N] [--policy FILE] [--format text|json]",
		run:     runPlan,
	})
}

func runPlan(_ context.Context, c *cli, args []string) int {
	fs := c.flags("plan")
	pf := addPlanFlags(fs)
	if !c.parse(fs, args) {
		return exitError
	}
	plan, err := pf.build()
	if err != nil {
		return c.fail("plan", err)
	}
	doc := plan.Describe()
	c.emit(doc, func(w io.Writer) { printPlan(w, doc) })
	return exitOK
}

func printPlan(w io.Writer, d policy.PlanDoc) {
	fmt.Fprintf(w, "account   %s\nprofile   %s\nuser-match %s\nplan hash %s\n\n", d.SID, d.Profile, d.UserMatch, d.Hash)
	fmt.Fprintf(w, "provider  {%s} %q flags=%s\n", d.Provider.Key, d.Provider.Name, strings.Join(d.Provider.Flags, "|"))
	which := "shared sublayer"
	if d.Sublayer.SID != "" {
		which = "the account's own sublayer"
	}
	fmt.Fprintf(w, "sublayer  {%s} %q weight=%#x flags=%s (%s)\n\n", d.Sublayer.Key, d.Sublayer.Name, d.Sublayer.Weight, strings.Join(d.Sublayer.Flags, "|"), which)
	permits, blocks := 0, 0
	for _, f := range d.Filters {
		if f.Action == "FWP_ACTION_PERMIT" {
			permits++
		} else {
			blocks++
		}
	}
	fmt.Fprintf(w, "%d objects: provider, sublayer, %d filters (%d permits, %d blocks):\n", 2+len(d.Filters), len(d.Filters), permits, blocks)
	for _, f := range d.Filters {
		printFilter(w, f)
	}
}

func printFilter(w io.Writer, f policy.FilterDoc) {
	fmt.Fprintf(w, "  {%s} %s\n", f.Key, f.Name)
	fmt.Fprintf(w, "      layer %s  action %s  flags %s  weight %s\n", f.Layer, f.Action, strings.Join(f.Flags, "|"), valueText(f.Weight))
	for _, cd := range f.Conditions {
		fmt.Fprintf(w, "      %s %s %s\n", cd.Field, strings.TrimPrefix(cd.Match, "FWP_MATCH_"), valueText(cd.ValueDoc))
	}
}

func valueText(v policy.ValueDoc) string {
	if v.Value == nil {
		return v.Type
	}
	return fmt.Sprintf("%s %v", v.Type, v.Value)
}
