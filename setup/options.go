package setup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Opener opens a session with the WFP engine: winengine on Windows, memengine in tests
// and for --engine memory:PATH. Run closes the engine it returns.
type Opener func() (wfp.Engine, error)

// Resolver turns an account name or SID string into the sandbox account
// (account.Resolve).
type Resolver func(nameOrSID string) (account.Account, error)

// Options configure Run.
type Options struct {
	// Account is the sandbox account's name or SID (required).
	Account string
	// Policy choices; see policy.Options. Empty values take policy's defaults.
	Profile    policy.Profile
	UserMatch  policy.UserMatch
	ProxyPorts []uint16
	Extra      []policy.Rule

	// DryRun computes what setup would change and writes nothing (no WFP change,
	// marker, lock, log file or metric). The WFP step still opens the engine.
	DryRun bool

	// StateDir holds the marker, lock, log and config (DefaultStateDir when empty).
	StateDir string
	// Open opens the WFP engine. Nil makes the WFP step fail (and be retried later).
	Open Opener
	// Logger receives one record per step and a summary (nil: discarded). NewLogger
	// builds the standard one.
	Logger *slog.Logger

	// Analytics turns metrics on; they are also on when AnalyticsEnv or the state
	// directory's config.toml says so (AnalyticsEnabled).
	Analytics bool
	// MetricsTimeout bounds the metrics flush (telemetry.DefaultTimeout when zero).
	MetricsTimeout time.Duration

	// ToolVersion is recorded in the marker (the build's module version when empty).
	ToolVersion string
	// WFPAttempts is how many times one run tries the WFP step when it fails with a
	// transient error (FWP_E_TIMEOUT, a dead session, an RPC hiccup); 3 when zero.
	// Unavailable engines and refusals are not retried within a run.
	WFPAttempts int
	// RetryDelay is the wait before the second attempt, doubled after each (500 ms
	// when zero).
	RetryDelay time.Duration

	// LockWait bounds the wait for another setup run to finish (10 minutes when
	// zero).
	LockWait time.Duration

	// Readers are the principals (SIDs, or SDDL aliases such as BU) granted
	// FWPM_ACTRL_READ on the WFP objects setup adds, so that ensure run by them can
	// read the live policy (account.ObjectSD). Empty: config.toml's readers key, else
	// account.DefaultObjectReaders (BUILTIN\Users).
	Readers []string

	// Resolve replaces account.Resolve (tests).
	Resolve Resolver
	// Now replaces time.Now (tests).
	Now func() time.Time
}

func (o *Options) defaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if strings.TrimSpace(o.Account) == "" {
		return errors.New("no sandbox account given")
	}
	if o.StateDir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			return err
		}
		o.StateDir = d
	}
	if o.ToolVersion == "" {
		o.ToolVersion = toolVersion()
	}
	if o.WFPAttempts <= 0 {
		o.WFPAttempts = 3
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	if o.Resolve == nil {
		o.Resolve = account.Resolve
	}
	if o.LockWait <= 0 {
		o.LockWait = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Profile == "" {
		o.Profile = policy.Baseline
	}
	if o.UserMatch == "" {
		o.UserMatch = policy.DefaultUserMatch
	}
	return nil
}

// resolveAccount resolves nameOrSID. Where names cannot be looked up (not Windows), a
// SID string is accepted as is once account.CheckSandboxCandidate agrees, so the CLI
// and tests work with --engine memory: on any OS.
func resolveAccount(resolve Resolver, nameOrSID string) (account.Account, error) {
	a, err := resolve(nameOrSID)
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, account.ErrNotWindows) || !strings.HasPrefix(strings.ToUpper(nameOrSID), "S-") {
		return account.Account{}, err
	}
	sid, perr := account.ParseSID(nameOrSID)
	if perr != nil {
		return account.Account{}, perr
	}
	if cerr := account.CheckSandboxCandidate(sid); cerr != nil {
		return account.Account{}, cerr
	}
	return account.Account{SID: sid}, nil
}

// displayName is DOMAIN\name, name, or the SID when there is no name.
func displayName(a MarkerAccount) string {
	switch {
	case a.Name != "" && a.Domain != "":
		return a.Domain + `\` + a.Name
	case a.Name != "":
		return a.Name
	}
	return a.SID
}

// markerAccount converts an account.Account.
func markerAccount(a account.Account) MarkerAccount {
	return MarkerAccount{Name: a.Name, Domain: a.Domain, SID: a.SID.String()}
}

// wfpErrorDetails extracts the WFP call, status and unavailability from err.
func wfpErrorDetails(err error) (call, code string, unavailable bool) {
	var ce *wfp.CallError
	if errors.As(err, &ce) {
		call = ce.Call
	}
	if c, ok := wfp.CodeOf(err); ok {
		code = c.Error()
	}
	return call, code, wfp.Unavailable(err)
}

// transient reports whether a WFP error may go away if tried again soon.
func transient(err error) bool {
	c, ok := wfp.CodeOf(err)
	if !ok {
		return false
	}
	switch c {
	case wfp.ErrTimeout, wfp.ErrSessionAborted, wfp.ErrTxnAborted, wfp.ErrRPCServerUnavailable:
		return true
	}
	return false
}

// planFor builds the plan of o for sid.
func planFor(o *Options, sid string) (*policy.Plan, error) {
	p, err := policy.Build(policy.Options{
		SID: sid, Profile: o.Profile, UserMatch: o.UserMatch, ProxyPorts: o.ProxyPorts, Extra: o.Extra,
	})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return p, nil
}
