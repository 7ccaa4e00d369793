package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
)

// CheckOptions configure Check. Empty policy fields default to what the marker
// recorded, so "ensure" with no arguments checks the last setup as it was made.
type CheckOptions struct {
	// Account is the sandbox account's name or SID; the marker's account when empty.
	Account    string
	Profile    policy.Profile
	UserMatch  policy.UserMatch
	ProxyPorts []uint16
	Extra      []policy.Rule

	StateDir string
	// Open, when set, is used to read the live policy (reconcile.CheckLive: by key,
	// read-only). Failing to open or read it is not an error: Check then relies on
	// the marker alone and says so (CheckResult.Live false, LiveReason).
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

// DefaultRetryBackoff is the first wait before ensure retries a failed step.
const DefaultRetryBackoff = time.Minute

// maxRetryBackoff caps the backoff.
const maxRetryBackoff = 6 * time.Hour

// CheckResult is what Check found.
type CheckResult struct {
	// Reasons setup is needed now; empty means current.
	Reasons []Reason `json:"reasons"`
	// Deferred are failed steps whose retry waits for the backoff to pass.
	Deferred []Deferred `json:"deferred,omitempty"`
	// Marker is the marker read (nil when absent or unusable).
	Marker *Marker `json:"marker,omitempty"`
	// Account, Profile and PlanHash are what was checked.
	Account  MarkerAccount `json:"account"`
	Profile  string        `json:"profile,omitempty"`
	PlanHash string        `json:"planHash,omitempty"`
	// Live is true when the live policy was read (reconcile.CheckLive, by key);
	// otherwise LiveReason says why not in one word (LiveNoEngine, LiveUnavailable,
	// LiveAccessDenied, LivePartialPlan, LiveReadFailed) and LiveError in a sentence.
	Live       bool                  `json:"live"`
	LiveReason string                `json:"liveReason,omitempty"`
	LiveError  string                `json:"liveError,omitempty"`
	LiveCheck  *reconcile.LiveResult `json:"liveCheck,omitempty"`
	// PartialPlan is true when the last setup used rules this check was not given (a
	// policy file's extra rules): the plan hash was not compared and the live policy
	// not verified, and a setup run with only the options the marker records would
	// remove those rules.
	PartialPlan bool `json:"partialPlan,omitempty"`
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

// Check tells, without changing anything and without elevation, whether full setup is
// needed: it reads the marker (NeedsSetup) and, when it can, the live policy. It
// returns an error only for bad input (wrapping ErrInput): an account that cannot be
// resolved, a bad policy.
func Check(ctx context.Context, o CheckOptions) (*CheckResult, error) {
	if o.StateDir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			return nil, err
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
	res := &CheckResult{}
	m, readErr := ReadMarker(o.StateDir)
	res.Marker = m

	who := o.Account
	if who == "" {
		if m == nil {
			// Nothing to compare with: setup has to run, and it needs an account.
			res.Reasons = NeedsSetup(nil, readErr, Want{})
			return res, nil
		}
		who = m.Account.SID
		if m.Account.Name != "" {
			who = m.Account.Name
			if m.Account.Domain != "" {
				who = m.Account.Domain + `\` + m.Account.Name
			}
		}
	}
	a, err := resolveAccount(o.Resolve, who)
	if err != nil && o.Account == "" && m != nil {
		switch {
		case errors.Is(err, account.ErrNotWindows):
			// Names cannot be looked up here: trust the recorded SID.
			a, err = resolveAccount(o.Resolve, m.Account.SID)
			a.Name, a.Domain = m.Account.Name, m.Account.Domain
		case m.Account.Domain != "" && m.Account.Name != "":
			// The computer or domain may have been renamed: try the bare name.
			if b, berr := resolveAccount(o.Resolve, m.Account.Name); berr == nil {
				a, err = b, nil
			}
		}
	}
	if err != nil && o.Account == "" && m != nil {
		// The recorded name no longer resolves: the account was deleted or renamed.
		return nil, fmt.Errorf("%w: the account recorded by the last setup, %s: %w", ErrInput, who, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	res.Account = markerAccount(a)

	// Policy: explicit options win; otherwise what the marker recorded.
	explicit := o.Profile != "" || o.UserMatch != "" || len(o.ProxyPorts) > 0 || len(o.Extra) > 0
	popts := Options{Profile: o.Profile, UserMatch: o.UserMatch, ProxyPorts: o.ProxyPorts, Extra: o.Extra}
	if m != nil {
		if popts.Profile == "" {
			popts.Profile = policy.Profile(m.Profile)
		}
		if popts.UserMatch == "" {
			popts.UserMatch = policy.UserMatch(m.UserMatch)
		}
		if len(popts.ProxyPorts) == 0 && o.Profile == "" {
			popts.ProxyPorts = m.ProxyPorts
		}
	}
	if popts.Profile == "" {
		popts.Profile = policy.Baseline
	}
	plan, err := planFor(&popts, res.Account.SID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	res.Profile, res.PlanHash = string(plan.Profile), plan.Hash()
	want := Want{SetupVersion: SetupVersion, SID: res.Account.SID, Profile: res.Profile, PlanHash: res.PlanHash}
	comparable := true
	if !explicit && m != nil && !reproducible(m) {
		// The last setup used rules this check was not given (a policy file): do not
		// call that a change, and do not verify the live policy against a partial plan.
		want.PlanHash = ""
		comparable = false
		res.PartialPlan = true
		res.LiveReason = LivePartialPlan
		res.LiveError = "the last setup used rules this check was not given (pass the same policy options)"
	}
	reasons := NeedsSetup(m, readErr, want)
	res.Reasons, res.Deferred = deferFailed(reasons, m, o)

	if o.Open != nil && comparable {
		checkLive(o, plan, res)
	} else if o.Open == nil && res.LiveReason == "" {
		res.LiveReason, res.LiveError = LiveNoEngine, "no WFP engine to read (pass --engine)"
	}
	return res, nil
}

// reproducible reports whether the plan the marker records can be rebuilt from what it
// records (profile, user match, proxy ports): false when setup was given extra rules.
func reproducible(m *Marker) bool {
	p, err := planFor(&Options{Profile: policy.Profile(m.Profile), UserMatch: policy.UserMatch(m.UserMatch),
		ProxyPorts: m.ProxyPorts}, m.Account.SID)
	return err == nil && p.Hash() == m.PlanHash
}

// checkLive reads the live policy by key (reconcile.CheckLive: no enumeration, a
// read-only transaction when the caller may begin one), which an unelevated caller
// can do when setup granted it FWPM_ACTRL_READ on the objects (account.ObjectSD). Any
// failure to read it is recorded in res.LiveReason and res.LiveError and otherwise
// ignored: the marker decides (ensure --require-live refuses that).
func checkLive(o CheckOptions, plan *policy.Plan, res *CheckResult) {
	e, err := o.Open()
	if err != nil {
		res.LiveReason = liveReason(err)
		res.LiveError = "cannot open the WFP engine: " + err.Error()
		o.Logger.Debug("live policy not read; relying on the marker", "reason", res.LiveReason, "error", err.Error())
		return
	}
	defer e.Close()
	live, err := reconcile.CheckLive(e, plan)
	if err != nil {
		res.LiveReason = liveReason(err)
		res.LiveError = "cannot read the live policy: " + err.Error()
		o.Logger.Debug("live policy not read; relying on the marker", "reason", res.LiveReason, "error", err.Error())
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
func deferFailed(reasons []Reason, m *Marker, o CheckOptions) (now []Reason, later []Deferred) {
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
