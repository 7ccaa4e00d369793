//go:build windows

// Package probe is the selftest's probe helper: it makes the network attempts of a
// plan and appends one JSON line per attempt (selftest/probeproto.Record) to an output
// file, preceded by one line describing its own token. It is part of the product — the
// hidden subcommand `wfpsandbox selftest-probe` — so the code users run is the code the
// integration tests run. The selftest runs it as itself, as the temporary sandbox
// account, and — through its -as flag — in the other token kinds (restricted, an
// AppContainer, low integrity, a thread impersonating the anonymous token), which the
// probe makes from its own token without any privilege.
//
// Usage (after the subcommand name):
//
//	-plan PLAN.json -out OUT.jsonl [-as plain|restricted-denyonly|restricted-sids|appcontainer|appcontainer-nocaps|low-integrity|anonymous-impersonation]
//
// Results go to a file rather than stdout because the probe is started with
// CreateProcessWithLogonW, and the children in other token shapes, where handing pipes
// across logon sessions and token kinds is one more thing that could fail for reasons
// unrelated to WFP. The output directory's ACL lets every shape write there.
//
// A token property the probe cannot read is listed in the identity line's errors (the
// caller then refuses the run); the attempts are made anyway so they can be inspected.
//
// Exit codes: 0 every attempt was made (blocked attempts are data, not failures);
// 2 the probe could not do what it was asked (an "error" record says why);
// 3 it could not even write its output file.
package probe

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// selfArgs are the arguments that start this helper again before its own flags: the
// subcommand name when it runs inside the wfpsandbox binary. Main sets it.
var selfArgs []string

// Main runs the probe with args (its own flags). prefix is what starts the helper from
// this executable ("selftest-probe" inside wfpsandbox; nothing for a standalone
// build); children it spawns are started with it. Usage errors go to stderr.
func Main(prefix, args []string, stderr io.Writer) int {
	selfArgs = prefix
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	planPath := fs.String("plan", "", "plan file (probeproto.Plan as JSON)")
	outPath := fs.String("out", "", "output file; JSON lines are appended")
	as := fs.String("as", probeproto.AsPlain, "token shape to run the attempts under")
	label := fs.String("label", "", "shape to report in the identity record (set by a parent probe for its child; default -as)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *planPath == "" || *outPath == "" {
		fmt.Fprintln(stderr, "probe: -plan and -out are required")
		return 2
	}
	if *label == "" {
		*label = *as
	}
	return run(*planPath, *outPath, *as, *label)
}

func run(planPath, outPath, as, label string) int {
	if as != probeproto.AsPlain && as != probeproto.AsAnonymousImpersonation {
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
	if as == probeproto.AsAnonymousImpersonation {
		recs = append(recs, asAnonymous(plan, id)...)
		return writeRecords(outPath, recs...)
	}
	for _, a := range plan.Attempts {
		recs = append(recs, attempt(plan, a))
	}
	return writeRecords(outPath, recs...)
}

// asAnonymous makes the plan's attempts on one locked OS thread that impersonates the
// anonymous token (ImpersonateAnonymousToken, which needs no privilege:
// learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-impersonateanonymoustoken)
// while the attempt's connect or send is made, and records the thread token's user in
// id.ThreadUser (S-1-5-7 when it worked).
//
// TCP and UDP attempts create their socket BEFORE impersonating (with the process
// token) and only connect (connect) or send (sendto) while impersonating, with the
// blocking Winsock calls on this thread — the claim under test is about a socket
// connected while the thread impersonates, and socket creation itself might be refused
// to the anonymous token for reasons unrelated to WFP. Other kinds run entirely while
// impersonating, through Go's net package, which issues its calls from the calling
// goroutine (Go's implementation, not a documented promise).
func asAnonymous(plan *probeproto.Plan, id *probeproto.Identity) []probeproto.Record {
	runtime.LockOSThread()
	impersonate := func() error {
		if err := winapi.ImpersonateAnonymousToken(windows.CurrentThread()); err != nil {
			return fmt.Errorf("ImpersonateAnonymousToken: %w", err)
		}
		return nil
	}
	// Read the thread token once, to show the impersonation takes.
	if err := impersonate(); err != nil {
		runtime.UnlockOSThread()
		return []probeproto.Record{errorRecord(err)}
	}
	var tok windows.Token
	if err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok); err != nil {
		id.Errors = append(id.Errors, fmt.Sprintf("OpenThreadToken: %v", err))
	} else {
		if u, err := tok.GetTokenUser(); err != nil {
			id.Errors = append(id.Errors, fmt.Sprintf("GetTokenInformation(thread, TokenUser): %v", err))
		} else {
			id.ThreadUser = u.User.Sid.String()
		}
		tok.Close()
	}
	if err := windows.RevertToSelf(); err != nil {
		// The thread keeps impersonating: leave it locked, so the runtime ends it with
		// this goroutine instead of reusing it.
		return []probeproto.Record{errorRecord(fmt.Errorf("RevertToSelf: %w", err))}
	}
	var recs []probeproto.Record
	for _, a := range plan.Attempts {
		rec, err := attemptImpersonated(plan, a, impersonate)
		if err != nil { // RevertToSelf failed: stop, the thread stays locked
			return append(recs, errorRecord(err))
		}
		recs = append(recs, rec)
	}
	runtime.UnlockOSThread()
	return recs
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
