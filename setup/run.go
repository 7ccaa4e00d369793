package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Report is what Run did.
type Report struct {
	SetupVersion int     `json:"setupVersion"`
	Account      Account `json:"account"`
	Profile      string  `json:"profile"`
	UserMatch    string  `json:"userMatch"`
	PlanHash     string  `json:"planHash"`
	FilterCount  int     `json:"filterCount"`
	// Reasons are why the account's record was not current (empty on a re-run of a
	// current setup: Run always runs every step, and a converged host costs no writes).
	Reasons []Reason     `json:"reasons"`
	Steps   []StepResult `json:"steps"`
	// Changes are the WFP writes the wfp step made (or, with DryRun, would make).
	Changes []reconcile.Change `json:"changes"`
	// Writes is how many WFP writes were committed (0 on a converged host and in a
	// dry run).
	Writes int `json:"writes"`
	// DryRun is true when nothing was written: no WFP change, no record, no lock.
	DryRun bool `json:"dryRun"`
	// RecordPath is the account's record written (empty when it could not be).
	RecordPath string `json:"recordPath,omitempty"`
	// SetAside is where an unusable previous record (or old marker) was moved.
	SetAside string `json:"setAside,omitempty"`
	// Migrated names the account whose record the old single marker
	// (setup-marker.json) became in this run, if any.
	Migrated string `json:"migrated,omitempty"`
	// Overrides are, after a successful install, the filters of other owners that
	// verify would report as able to override one of the account's blocks (or that sit
	// in its sublayer): setup cannot remove them, so they do not fail it, but the
	// policy is not fully effective while they are there.
	Overrides []reconcile.Finding `json:"overrides,omitempty"`
	Analytics bool                `json:"analytics"`
	Started   time.Time           `json:"started"`
	Finished  time.Time           `json:"finished"`
}

// Step returns the named step, or false.
func (r *Report) Step(name string) (StepResult, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return StepResult{}, false
}

// WFPFailed reports whether setup finished but the WFP step failed (the CLI's exit
// code 3: "setup done, WFP step failed; it will be retried on the next run").
func (r *Report) WFPFailed() bool {
	s, ok := r.Step(StepWFP)
	return ok && s.Failed()
}

// ErrInput wraps errors about the caller's input (no account, unknown account, a SID
// that cannot be a sandbox account, a bad policy or config file): nothing was changed.
var ErrInput = errors.New("bad input")

// Run performs full setup for o.Account: resolve the account, install the WFP policy,
// write the account's record. It always runs every step (a converged host costs no WFP writes),
// so a step that failed before is retried.
//
// A failure of the WFP step does not fail Run: it is logged (EventWFPFailed, naming the
// WFP call and status), recorded in the report and the record, and counted as a
// metric; Run returns the report and a nil error, and Report.WFPFailed is true. Run
// returns an error when setup could not run or complete: bad input (wrapping
// ErrInput; nothing changed), the lock, or writing the record.
func Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{SetupVersion: SetupVersion}
	if err := o.defaults(); err != nil {
		err = fmt.Errorf("setup: %w: %w", ErrInput, err)
		o.Logger.Error("setup failed: "+err.Error(), Event(EventSetupError))
		return rep, err
	}
	rep.DryRun = o.DryRun
	r := &runner{o: o, log: o.Logger, rep: &rep}
	rep.Started = o.Now()
	err := r.run(ctx)
	rep.Finished = o.Now()
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
		r.log.Error("setup failed: "+err.Error(), Event(EventSetupError), "account", o.Account, "stateDir", o.StateDir)
	case rep.WFPFailed() && o.DryRun:
		outcome = "wfp-failed"
		s, _ := rep.Step(StepWFP)
		r.log.Warn("dry run: the WFP policy could not be read; nothing was written or recorded",
			append(wfpAttrs(s), "account", displayName(rep.Account), "error", s.Error)...)
	case rep.WFPFailed():
		outcome = "wfp-failed"
		s, _ := rep.Step(StepWFP)
		r.log.Warn("setup done, but the WFP step failed; it will be retried on the next run",
			append(wfpAttrs(s), Event(EventWFPFailed), "account", displayName(rep.Account),
				"error", s.Error, "failures", s.Failures)...)
	case o.DryRun:
		r.log.Info("dry run: nothing written", "changes", len(rep.Changes))
	default:
		s, _ := rep.Step(StepWFP)
		r.log.Info("setup done", Event(EventSetupOK), "account", displayName(rep.Account), "sid", rep.Account.SID,
			"profile", rep.Profile, "filters", rep.FilterCount, "writes", s.Writes, "setupVersion", SetupVersion)
	}
	if r.metrics != nil {
		r.metrics.SetupDuration(ctx, rep.Finished.Sub(rep.Started), rep.Profile, SetupVersion, outcome)
		if merr := r.metrics.Close(ctx); merr != nil {
			r.log.Warn("metrics not sent: "+merr.Error(), Event(EventMetricsFailed))
		}
	}
	return rep, err
}

type runner struct {
	o       Options
	log     *slog.Logger
	rep     *Report
	metrics *telemetry.Metrics
	choice  Choice   // what chose the plan: recorded with it
	readers []string // the SIDs granted read on the objects (applyReaders): recorded too
}

func (r *runner) run(ctx context.Context) error {
	o, rep := &r.o, r.rep
	if o.DryRun {
		return r.dryRun(ctx)
	}
	// Bad input changes nothing: the account and the plan are checked before the state
	// directory, the lock or anything else is created (reading the record writes nothing).
	if _, _, _, err := r.prepare(); err != nil {
		return err
	}
	if err := makeStateDir(o.StateDir); err != nil {
		return err
	}
	// A planted link as accounts/ is refused before the WFP step changes anything: the
	// record could not be written (nor an unusable one set aside) through it.
	if err := state.CheckDir(o.StateDir); err != nil {
		return err
	}
	// Only the platform's default directory (%ProgramData%\wfpsandbox) gets the
	// protected DACL: a directory the caller chose may hold other files whose
	// inherited permissions a protected DACL would replace; its ACL is the caller's.
	// Failing to secure it is fatal: one someone else owns could hold a forged marker.
	if isDefaultStateDir(o.StateDir) {
		if err := secureStateDir(o.StateDir); err != nil {
			return err
		}
	}
	on, warning, err := AnalyticsEnabled(o.Analytics, o.StateDir)
	if warning != nil {
		r.log.Warn("analytics setting ignored: " + warning.Error())
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	rep.Analytics = on
	r.metrics, err = telemetry.Start(ctx, telemetry.Config{
		Enabled: on, ServiceVersion: o.ToolVersion, Timeout: o.MetricsTimeout,
	})
	if err != nil {
		r.log.Warn("metrics disabled: "+err.Error(), Event(EventMetricsFailed))
	}

	lctx, cancel := context.WithTimeoutCause(ctx, o.LockWait,
		fmt.Errorf("gave up after %s: another wfpsandbox setup still holds the lock", o.LockWait))
	lock, err := AcquireLock(lctx, o.StateDir, r.log)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		if err := lock.Release(); err != nil {
			r.log.Warn(err.Error())
		}
	}()

	if registered, err := RegisterEventSource(); err != nil {
		r.log.Warn("event log source not registered: "+err.Error(), "source", EventSource)
	} else if registered {
		r.log.Info("registered the Application event log source", "source", EventSource)
	}

	// Step 1 is done (the account); the plan again, now under the lock: the record it
	// is compared with (and, with FromRecord, built from) may have changed while this
	// run waited for another setup.
	plan, prev, readErr, err := r.planAndReasons()
	if err != nil {
		return err
	}
	// Only now that the input is known good is anything moved: bad input changes
	// nothing. The old single marker becomes its account's record (or is set aside
	// when unusable), and an unusable record of this account is set aside.
	r.migrate()
	var corrupt *state.CorruptError
	if errors.As(readErr, &corrupt) && corrupt.Path == state.Path(o.StateDir, rep.Account.SID) {
		dst, err := state.SetAside(corrupt.Path, o.Now())
		if err != nil {
			r.log.Warn("unusable setup record could not be set aside: "+err.Error(), Event(EventRecordSetAside),
				"record", corrupt.Path, "problem", string(corrupt.Kind))
		} else {
			rep.SetAside = dst
			r.log.Warn("unusable setup record set aside; running full setup", Event(EventRecordSetAside),
				"problem", string(corrupt.Kind), "detail", corrupt.Err.Error(), "backup", dst)
		}
	}
	if len(rep.Reasons) > 0 {
		for _, why := range rep.Reasons {
			r.log.Info("setup needed: "+why.Detail, "reason", string(why.Code))
		}
	} else {
		r.log.Info("setup record is current; checking the installed policy anyway")
	}

	// Step 2: WFP. Never fatal.
	// Consecutive failures (ensure's retry backoff grows with them) count only for the
	// same plan: a failure recorded for another one says nothing about this.
	prevFailures := 0
	if prev != nil && prev.PlanHash == rep.PlanHash {
		if s, ok := prev.Step(StepWFP); ok && s.Failed() {
			prevFailures = s.Failures
		}
	}
	r.stepWFP(ctx, plan, prevFailures)

	// Step 3: the account's record.
	c := r.choice
	m := &state.Record{
		Format: state.Format, SetupVersion: SetupVersion, ToolVersion: o.ToolVersion,
		Account: rep.Account, Profile: string(c.Profile), UserMatch: string(c.UserMatch), ProxyPorts: c.ProxyPorts,
		Rules: state.RulesOf(c.Rules), Readers: r.readers, PlanHash: rep.PlanHash, FilterCount: rep.FilterCount,
		Started: rep.Started, Finished: o.Now(), Steps: rep.Steps,
	}
	if err := state.Write(o.StateDir, m); err != nil {
		r.log.Error("step record: failed: "+err.Error(), Event(EventStep), "step", StepRecord)
		if rep.WFPFailed() {
			return fmt.Errorf("write the setup record (the WFP step had failed too): %w", err)
		}
		return fmt.Errorf("the WFP policy is installed, but the setup record could not be written: %w", err)
	}
	rep.RecordPath = state.Path(o.StateDir, rep.Account.SID)
	r.log.Info("step record: ok", Event(EventStep), "step", StepRecord, "record", rep.RecordPath)
	return nil
}

// migrate turns the old single marker into its account's record; failures are
// logged, never fatal (the marker is then still read in its place).
func (r *runner) migrate() {
	mig, err := state.MigrateLegacy(r.o.StateDir, r.o.Now())
	switch {
	case err != nil:
		r.log.Warn("the old setup marker could not be migrated: "+err.Error(), "stateDir", r.o.StateDir)
	case mig.SetAside != "":
		if r.rep.SetAside == "" {
			r.rep.SetAside = mig.SetAside
		}
		r.log.Warn("unusable old setup marker set aside", Event(EventRecordSetAside),
			"problem", string(mig.Err.Kind), "detail", mig.Err.Err.Error(), "backup", mig.SetAside)
	case mig.SID != "":
		r.rep.Migrated = mig.SID
		r.log.Info("old setup marker migrated into its account's record", "sid", mig.SID,
			"record", state.Path(r.o.StateDir, mig.SID))
	}
}

// stepAccount resolves the account; a failure is input error.
func (r *runner) stepAccount() (Account, error) {
	s := StepResult{Name: StepAccount, Attempts: 1, Started: r.o.Now()}
	a, err := resolveAccount(r.o.Resolve, r.o.Account)
	s.Finished = r.o.Now()
	if err != nil {
		s.Status, s.Error = StatusFailed, err.Error()
		r.rep.Steps = append(r.rep.Steps, s, StepResult{Name: StepWFP, Status: StatusSkipped})
		r.log.Error("step account: failed: "+err.Error(), Event(EventStep), "step", StepAccount, "account", r.o.Account)
		return Account{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	s.Status = StatusOK
	r.rep.Steps = append(r.rep.Steps, s)
	ma := accountOf(a)
	r.log.Info("step account: ok", Event(EventStep), "step", StepAccount, "account", displayName(ma), "sid", ma.SID)
	return ma, nil
}

// stepWFP installs plan, retrying transient errors, and records the outcome.
func (r *runner) stepWFP(ctx context.Context, plan *policy.Plan, prevFailures int) {
	o := &r.o
	s := StepResult{Name: StepWFP, Started: o.Now()}
	var res *reconcile.Result
	var err error
	delay := o.RetryDelay
	for s.Attempts < o.WFPAttempts {
		s.Attempts++
		res, err = r.installOnce(plan)
		if err == nil || !transient(err) || s.Attempts == o.WFPAttempts {
			break
		}
		r.log.Info("WFP step: transient error, retrying", "attempt", s.Attempts, "error", err.Error(), "in", delay.String())
		select {
		case <-ctx.Done():
			err = fmt.Errorf("%w (gave up retrying: %w)", err, context.Cause(ctx))
		case <-time.After(delay):
			delay *= 2
			continue
		}
		break
	}
	s.Finished = o.Now()
	acct := displayName(r.rep.Account)
	if err != nil {
		s.Status, s.Error = StatusFailed, err.Error()
		s.Call, s.Code, s.Unavailable = wfpErrorDetails(err)
		s.Failures = prevFailures + 1
		r.rep.Steps = append(r.rep.Steps, s)
		r.log.Warn("step wfp: failed: "+err.Error(), append(wfpAttrs(s), Event(EventStep), "step", StepWFP,
			"unavailable", s.Unavailable, "attempts", s.Attempts, "failures", s.Failures)...)
		r.metrics.WFPFailure(ctx, acct, SetupVersion, err)
		return
	}
	s.Status, s.Writes = StatusOK, res.Writes
	r.rep.Steps = append(r.rep.Steps, s)
	r.rep.Changes, r.rep.Writes = res.Changes, res.Writes
	r.log.Info("step wfp: ok", Event(EventStep), "step", StepWFP, "filters", len(plan.Filters),
		"changes", len(res.Changes), "writes", res.Writes, "attempts", s.Attempts)
	r.metrics.WFPSuccess(ctx, telemetry.Success{
		Account: acct, Filters: len(plan.Filters), Profile: string(plan.Profile), SetupVersion: SetupVersion,
	})
}

// installOnce opens the engine, installs the plan and closes the engine.
func (r *runner) installOnce(plan *policy.Plan) (res *reconcile.Result, err error) {
	if r.o.Open == nil {
		return nil, errors.New("no WFP engine configured")
	}
	e, err := r.o.Open()
	if err != nil {
		return nil, fmt.Errorf("open WFP engine: %w", err)
	}
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			r.log.Warn("closing the WFP engine: " + cerr.Error())
		}
	}()
	// reconcile logs every change at Info; the report lists them, so on the console
	// they are detail (Debug), while the JSON log file keeps them all.
	res, err = reconcile.Install(e, plan, reconcile.Options{Logger: slog.New(demote{r.log.Handler()}), DryRun: r.o.DryRun})
	if err == nil && !r.o.DryRun {
		r.grantReaders(e, plan) // after the commit: not allowed inside a transaction
		r.checkEffective(e, plan)
	}
	return res, err
}

// checkEffective runs verify's analysis on what was just installed and reports, as a
// warning, other owners' filters that can override one of the account's blocks or
// that sit in its sublayer. Setup is the elevated moment that can enumerate every
// provider's filters; it cannot remove another owner's filter, so this never fails the
// step. A failure to read is logged and otherwise ignored.
func (r *runner) checkEffective(e wfp.Engine, plan *policy.Plan) {
	rep, err := reconcile.Verify(e, plan)
	if err != nil {
		r.log.Warn("could not check the installed policy for other owners' overriding filters: "+err.Error(), Event(EventOther))
		return
	}
	r.rep.Overrides = nil
	for _, f := range rep.Findings {
		if f.Problem == reconcile.ProblemOverride || f.Problem == reconcile.ProblemForeign {
			r.rep.Overrides = append(r.rep.Overrides, f)
			r.log.Warn("another owner's filter can override the account's policy (setup cannot remove it; see verify): "+f.Detail,
				Event(EventVerifyDrift), "filter", f.Name, "key", f.Key.String(), "problem", string(f.Problem))
		}
	}
}

// prepare runs the account step, reads the account's record, builds the plan (from
// the options, and with FromRecord the record) and records in the report what would
// be installed and why a run is needed compared with the record.
func (r *runner) prepare() (plan *policy.Plan, prev *state.Record, readErr, err error) {
	acct, err := r.stepAccount()
	if err != nil {
		return nil, nil, nil, err
	}
	r.rep.Account = acct
	return r.planAndReasons()
}

// planAndReasons is prepare's part after the account step: it reads the record of
// the report's account, builds the plan and records in the report what would be
// installed and why a run is needed. It writes nothing.
func (r *runner) planAndReasons() (plan *policy.Plan, prev *state.Record, readErr, err error) {
	o, rep := &r.o, r.rep
	acct := rep.Account
	prev, readErr = state.Read(o.StateDir, acct.SID)
	base := (*state.Record)(nil)
	if o.FromRecord {
		if prev == nil {
			return nil, nil, nil, fmt.Errorf("%w: no usable setup record for %s to take the plan from (%v): give the plan options instead",
				ErrInput, acct.SID, readErr)
		}
		base = prev
	}
	c, err := o.given().Choose(base)
	if err == nil {
		plan, err = c.Plan(acct.SID)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	readers, err := applyReaders(o, plan, prev)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	r.choice, r.readers = c, readers
	rep.Profile, rep.UserMatch = string(plan.Profile), string(plan.UserMatch)
	rep.PlanHash, rep.FilterCount = plan.Hash(), len(plan.Filters)
	rep.Reasons = NeedsSetup(prev, readErr, Want{
		SetupVersion: SetupVersion, SID: acct.SID, Profile: rep.Profile, PlanHash: rep.PlanHash,
	})
	return plan, prev, readErr, nil
}

// dryRun resolves the account, builds the plan and computes the WFP change set in an
// aborted transaction. It writes nothing: no state directory, lock, record or metric.
func (r *runner) dryRun(ctx context.Context) error {
	plan, _, _, err := r.prepare()
	if err != nil {
		return err
	}
	r.stepWFP(ctx, plan, 0)
	return nil
}

// wfpAttrs are the log attributes naming a failed step's WFP call and status, when known.
func wfpAttrs(s StepResult) []any {
	var as []any
	if s.Call != "" {
		as = append(as, "call", s.Call)
	}
	if s.Code != "" {
		as = append(as, "code", s.Code)
	}
	return as
}

// demote lowers Info records to Debug; warnings and errors keep their level.
type demote struct{ h slog.Handler }

// Enabled asks the wrapped handler at the demoted level.
func (d demote) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return d.h.Enabled(ctx, l)
}

// Handle passes r on with Info lowered to Debug.
func (d demote) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

// WithAttrs wraps the wrapped handler's WithAttrs.
func (d demote) WithAttrs(as []slog.Attr) slog.Handler { return demote{d.h.WithAttrs(as)} }

// WithGroup wraps the wrapped handler's WithGroup.
func (d demote) WithGroup(n string) slog.Handler { return demote{d.h.WithGroup(n)} }
