package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
)

// Report is what Run did.
type Report struct {
	SetupVersion int           `json:"setupVersion"`
	Account      MarkerAccount `json:"account"`
	Profile      string        `json:"profile"`
	UserMatch    string        `json:"userMatch"`
	PlanHash     string        `json:"planHash"`
	FilterCount  int           `json:"filterCount"`
	// Reasons are why the previous marker was not current (empty on a re-run of a
	// current setup: Run always runs every step, and a converged host costs no writes).
	Reasons []Reason     `json:"reasons"`
	Steps   []StepResult `json:"steps"`
	// Changes are the WFP writes the wfp step made (or, with DryRun, would make).
	Changes []reconcile.Change `json:"changes"`
	// Writes is how many WFP writes were committed (0 on a converged host and in a
	// dry run).
	Writes int `json:"writes"`
	// DryRun is true when nothing was written: no WFP change, no marker, no lock.
	DryRun bool `json:"dryRun"`
	// MarkerPath is the marker written (empty when it could not be).
	MarkerPath string `json:"markerPath,omitempty"`
	// SetAside is where an unusable previous marker was moved.
	SetAside  string    `json:"setAside,omitempty"`
	Analytics bool      `json:"analytics"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
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
// write the marker. It always runs every step (a converged host costs no WFP writes),
// so a step that failed before is retried.
//
// A failure of the WFP step does not fail Run: it is logged (EventWFPFailed, naming the
// WFP call and status), recorded in the report and the marker, and counted as a
// metric; Run returns the report and a nil error, and Report.WFPFailed is true. Run
// returns an error when setup could not run or complete: bad input (wrapping
// ErrInput; nothing changed), the lock, or writing the marker.
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
}

func (r *runner) run(ctx context.Context) error {
	o, rep := &r.o, r.rep
	if o.DryRun {
		return r.dryRun(ctx)
	}
	if err := makeStateDir(o.StateDir); err != nil {
		return err
	}
	// Only the platform's default directory (%ProgramData%\wfpsandbox) gets the
	// protected DACL: a directory the caller chose may hold other files whose
	// inherited permissions a protected DACL would replace; its ACL is the caller's.
	if isDefaultStateDir(o.StateDir) {
		if err := secureStateDir(o.StateDir); err != nil {
			r.log.Warn("could not protect the state directory: "+err.Error(), "stateDir", o.StateDir)
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

	prev, readErr := ReadMarker(o.StateDir)

	// Step 1: the account.
	plan, err := r.prepare(prev, readErr)
	if err != nil {
		return err
	}
	// Only now that the input is known good is an unusable marker moved: bad input
	// changes nothing.
	var corrupt *CorruptError
	if errors.As(readErr, &corrupt) {
		dst, err := SetAside(o.StateDir, o.Now())
		if err != nil {
			r.log.Warn("unusable setup marker could not be set aside: "+err.Error(), Event(EventMarkerSetAside),
				"marker", corrupt.Path, "problem", string(corrupt.Kind))
		} else {
			rep.SetAside = dst
			r.log.Warn("unusable setup marker set aside; running full setup", Event(EventMarkerSetAside),
				"problem", string(corrupt.Kind), "detail", corrupt.Err.Error(), "backup", dst)
		}
	}
	if len(rep.Reasons) > 0 {
		for _, why := range rep.Reasons {
			r.log.Info("setup needed: "+why.Detail, "reason", string(why.Code))
		}
	} else {
		r.log.Info("setup marker is current; checking the installed policy anyway")
	}

	// Step 2: WFP. Never fatal.
	// Consecutive failures (ensure's retry backoff grows with them) count only for the
	// same account and plan: a failure recorded for another one says nothing about this.
	prevFailures := 0
	if prev != nil && prev.Account.SID == rep.Account.SID && prev.PlanHash == rep.PlanHash {
		if s, ok := prev.Step(StepWFP); ok && s.Failed() {
			prevFailures = s.Failures
		}
	}
	r.stepWFP(ctx, plan, prevFailures)

	// Step 3: the marker.
	m := &Marker{
		Format: MarkerFormat, SetupVersion: SetupVersion, ToolVersion: o.ToolVersion,
		Account: rep.Account, Profile: rep.Profile, UserMatch: rep.UserMatch, ProxyPorts: o.ProxyPorts,
		PlanHash: rep.PlanHash, FilterCount: rep.FilterCount,
		Started: rep.Started, Finished: o.Now(), Steps: rep.Steps,
	}
	if err := WriteMarker(o.StateDir, m); err != nil {
		r.log.Error("step marker: failed: "+err.Error(), Event(EventStep), "step", StepMarker)
		if rep.WFPFailed() {
			return fmt.Errorf("write setup marker (the WFP step had failed too): %w", err)
		}
		return fmt.Errorf("the WFP policy is installed, but the setup marker could not be written: %w", err)
	}
	rep.MarkerPath = filepath.Join(o.StateDir, MarkerFile)
	r.log.Info("step marker: ok", Event(EventStep), "step", StepMarker, "marker", rep.MarkerPath)
	return nil
}

// stepAccount resolves the account; a failure is input error.
func (r *runner) stepAccount() (MarkerAccount, error) {
	s := StepResult{Name: StepAccount, Attempts: 1, Started: r.o.Now()}
	a, err := resolveAccount(r.o.Resolve, r.o.Account)
	s.Finished = r.o.Now()
	if err != nil {
		s.Status, s.Error = StatusFailed, err.Error()
		r.rep.Steps = append(r.rep.Steps, s, StepResult{Name: StepWFP, Status: StatusSkipped})
		r.log.Error("step account: failed: "+err.Error(), Event(EventStep), "step", StepAccount, "account", r.o.Account)
		return MarkerAccount{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	s.Status = StatusOK
	r.rep.Steps = append(r.rep.Steps, s)
	ma := markerAccount(a)
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
	}
	return res, err
}

// prepare runs the account step, builds the plan for the account, and records in the
// report what would be installed and why a run is needed compared with the marker
// read before (prev, readErr).
func (r *runner) prepare(prev *Marker, readErr error) (*policy.Plan, error) {
	o, rep := &r.o, r.rep
	acct, err := r.stepAccount()
	if err != nil {
		return nil, err
	}
	rep.Account = acct
	plan, err := planFor(o, acct.SID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if err := applyReaders(o, plan); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	rep.Profile, rep.UserMatch = string(plan.Profile), string(plan.UserMatch)
	rep.PlanHash, rep.FilterCount = plan.Hash(), len(plan.Filters)
	rep.Reasons = NeedsSetup(prev, readErr, Want{
		SetupVersion: SetupVersion, SID: acct.SID, Profile: rep.Profile, PlanHash: rep.PlanHash,
	})
	return plan, nil
}

// dryRun resolves the account, builds the plan and computes the WFP change set in an
// aborted transaction. It writes nothing: no state directory, lock, marker or metric.
func (r *runner) dryRun(ctx context.Context) error {
	prev, readErr := ReadMarker(r.o.StateDir)
	plan, err := r.prepare(prev, readErr)
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
