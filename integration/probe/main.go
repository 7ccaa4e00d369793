//go:build windows && wfpintegration

// Command probe makes the network attempts of an integration-test plan and appends one
// JSON line per attempt (selftest/probeproto.Record) to an output file,
// preceded by one line describing its own token. The integration tests build it and
// run it as themselves, as the temporary sandbox account, and — through its -as flag —
// as a restricted-token or AppContainer child that the sandbox account starts itself.
//
// Usage:
//
//	probe -plan PLAN.json -out OUT.jsonl [-as plain|restricted-denyonly|restricted-sids|appcontainer]
//
// Results go to a file rather than stdout because the test starts the probe with
// CreateProcessWithLogonW, and the children in other token shapes, where handing pipes
// across logon sessions and token kinds is one more thing that could fail for reasons
// unrelated to WFP. The output directory's ACL lets every shape write there.
//
// A token property the probe cannot read is listed in the identity line's errors (the
// test then refuses the run); the attempts are made anyway so they can be inspected.
//
// Exit codes: 0 every attempt was made (blocked attempts are data, not failures);
// 2 the probe could not do what it was asked (an "error" record says why);
// 3 it could not even write its output file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

func main() {
	planPath := flag.String("plan", "", "plan file (probeproto.Plan as JSON)")
	outPath := flag.String("out", "", "output file; JSON lines are appended")
	as := flag.String("as", probeproto.AsPlain, "token shape to run the attempts under")
	label := flag.String("label", "", "shape to report in the identity record (set by a parent probe for its child; default -as)")
	flag.Parse()
	if *planPath == "" || *outPath == "" {
		fmt.Fprintln(os.Stderr, "probe: -plan and -out are required")
		os.Exit(2)
	}
	if *label == "" {
		*label = *as
	}
	os.Exit(run(*planPath, *outPath, *as, *label))
}

func run(planPath, outPath, as, label string) int {
	if as != probeproto.AsPlain {
		// The child writes the attempt records itself; this process writes only if
		// starting the child failed.
		if err := spawn(as, planPath, outPath); err != nil {
			return writeRecords(outPath, errorRecord(fmt.Errorf("run as %s: %w", as, err)))
		}
		return 0
	}
	plan, err := readPlan(planPath)
	if err != nil {
		return writeRecords(outPath, errorRecord(err))
	}
	id := identity()
	id.As = label
	recs := []probeproto.Record{{Type: probeproto.RecordIdentity, Identity: id}}
	for _, a := range plan.Attempts {
		recs = append(recs, attempt(plan, a))
	}
	return writeRecords(outPath, recs...)
}

func readPlan(path string) (*probeproto.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p probeproto.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse plan %s: %w", path, err)
	}
	return &p, nil
}

func errorRecord(err error) probeproto.Record {
	return probeproto.Record{Type: probeproto.RecordError, Error: err.Error()}
}

// writeRecords appends recs to the output file and returns the exit code: 2 if any
// record is an error record, 3 if the file cannot be written.
func writeRecords(path string, recs ...probeproto.Record) int {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		return 3
	}
	enc := json.NewEncoder(f)
	code := 0
	for _, r := range recs {
		if r.Type == probeproto.RecordError {
			code = 2
		}
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(os.Stderr, "probe: write %s: %v\n", path, err)
			code = 3
		}
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "probe: close %s: %v\n", path, err)
		code = 3
	}
	return code
}
