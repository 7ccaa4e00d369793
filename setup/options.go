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
	// Policy choices; see policy.Options. Empty values take policy's defaults (or,
	// with FromRecord, the record's).
	Profile    policy.Profile
	UserMatch  policy.UserMatch
	ProxyPorts []uint16
	// Policy is a policy file: it chooses the profile, user-match shape, proxy ports
	// and extra block rules (Profile, UserMatch and ProxyPorts must then be empty).
	// Its rules are recorded, so that ensure and verify rebuild the exact plan.
	Policy *policy.File
	// FromRecord starts from what the account's record holds (profile, user match,
	// proxy ports, a policy file's rules); the fields above that are set override it,
	// as in CheckOptions. Without a usable record it is bad input. ensure's setup uses it.
	FromRecord bool

	// DryRun computes what setup would change and writes nothing (no WFP change,
	// record, lock, log file or metric). The WFP step still opens the engine.
	DryRun bool

	// StateDir holds the records, lock, log and config (DefaultStateDir when empty).
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

	// ToolVersion is recorded in the record (the build's module version when empty).
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
	if o.Policy != nil && (o.Profile != "" || o.UserMatch != "" || len(o.ProxyPorts) > 0) {
		return fmt.Errorf("policy file %s sets the profile, user-match and proxy ports: do not also give them", o.Policy.Name)
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
func displayName(a Account) string {
	switch {
	case a.Name != "" && a.Domain != "":
		return a.Domain + `\` + a.Name
	case a.Name != "":
		return a.Name
	}
	return a.SID
}

// accountOf converts an account.Account.
func accountOf(a account.Account) Account {
	return Account{Name: a.Name, Domain: a.Domain, SID: a.SID.String()}
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

// given returns the plan choices o gives.
func (o *Options) given() Given {
	return Given{Profile: o.Profile, UserMatch: o.UserMatch, ProxyPorts: o.ProxyPorts, Policy: o.Policy}
}

// CheckInput reports whether Run would refuse o's account or plan options as bad input
// (an error wrapping ErrInput), without creating or reading anything in the state
// directory and without opening the engine. A caller that prepares things before Run (a
// log file in the state directory) calls it first, so that bad input changes nothing.
func CheckInput(o Options) error {
	if err := o.defaults(); err != nil {
		return fmt.Errorf("setup: %w: %w", ErrInput, err)
	}
	a, err := resolveAccount(o.Resolve, o.Account)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	// The readers too (--reader, else config.toml's): a bad one used to be found by Run,
	// after the caller had created the state directory and the log for it.
	if err := checkReaders(&o); err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	if o.FromRecord {
		// The plan comes from the account's record, which Run reads (and refuses
		// when it is unusable) before it creates anything.
		return nil
	}
	c, err := o.given().Choose(nil)
	if err == nil {
		_, err = c.Plan(accountOf(a).SID)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInput, err)
	}
	return nil
}
