//go:build windows

package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/selftest/probe"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"
)

// ProberOptions configure NewProber.
type ProberOptions struct {
	// Config lays out the probes (NewReport) and judges the prober's own report; a
	// PolicyPhase may judge against another user-match.
	Config Config
	// Version is the tool version recorded in the reports.
	Version string
	// Helper is a wfpsandbox executable whose hidden selftest-probe subcommand
	// (ProbeCommand) is the probe helper; it is copied into the work directory. Empty:
	// this process's own executable, as Run uses — a test binary has no such subcommand,
	// so the integration suite passes the CLI it built.
	Helper string
	// KeepAccount leaves the temporary account and its profile in place at Close.
	KeepAccount bool
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Prober is the selftest's probing machinery, shared by Run and the integration suite
// so that the code users run is the code CI runs: it owns the temporary account, the
// work directory with the probe helper in it, the AppContainer loopback exemption and
// the listeners on this host's own addresses, and runs the probe helper as every
// identity. It adds no WFP object itself: what a phase is judged against is installed
// by the caller (Run: a DynamicPlan in its dynamic session; PolicyPhase: a policy
// installed outside any prober session). Close undoes everything it made, in reverse.
//
// A Prober is not safe for concurrent use.
type Prober struct {
	rep  *Report
	log  *slog.Logger
	keep bool
	// j is Run's crash record (nil for NewProber: nothing recorded); each thing the
	// prober makes is added to it before it is made and dropped once undone.
	j *Journal
	// closeBy is when Close's retries must stop (nil: each step's own default); Run
	// shortens it once the console is closed (cleanupDeadline).
	closeBy func() time.Time
	acct    *TempAccount
	own     func(netip.Addr) bool
	// undo are the steps that succeeded, undone by Close in reverse order.
	undo []func() error
	// r runs the probe helper; nil until prepare succeeded.
	r *runner
}

// NewProber makes a prober for opts.Config: it refuses unless elevated, reads the host
// facts, creates the temporary account, the work directory (with a copy of
// opts.Helper), the AppContainer loopback exemption and the listeners — the same steps,
// in the same order, as Run — and returns it with its report (Report), whose cells are
// laid out but not run. On error everything made so far is undone. The caller must
// Close it.
func NewProber(ctx context.Context, opts ProberOptions) (*Prober, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := NewReport(opts.Config, opts.Version, time.Now())
	rep.Host = hostFacts()
	if on, err := firewallProfiles(); err != nil {
		rep.NotRun = append(rep.NotRun, "Windows Firewall state per profile: "+err.Error())
	} else {
		rep.Host.FirewallOn = on
	}
	if !rep.Host.Elevated {
		return nil, errors.New("the prober needs an elevated (administrator) process: it creates a temporary local account; nothing was changed")
	}
	addrs, own, err := localAddresses()
	if err != nil {
		return nil, err
	}
	rep.Host.Addresses = addrs
	p := newProber(rep, log, opts.KeepAccount)
	fail := func(err error) (*Prober, error) { return nil, errors.Join(err, p.Close()) }
	if _, err := p.newAccount("temporary account of a wfpsandbox prober (selftest or its integration tests); deleted when it ends; safe to delete"); err != nil {
		return fail(err)
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fail(fmt.Errorf("GetTokenInformation(TokenUser): %w", err))
	}
	rep.Other = u.User.Sid.String()
	if err := p.prepare(opts.Helper, "wfpsandbox-prober-", addrs, own, ""); err != nil {
		return fail(err)
	}
	return p, nil
}

// newProber returns a prober that records in rep and has made nothing yet; Run makes its
// steps one by one (newAccount, prepare) between its own.
func newProber(rep *Report, log *slog.Logger, keepAccount bool) *Prober {
	return &Prober{rep: rep, log: log, keep: keepAccount}
}

// Report is the prober's own report: the control phase (Phase(PhaseControl)) and, for
// Run, its policy phase.
func (p *Prober) Report() *Report { return p.rep }

// Account is the temporary account the prober probes as (nil before it was made).
func (p *Prober) Account() *TempAccount { return p.acct }

// newAccount creates the temporary account and registers its deletion (profile first,
// then the account; kept with KeepAccount) — also when a later step of NewTempAccount
// failed, since the account may exist then. It records the account's SID in the report.
func (p *Prober) newAccount(comment string) (*TempAccount, error) {
	rep, log := p.rep, p.log
	acct, entry, err := newJournaledAccount(p.j, comment)
	if acct != nil {
		p.undo = append(p.undo, func() error {
			if p.keep {
				rep.NotRun = append(rep.NotRun, fmt.Sprintf("account deletion: --keep-account left %s (%s) and its profile; its password was never stored", acct.Name, acct.SID))
				_ = p.j.Done(entry) // kept on purpose: not the next run's to sweep
				return nil
			}
			if derr := acct.DeleteBy(p.deadline(30 * time.Second)); derr != nil {
				rep.SetCheck(Check{ID: CheckCleanup, Ran: true, OK: false, Detail: derr.Error()})
				rep.Errors = append(rep.Errors, derr.Error())
				return derr
			}
			_ = p.j.Done(entry)
			log.Info("deleted the temporary account and its profile", "name", acct.Name)
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	p.acct = acct
	rep.Account = acct.SID
	log.Info("created the temporary account", "name", acct.Name, "sid", acct.SID)
	return acct, nil
}

// prepare makes the rest of what the probe runs need, after the account: the work
// directory (prefix names it), a copy of helper in it (empty: this executable), the
// loopback exemption for the probe's AppContainer, one plan per identity (filterKey is
// what the wfp-read attempt reads) and listeners on the union of their targets — each
// undone by Close. own says which addresses are this host's; no attempt may target
// another.
func (p *Prober) prepare(helper, prefix string, addrs Addresses, own func(netip.Addr) bool, key string) error {
	rep, acct := p.rep, p.acct
	p.own = own
	wd, wdEntry, err := newJournaledWorkDir(p.j, prefix)
	if wd != nil {
		p.undo = append(p.undo, func() error {
			if rerr := wd.RemoveBy(p.deadline(10 * time.Second)); rerr != nil {
				rep.Errors = append(rep.Errors, rerr.Error())
				return rerr
			}
			return p.j.Done(wdEntry)
		})
	}
	if err != nil {
		return err
	}
	self := helper
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	exe, err := wd.CopyIn(self, "wfpsandbox-selftest.exe")
	if err != nil {
		return fmt.Errorf("copy the probe helper: %w", err)
	}

	var lbEntry *JournalEntry
	restore, err := exemptAppContainer(func() (err error) {
		lbEntry, err = p.j.Add(JournalEntry{Kind: KindLoopbackExemption, Name: probe.AppContainerName})
		return err
	})
	if err != nil {
		_ = p.j.Done(lbEntry)
		rep.NotRun = append(rep.NotRun, "AppContainer loopback exemption: "+err.Error()+" (AppContainer loopback attempts will be not-observable)")
	} else {
		p.undo = append(p.undo, func() error {
			if rerr := restore(); rerr != nil {
				rep.Errors = append(rep.Errors, rerr.Error())
				return rerr
			}
			return p.j.Done(lbEntry)
		})
	}
	// The probe helper run as this user makes the AppContainer profile in this user's
	// profile and deletes it when its child ends; killed, it cannot.
	acpEntry, err := p.j.Add(JournalEntry{Kind: KindAppContainerProfile, Name: probe.AppContainerName, User: rep.Other})
	if err != nil {
		return err
	}
	p.undo = append(p.undo, func() error {
		if derr := (hostUndoer{}).DeleteAppContainerProfile(probe.AppContainerName); derr != nil {
			rep.Errors = append(rep.Errors, derr.Error())
			return derr
		}
		return p.j.Done(acpEntry)
	})

	// Extra rules' probes move off ports something on this host already uses; then
	// one plan per identity, listeners on the union of their targets.
	rep.NotRun = append(rep.NotRun, rep.ChoosePorts(PortFree)...)
	plans := map[Identity][]probeproto.Attempt{}
	var all []probeproto.Attempt
	noted := map[string]bool{}
	for _, id := range rep.Identities {
		as, skipped := Attempts(rep.Probes, id, addrs, key)
		plans[id] = as
		all = append(all, as...)
		for p, why := range skipped {
			if !noted[p] {
				noted[p] = true
				rep.NotRun = append(rep.NotRun, fmt.Sprintf("probe %s: %s", p, why))
			}
		}
	}
	if err := OnlyOwnTargets(all, own); err != nil {
		return err
	}
	lis, err := Listen(listenable(all), own)
	if err != nil {
		return err
	}
	p.undo = append(p.undo, func() error { lis.Close(); return nil })
	rep.NotRun = append(rep.NotRun, lis.Notes...)

	p.r = &runner{rep: rep, exe: exe, wd: wd, acct: acct, lis: lis, plans: plans}
	return nil
}

// deadline is when a cleanup step's retries stop: closeBy's, else def from now.
func (p *Prober) deadline(def time.Duration) time.Time {
	if p.closeBy != nil {
		return p.closeBy()
	}
	return time.Now().Add(def)
}

// Close undoes what the prober made, in reverse order: listeners, the AppContainer
// exemption, the work directory, the account (and its profile; unless KeepAccount).
// Every failure is also recorded in the prober's report (Errors; the account's in the
// cleanup check). It may be called again: the second call does nothing.
func (p *Prober) Close() error {
	var errs []error
	for i := len(p.undo) - 1; i >= 0; i-- {
		errs = append(errs, p.undo[i]())
	}
	p.undo = nil
	p.r = nil
	return errors.Join(errs...)
}

// Phase runs every identity's attempts once and records them in the prober's report
// as phase ph: PhaseControl with nothing of wfpsandbox installed, PhasePolicy with
// whatever the caller installed (Run: its DynamicPlan). It stops early only when ctx
// is cancelled; a run that fails is recorded in its cells (and, for the control, in
// the logon and children-start checks).
func (p *Prober) Phase(ctx context.Context, ph Phase) error {
	if p.r == nil {
		return errors.New("selftest: the prober is not ready (or closed)")
	}
	return p.r.phase(ctx, string(ph), ph)
}

// PolicyPhase probes a policy installed outside the prober's session (Installed: the
// persistent install by reconcile or setup) and returns a report of its own for it:
// judged against the prober's Config with the plan's profile and user-match, holding
// the prober's control results (run Phase(PhaseControl) first), the checks of
// InstalledChecks, this phase's results as its policy results and, when in.Engine is a
// Windows session, the net event attribution — evaluated, so its Hypotheses can be
// asserted on. name names the phase in the probe runs' IDs ("after-bfe-restart"). The
// prober's own report is not changed. The report is returned also with an error (the
// phase was interrupted).
func (p *Prober) PolicyPhase(ctx context.Context, name string, in Installed) (*Report, error) {
	if p.r == nil {
		return nil, errors.New("selftest: the prober is not ready (or closed)")
	}
	if in.Plan == nil || in.Plan.SID != p.rep.Account {
		return nil, fmt.Errorf("selftest: PolicyPhase needs the plan installed for the prober's account %s", p.rep.Account)
	}
	cfg := p.rep.Config
	cfg.Profile, cfg.UserMatch = in.Plan.Profile, in.Plan.UserMatch
	rep, err := p.rep.PhaseReport(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	for _, c := range InstalledChecks(in) {
		rep.SetCheck(c)
	}
	key := ""
	if len(in.Plan.Filters) > 0 {
		key = in.Plan.Filters[0].Key.String()
	}
	r := p.fork(rep, withReadKey(p.r.plans, key))
	start := time.Now()
	err = r.phase(ctx, name, PhasePolicy)
	p.r.seq = r.seq
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	} else if we, ok := in.Engine.(*winengine.Engine); ok {
		attribute(we, rep, r.windows, start)
	} else {
		rep.NotRun = append(rep.NotRun, "net event attribution: no Windows engine session given; a block counts as the policy's because its control succeeded")
	}
	rep.Finished = time.Now()
	rep.Evaluate()
	return rep, err
}

// ControlPhase runs every identity's attempts again with nothing of wfpsandbox's
// installed (after an uninstall) and returns a report of its own whose control results
// are this run's (its logon and children-start checks too); compare it with the
// prober's report with BlockedSince. name names the phase in the probe runs' IDs.
func (p *Prober) ControlPhase(ctx context.Context, name string) (*Report, error) {
	if p.r == nil {
		return nil, errors.New("selftest: the prober is not ready (or closed)")
	}
	rep, err := p.rep.PhaseReport(p.rep.Config, time.Now())
	if err != nil {
		return nil, err
	}
	r := p.fork(rep, p.r.plans)
	err = r.phase(ctx, name, PhaseControl)
	p.r.seq = r.seq
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Finished = time.Now()
	rep.Evaluate()
	return rep, err
}

// Probe runs the probe helper once as id with attempts of the caller's own (each
// target must be one of this host's addresses) and returns its records — for what the
// matrix has no probe for, as the integration suite's read of every planned object by
// key. An error means the run produced nothing usable (as in a phase). Nothing is
// recorded in any report.
func (p *Prober) Probe(ctx context.Context, name string, id Identity, attempts []probeproto.Attempt) ([]probeproto.Record, error) {
	if p.r == nil {
		return nil, errors.New("selftest: the prober is not ready (or closed)")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var network []probeproto.Attempt // a by-key read's Target is an object key, not an address
	for _, a := range attempts {
		if a.Kind != probeproto.KindWFPReadByKey {
			network = append(network, a)
		}
	}
	if err := OnlyOwnTargets(network, p.own); err != nil {
		return nil, err
	}
	r := p.fork(p.rep, map[Identity][]probeproto.Attempt{id: attempts}) // run reads only the other SID from it
	stop := connectToAccepts(attempts)
	recs, _, err := r.run(ctx, name, id)
	stop()
	p.r.seq = r.seq
	return recs, err
}

// fork returns a runner like the prober's that records in rep with plans, continuing
// its run numbering (every run's plan and output files are named by its run ID).
func (p *Prober) fork(rep *Report, plans map[Identity][]probeproto.Attempt) *runner {
	return &runner{rep: rep, exe: p.r.exe, wd: p.r.wd, acct: p.r.acct, lis: p.r.lis, plans: plans, seq: p.r.seq}
}

// runner runs the probe helper as each identity.
type runner struct {
	rep   *Report
	exe   string
	wd    *WorkDir
	acct  *TempAccount
	lis   *Listeners
	plans map[Identity][]probeproto.Attempt
	seq   int
	// failed is why a control run of an identity produced nothing (for the logon and
	// children checks).
	failed map[Identity]string
	// windows are the policy phase's runs, for net event attribution.
	windows []RunWindow
}

// phase runs every identity once; name names it in the run IDs (Run: the phase itself).
// It stops early only when ctx is cancelled (Ctrl+C); a run that fails is recorded in
// its cells (and, in the control phase, the checks).
func (r *runner) phase(ctx context.Context, name string, ph Phase) error {
	if r.failed == nil {
		r.failed = map[Identity]string{}
	}
	for _, id := range r.rep.Identities {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted during the %s phase: %w", name, context.Cause(ctx))
		}
		start := time.Now()
		stop := connectToAccepts(r.plans[id])
		recs, runID, runErr := r.run(ctx, name, id)
		stop()
		if ph == PhasePolicy {
			r.windows = append(r.windows, RunWindow{Identity: id, Start: start, End: time.Now()})
		}
		attempts := r.plans[id]
		// The probe has exited, so every datagram it sent is on its way: one short wait
		// for the listeners, then arrival is read without waiting per attempt (a blocked
		// datagram never arrives, and waiting for each would cost seconds apiece).
		time.Sleep(500 * time.Millisecond)
		arrived := func(name string) *bool {
			i := slices.IndexFunc(attempts, func(a probeproto.Attempt) bool { return a.Name == name })
			if i < 0 {
				return nil
			}
			return r.lis.Arrived(runID, attempts[i], 0)
		}
		msg := ""
		if runErr != nil {
			msg = runErr.Error()
			if ph == PhaseControl {
				r.failed[id] = msg
			}
		}
		r.rep.Record(ph, id, recs, arrived, msg)
	}
	if ph == PhaseControl {
		logon := r.failed[Identity{WhoAccount, TokenNormal}]
		r.rep.SetCheck(Check{ID: CheckLogon, Ran: true, OK: logon == "", Detail: logon})
		var children []string
		for id, why := range r.failed {
			if id.Token != TokenNormal {
				children = append(children, id.String()+": "+why)
			}
		}
		slices.Sort(children)
		r.rep.SetCheck(Check{ID: CheckChildren, Ran: logon == "", OK: len(children) == 0, Detail: fmt.Sprint(children)})
	}
	return nil
}

// run makes one probe run and returns its records; an error means the run produced
// nothing usable (it did not start, exited with an error record, or ran in the wrong
// token).
func (r *runner) run(ctx context.Context, name string, id Identity) ([]probeproto.Record, string, error) {
	r.seq++
	runID := fmt.Sprintf("%s.%s.%s.%d", name, id.Who, id.Token, r.seq)
	shape, err := ProbeShape(id.Token)
	if err != nil {
		return nil, runID, err
	}
	plan := probeproto.Plan{RunID: runID, TimeoutMillis: 2000, Attempts: r.plans[id]}
	b, err := json.Marshal(plan)
	if err != nil {
		return nil, runID, err
	}
	planPath := filepath.Join(r.wd.Root, "plan-"+runID+".json")
	if err := os.WriteFile(planPath, b, 0o644); err != nil {
		return nil, runID, err
	}
	outPath := filepath.Join(r.wd.Out, runID+".jsonl")
	args := []string{ProbeCommand, "-plan", planPath, "-out", outPath, "-as", shape}
	var code uint32
	wantUser := r.rep.Other
	switch id.Who {
	case WhoOther:
		cmd := exec.CommandContext(ctx, r.exe, args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code, err = uint32(ee.ExitCode()), nil
		}
		if err != nil {
			return nil, runID, fmt.Errorf("start the probe helper: %w %s", err, out)
		}
	case WhoAccount:
		wantUser = r.acct.SID
		code, err = r.acct.RunContext(ctx, r.exe, args, r.wd.Root, probeTimeout)
		if err != nil {
			return nil, runID, err
		}
	}
	f, err := os.Open(outPath)
	if err != nil {
		return nil, runID, fmt.Errorf("the probe helper exited with %d and left no output: %w", code, err)
	}
	recs, err := probeproto.ReadRecords(f)
	f.Close()
	if err != nil {
		return nil, runID, err
	}
	var ident *probeproto.Identity
	var errs []string
	for _, rec := range recs {
		switch rec.Type {
		case probeproto.RecordIdentity:
			ident = rec.Identity
		case probeproto.RecordError:
			errs = append(errs, rec.Error)
		}
	}
	if len(errs) > 0 || code != 0 {
		return nil, runID, fmt.Errorf("the probe helper (exit code %d) could not run: %v", code, errs)
	}
	if p := ShapeProblem(ident, id.Token, wantUser, id.Who == WhoAccount); p != "" {
		return nil, runID, fmt.Errorf("ran in the wrong token, its results prove nothing: %s", p)
	}
	return recs, runID, nil
}

// listenable drops the TCP attempts to 445 and 139 from what the selftest listens on:
// those ports belong to this host's SMB server and NetBIOS session service, and the
// kernel SMB probe must reach the real server. A TCP connect needs no listener of ours
// to be observed — accepted by the port's owner or refused, it got past WFP either way
// (FromRecord counts both as allowed); only UDP needs one, to see whether a datagram
// arrived.
func listenable(attempts []probeproto.Attempt) []probeproto.Attempt {
	var out []probeproto.Attempt
	for _, a := range attempts {
		if a.Kind == probeproto.KindTCPConnect {
			if ap, err := netip.ParseAddrPort(a.Target); err == nil && (ap.Port() == 445 || ap.Port() == 139) {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// connectToAccepts connects, every 200 ms until stop is called, to the target of every
// tcp-accept attempt in attempts — this host's own addresses, where the probe listens —
// so the probe has a connection to accept. The connections are this process's (the
// other account's); the accept side is classified with the probe's token.
func connectToAccepts(attempts []probeproto.Attempt) (stop func()) {
	var targets []probeproto.Attempt
	for _, a := range attempts {
		if a.Kind == probeproto.KindTCPAccept {
			targets = append(targets, a)
		}
	}
	if len(targets) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			for _, a := range targets {
				if c, err := net.DialTimeout(a.Network, a.Target, 300*time.Millisecond); err == nil {
					c.Close()
				}
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}
