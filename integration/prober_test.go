//go:build windows && wfpintegration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/selftest"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// Who runs the probe.
const (
	whoSelf    = "self"    // the test's own (elevated administrator) account
	whoSandbox = "sandbox" // the temporary account, via CreateProcessWithLogonW
)

// probeTimeout bounds one probe run, children included.
const probeTimeout = 3 * time.Minute

// prober runs the probe program and reads what it wrote.
type prober struct {
	dir      *workDir
	exe      string
	user     *tempUser
	lis      *listeners
	attempts []probeproto.Attempt
	seq      int
}

// result is one probe run: who ran it, in which token shape, and one record per attempt.
type result struct {
	Phase, Who, As, RunID string
	Identity              *probeproto.Identity
	Records               map[string]probeproto.Record // by attempt name
}

// run makes one probe run and fails the test if the probe could not do its job (an
// error record, a missing record, a non-zero exit code) or ran under another token
// shape than asked — results from the wrong shape would prove nothing.
func (p *prober) run(t *testing.T, phase, who, as string) *result {
	t.Helper()
	p.seq++
	runID := fmt.Sprintf("%s.%s.%s.%d", phase, who, as, p.seq)
	plan := probeproto.Plan{RunID: runID, TimeoutMillis: 2000, Attempts: p.attempts}
	planPath := filepath.Join(p.dir.Root, "plan-"+runID+".json")
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(p.dir.Out, runID+".jsonl")
	args := []string{selftest.ProbeCommand, "-plan", planPath, "-out", outPath, "-as", as}

	var code uint32
	var stderr string
	switch who {
	case whoSelf:
		cmd := exec.Command(p.exe, args...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err = cmd.Run()
		stderr = buf.String()
		if ee, ok := err.(*exec.ExitError); ok {
			code, err = uint32(ee.ExitCode()), nil
		}
	case whoSandbox:
		code, err = p.user.Run(p.exe, args, p.dir.Root, probeTimeout)
	default:
		t.Fatalf("unknown runner %q", who)
	}
	if err != nil {
		t.Fatalf("probe %s: %v %s", runID, err, stderr)
	}
	f, err := os.Open(outPath)
	if err != nil {
		t.Fatalf("probe %s exited with %d and left no output: %v %s", runID, code, err, stderr)
	}
	recs, err := probeproto.ReadRecords(f)
	f.Close()
	if err != nil {
		t.Fatalf("probe %s: %v", runID, err)
	}
	r := &result{Phase: phase, Who: who, As: as, RunID: runID, Records: map[string]probeproto.Record{}}
	var errs []string
	for _, rec := range recs {
		switch rec.Type {
		case probeproto.RecordIdentity:
			r.Identity = rec.Identity
		case probeproto.RecordAttempt:
			r.Records[rec.Attempt] = rec
		case probeproto.RecordError:
			errs = append(errs, rec.Error)
		}
	}
	if len(errs) > 0 || code != 0 {
		t.Fatalf("probe %s (exit code %d) could not run: %s %s", runID, code, strings.Join(errs, "; "), stderr)
	}
	if r.Identity == nil {
		t.Fatalf("probe %s wrote no identity record", runID)
	}
	for _, a := range p.attempts {
		if _, ok := r.Records[a.Name]; !ok {
			t.Fatalf("probe %s wrote no record for attempt %s", runID, a.Name)
		}
	}
	p.checkShape(t, r)
	p.log(t, r)
	return r
}

// checkShape fails the test unless the probe's token is the one asked for.
func (p *prober) checkShape(t *testing.T, r *result) {
	t.Helper()
	id := r.Identity
	wantUser := p.user.SID
	if r.Who == whoSelf {
		u, err := windows.GetCurrentProcessToken().GetTokenUser()
		if err != nil {
			t.Fatal(err)
		}
		wantUser = u.User.Sid.String()
	}
	var bad []string
	if len(id.Errors) > 0 {
		bad = append(bad, "the probe could not read its token: "+strings.Join(id.Errors, "; "))
	}
	if id.User != wantUser {
		bad = append(bad, fmt.Sprintf("user %s, want %s", id.User, wantUser))
	}
	if id.As != r.As {
		bad = append(bad, fmt.Sprintf("reports shape %q", id.As))
	}
	switch r.As {
	case probeproto.AsPlain:
		if id.UserDenyOnly || id.Restricted || id.AppContainer {
			bad = append(bad, "token is restricted or an AppContainer")
		}
		if r.Who == whoSandbox && id.Elevated {
			bad = append(bad, "the sandbox account's token is elevated")
		}
	case probeproto.AsRestrictedDenyOnly:
		if !id.UserDenyOnly {
			bad = append(bad, "user SID is not deny-only")
		}
	case probeproto.AsRestrictedSIDs:
		if !id.Restricted || id.UserDenyOnly || slices.Contains(id.RestrictingSIDs, wantUser) {
			bad = append(bad, fmt.Sprintf("want restricting SIDs without the user SID, got restricted=%v %v", id.Restricted, id.RestrictingSIDs))
		}
	case probeproto.AsAppContainer:
		if !id.AppContainer {
			bad = append(bad, "not an AppContainer token")
		}
	}
	if len(bad) > 0 {
		t.Fatalf("probe %s ran in the wrong token shape: %s (identity %+v)", r.RunID, strings.Join(bad, "; "), *id)
	}
}

// log writes the run's outcomes, one line per attempt.
func (p *prober) log(t *testing.T, r *result) {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "probe %s (user %s, deny-only %v, restricted %v, AppContainer %v):", r.RunID,
		r.Identity.User, r.Identity.UserDenyOnly, r.Identity.Restricted, r.Identity.AppContainer)
	for _, a := range p.attempts {
		fmt.Fprintf(&sb, "\n  %-18s %-13s %-22s %s", a.Name, a.Kind, a.Target, r.Records[a.Name].Outcome())
	}
	t.Log(sb.String())
}
