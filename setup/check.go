package setup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// CheckOptions configure Check. Empty policy fields default to what the account's
// record holds, so "ensure" with no plan flags checks the last setup as it was made,
// a policy file's rules included.
type CheckOptions struct {
	// Account is the sandbox account's name or SID. When empty, Check checks the one
	// recorded account and CheckAll every recorded account.
	Account    string
	Profile    policy.Profile
	UserMatch  policy.UserMatch
	ProxyPorts []uint16
	// Policy is a policy file; it replaces everything the record chose.
	Policy *policy.File

	StateDir string
	// Open, when set, is used to read the live policy (reconcile.CheckLive: by key,
	// read-only). Failing to open or read it is not an error: Check then relies on
	// the record alone and says so (CheckResult.Live false, LiveReason).
	Open   Opener
	Logger *slog.Logger

	// RetryBackoff delays the retry of a failed step: a step that failed n runs in a
	// row is retried by ensure only after RetryBackoff·2^(n-1), capped at 6 h, since
	// it last ran, so a host where WFP is missing does not get a UAC prompt on every
	// start. Zero means DefaultRetryBackoff; negative retries at once. Run itself
	// always retries.
	RetryBackoff time.Duration

	Resolve Resolver
	Now     func() time.Time
}

func (o *CheckOptions) given() Given {
	return Given{Profile: o.Profile, UserMatch: o.UserMatch, ProxyPorts: o.ProxyPorts, Policy: o.Policy}
}

// DefaultRetryBackoff is the first wait before ensure retries a failed step.
const DefaultRetryBackoff = time.Minute

// maxRetryBackoff caps the backoff.
const maxRetryBackoff = 6 * time.Hour

// CheckResult is what Check found for one account.
type CheckResult struct {
	// Reasons setup is needed now; empty means current.
	Reasons []Reason `json:"reasons"`
	// Deferred are failed steps whose retry waits for the backoff to pass.
	Deferred []Deferred `json:"deferred,omitempty"`
	// Record is the account's record, when it is usable (nil when absent, corrupt or
	// invalid). The plan checked was rebuilt from it and the options given.
	Record *state.Record `json:"record,omitempty"`
	// Account, Profile and PlanHash are what was checked.
	Account  Account `json:"account"`
	Profile  string  `json:"profile,omitempty"`
	PlanHash string  `json:"planHash,omitempty"`
	// Live is true when the live policy was read (reconcile.CheckLive, by key);
	// otherwise LiveReason says why not in one word (LiveNoEngine, LiveUnavailable,
	// LiveAccessDenied, LiveReadFailed) and LiveError in a sentence. The live check
	// tells whether our objects are in place as planned; whether another owner's
	// filter overrides them is verify's question (it needs every provider's filters,
	// which an unelevated caller cannot enumerate, and its cost grows with the host).
	Live       bool                  `json:"live"`
	LiveReason string                `json:"liveReason,omitempty"`
	LiveError  string                `json:"liveError,omitempty"`
	LiveCheck  *reconcile.LiveResult `json:"liveCheck,omitempty"`
	// ServiceVerify is the wfpsandbox service's verify of the account (read as SYSTEM,
	// every provider's filters), when the live status came from the service because
	// this process could not read the policy itself (CLI ensure, "via": "service").
	ServiceVerify *reconcile.Report `json:"serviceVerify,omitempty"`
	// AccountMissing is true when the record's SID is no account on this host
	// (deleted, or a state directory copied from another machine): setup cannot run
	// for it, so ensure must not ask for elevation; 'uninstall --sid' forgets it.
	AccountMissing bool `json:"accountMissing,omitempty"`
}

// Deferred is a failed step whose retry is not due yet.
type Deferred struct {
	Reason Reason    `json:"reason"`
	Due    time.Time `json:"due"`
}

// Current reports whether no setup run is needed now. It is also true when the only
// reasons are failed steps whose retry is deferred (Deferred): the WFP policy may then
// be missing, so a caller that must know whether it is in place checks Deferred too
// (the CLI's ensure exits 4 in that case).
func (c *CheckResult) Current() bool { return len(c.Reasons) == 0 }

func (o *CheckOptions) defaults() error {
	if o.StateDir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			return err
		}
		o.StateDir = d
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Resolve == nil {
		o.Resolve = account.Resolve
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Check tells, without changing anything and without elevation, whether full setup is
// needed for one account: it reads the account's record (NeedsSetup), rebuilds the
// plan the record holds (overridden by the options given) and, when it can, verifies
// the live policy against it. With no account given it checks the only recorded
// account; when several accounts have records it is bad input (use CheckAll). It
// returns an error only for bad input (wrapping ErrInput): an account that cannot be
// resolved, a bad policy. An unusable or invalid record is a reason, never an error.
func Check(ctx context.Context, o CheckOptions) (*CheckResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Account != "" {
		return checkNamed(o)
	}
	ents, err := state.List(o.StateDir)
	if err != nil {
		return &CheckResult{Reasons: []Reason{{Code: ReasonCorruptRecord, Detail: err.Error()}}}, nil
	}
	switch len(ents) {
	case 0:
		// Nothing to compare with: setup has to run, and it needs an account.
		return &CheckResult{Reasons: NeedsSetup(nil, state.ErrNoRecord, Want{})}, nil
	case 1:
		return checkEntry(o, ents[0])
	}
	var sids []string
	for _, e := range ents {
		sids = append(sids, e.SID)
	}
	return nil, fmt.Errorf("%w: %d accounts have setup records (%s): name one", ErrInput, len(ents), strings.Join(sids, ", "))
}

// CheckAll is Check for every recorded account when o.Account is empty (one result
// per record, sorted by SID; a single "no record" result when there is none), and
// Check of that account otherwise.
func CheckAll(ctx context.Context, o CheckOptions) ([]*CheckResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Account != "" {
		r, err := checkNamed(o)
		if err != nil {
			return nil, err
		}
		return []*CheckResult{r}, nil
	}
	ents, err := state.List(o.StateDir)
	if err != nil {
		return []*CheckResult{{Reasons: []Reason{{Code: ReasonCorruptRecord, Detail: err.Error()}}}}, nil
	}
	if len(ents) == 0 {
		return []*CheckResult{{Reasons: NeedsSetup(nil, state.ErrNoRecord, Want{})}}, nil
	}
	var out []*CheckResult
	for _, e := range ents {
		r, err := checkEntry(o, e)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// checkNamed checks the account o names.
func checkNamed(o CheckOptions) (*CheckResult, error) {
	a, err := resolveAccount(o.Resolve, o.Account)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	acct := accountOf(a)
	rec, readErr := state.Read(o.StateDir, acct.SID)
	return checkAccount(o, acct, rec, readErr)
}

// checkEntry checks a recorded account. Its SID is what the record file names; the
// account must still exist on this host, or the record is not usable.
func checkEntry(o CheckOptions, e state.Entry) (*CheckResult, error) {
	if e.SID == "" {
		// The old single marker, unusable: its account is unknown.
		return &CheckResult{Reasons: NeedsSetup(nil, e.Err, Want{})}, nil
	}
	rec, readErr := e.Record, e.Err
	a, err := resolveAccount(o.Resolve, e.SID)
	if err != nil {
		// The SID is not an account here (deleted, or a state directory from another
		// machine): setup cannot run for it, and its record says nothing true.
		res := &CheckResult{Account: Account{SID: e.SID}, AccountMissing: true}
		res.Reasons = []Reason{{Code: ReasonCorruptRecord, Detail: fmt.Sprintf(
			"the setup record for %s names no account on this host (%v): set up the sandbox account by name, and forget this record with 'uninstall --sid %s'",
			e.SID, err, e.SID)}}
		if rec != nil {
			res.Account = rec.Account
		}
		return res, nil
	}
	acct := accountOf(a)
	if rec != nil && acct.Name == "" {
		// Names cannot be looked up here (not Windows): keep the recorded ones.
		acct.Name, acct.Domain = rec.Account.Name, rec.Account.Domain
	}
	return checkAccount(o, acct, rec, readErr)
}

// checkAccount compares account acct's record (rec, readErr as from state.Read) and,
// when it can, the live policy with the plan the record and the options choose.
func checkAccount(o CheckOptions, acct Account, rec *state.Record, readErr error) (*CheckResult, error) {
	res := &CheckResult{Account: acct}
	plan, usedRec, recErr, err := recordPlan(rec, acct.SID, o.given())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if recErr != nil {
		// A record that reads but whose plan does not build is as good as corrupt.
		readErr = &state.CorruptError{Path: state.Path(o.StateDir, acct.SID), SID: acct.SID, Kind: state.CorruptInvalid, Err: recErr}
		rec = nil
	}
	res.Record = usedRec
	res.Profile, res.PlanHash = string(plan.Profile), plan.Hash()
	want := Want{SetupVersion: SetupVersion, SID: acct.SID, Profile: res.Profile, PlanHash: res.PlanHash}
	reasons := NeedsSetup(rec, readErr, want)
	res.Reasons, res.Deferred = deferFailed(reasons, rec, o)
	if o.Open != nil {
		checkLive(o, plan, res)
	} else if o.Open == nil && res.LiveReason == "" {
		res.LiveReason, res.LiveError = LiveNoEngine, "no WFP engine to read (pass --engine)"
	}
	return res, nil
}

// recordPlan builds the plan for sid from rec overridden by g. When the record's
// choice does not build while g's alone does, the record is unusable (recErr) and the
// plan is g's alone; err is bad input in g.
func recordPlan(rec *state.Record, sid string, g Given) (plan *policy.Plan, used *state.Record, recErr, err error) {
	if rec != nil {
		c, cerr := g.Choose(rec)
		if cerr == nil {
			if plan, err = c.Plan(sid); err == nil {
				return plan, rec, nil, nil
			}
			cerr = err
		}
		recErr = fmt.Errorf("its plan does not build: %w", cerr)
	}
	c, err := g.Choose(nil)
	if err != nil {
		return nil, nil, recErr, err
	}
	plan, err = c.Plan(sid)
	return plan, nil, recErr, err
}

// checkLive reads the live policy by key (reconcile.CheckLive: no enumeration, a
// read-only transaction when the caller may begin one), which an unelevated caller
// can do when setup granted it FWPM_ACTRL_READ on the objects (account.ObjectSD). Any
// failure to read it is recorded in res.LiveReason and res.LiveError and otherwise
// ignored: the record decides (ensure --require-live refuses that).
func checkLive(o CheckOptions, plan *policy.Plan, res *CheckResult) {
	e, err := o.Open()
	if err != nil {
		res.LiveReason = liveReason(err)
		res.LiveError = "cannot open the WFP engine: " + err.Error()
		o.Logger.Debug("live policy not read; relying on the record", "reason", res.LiveReason, "error", err.Error())
		return
	}
	defer e.Close()
	live, err := reconcile.CheckLive(e, plan)
	if err != nil {
		res.LiveReason = liveReason(err)
		res.LiveError = "cannot read the live policy: " + err.Error()
		o.Logger.Debug("live policy not read; relying on the record", "reason", res.LiveReason, "error", err.Error())
		return
	}
	res.Live, res.LiveCheck = true, live
	if !live.Current {
		var parts []string
		for i, f := range live.Findings {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d more", len(live.Findings)-3))
				break
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", f.Kind, f.Name, f.Problem))
		}
		res.Reasons = append(res.Reasons, Reason{Code: ReasonPolicyDrift,
			Detail: fmt.Sprintf("installed WFP policy differs from the plan (%d of %d filters as planned): %s",
				live.Matching, live.Planned, strings.Join(parts, "; "))})
	}
}

// retryDue returns when a step that failed failures runs in a row, last finishing at
// finished, may be retried by ensure.
func retryDue(finished time.Time, failures int, base time.Duration) time.Time {
	d := base
	for i := 1; i < failures && d < maxRetryBackoff; i++ {
		d *= 2
	}
	if d > maxRetryBackoff {
		d = maxRetryBackoff
	}
	return finished.Add(d)
}

// deferFailed moves the step-failed reasons whose retry is not due out of reasons, but
// only when they are the only reasons: if setup must run anyway, it retries them too.
func deferFailed(reasons []Reason, m *state.Record, o CheckOptions) (now []Reason, later []Deferred) {
	if m == nil || o.RetryBackoff < 0 {
		return reasons, nil
	}
	base := o.RetryBackoff
	if base == 0 {
		base = DefaultRetryBackoff
	}
	for _, r := range reasons {
		if r.Code != ReasonStepFailed {
			return reasons, nil
		}
	}
	for _, r := range reasons {
		s, _ := m.Step(r.Step)
		due := retryDue(s.Finished, max(s.Failures, 1), base)
		if o.Now().Before(due) {
			later = append(later, Deferred{Reason: r, Due: due})
		} else {
			now = append(now, r)
		}
	}
	return now, later
}
