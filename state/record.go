package state

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

// Format is the version of a record's JSON layout. Format 1 is the single
// setup-marker.json of earlier versions (no policy rules); format 2 adds "rules" and
// lives in accounts/<SID>.json. A record of a newer format (written by a newer
// wfpsandbox) is set aside rather than misread.
const Format = 2

// Status is a step's outcome.
type Status string

// Step outcomes.
const (
	StatusOK      Status = "ok"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped" // not attempted because an earlier step failed
)

// StepResult is one setup step's outcome, as reported and as recorded.
type StepResult struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Error is the error message of a failed step.
	Error string `json:"error,omitempty"`
	// Call and Code name the failing WFP function and its status when the error
	// carries them (FwpmEngineOpen0, FWP_E_TIMEOUT (0x80320012)).
	Call string `json:"call,omitempty"`
	Code string `json:"code,omitempty"`
	// Unavailable is true when WFP itself could not be reached (no BFE, no
	// fwpuclnt.dll, a stub implementation, not Windows).
	Unavailable bool `json:"unavailable,omitempty"`
	// Attempts is how many times the step was tried in this run.
	Attempts int `json:"attempts"`
	// Failures counts consecutive failed runs of this step, this one included; 0
	// after a success.
	Failures int       `json:"failures,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Writes is the number of WFP writes the wfp step committed (0 on a converged host).
	Writes int `json:"writes,omitempty"`
}

// Failed reports whether the step failed.
func (s StepResult) Failed() bool { return s.Status == StatusFailed }

// Account is the sandbox account as resolved.
type Account struct {
	Name   string `json:"name"`
	Domain string `json:"domain,omitempty"`
	SID    string `json:"sid"`
}

// Rule is an extra block rule of a policy file, in the record: the parsed form of a
// [[rule]] table (policy.FileRule), so that the record alone rebuilds the exact plan
// setup installed, whether or not the policy file still exists or has changed.
type Rule struct {
	ID        string   `json:"id"`
	Direction string   `json:"direction"`
	Protocol  string   `json:"protocol"`
	Ports     []string `json:"ports,omitempty"`  // "22" or "6000-6010"
	Remote    []string `json:"remote,omitempty"` // CIDRs, "10.0.0.0/8"
}

// Record is what the last full setup for one account was run for and how each step
// ended: the account, everything that chooses its plan (profile, user-match shape,
// proxy ports, a policy file's rules), the hash of that plan and the steps.
type Record struct {
	Format       int     `json:"format"`
	SetupVersion int     `json:"setupVersion"`
	ToolVersion  string  `json:"toolVersion"`
	Account      Account `json:"account"`
	Profile      string  `json:"profile"`
	UserMatch    string  `json:"userMatch,omitempty"`
	// ProxyPorts are the strict profile's allowed loopback ports, if any.
	ProxyPorts []uint16 `json:"proxyPorts,omitempty"`
	// Rules are a policy file's extra block rules, if setup was given one.
	Rules []Rule `json:"rules,omitempty"`
	// Readers are the SIDs (canonical S-1-… form) granted FWPM_ACTRL_READ on the WFP
	// objects the setup added (account.ObjectSD): what a repair gives an object it adds
	// again. Absent in records written before they were recorded.
	Readers []string `json:"readers,omitempty"`
	// PlanHash is policy.Plan.Hash of the plan the wfp step installed (or tried to).
	PlanHash    string       `json:"planHash"`
	FilterCount int          `json:"filterCount"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
	Steps       []StepResult `json:"steps"`
}

// Step returns the named step, or false.
func (r *Record) Step(name string) (StepResult, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return StepResult{}, false
}

// FileRules returns the recorded rules as policy file rules. They were validated
// when the record was read (or are about to be, by Write).
func (r *Record) FileRules() ([]policy.FileRule, error) {
	var out []policy.FileRule
	for i, rr := range r.Rules {
		fr, err := rr.FileRule()
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		out = append(out, fr)
	}
	return out, nil
}

// RulesOf converts policy file rules into their recorded form.
func RulesOf(frs []policy.FileRule) []Rule {
	var out []Rule
	for _, fr := range frs {
		r := Rule{ID: fr.ID, Direction: fr.Direction, Protocol: fr.Protocol}
		for _, p := range fr.Ports {
			if p.Low == p.High {
				r.Ports = append(r.Ports, strconv.Itoa(int(p.Low)))
			} else {
				r.Ports = append(r.Ports, fmt.Sprintf("%d-%d", p.Low, p.High))
			}
		}
		for _, p := range fr.Remote {
			r.Remote = append(r.Remote, p.String())
		}
		out = append(out, r)
	}
	return out
}

// ruleIDPattern is the policy file's rule ID syntax (policy/file.go).
var ruleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// FileRule parses and validates the recorded rule with the policy file's constraints
// (policy/file.go): a rule a policy file could not have held is refused.
func (r Rule) FileRule() (policy.FileRule, error) {
	fr := policy.FileRule{ID: r.ID, Direction: r.Direction, Protocol: r.Protocol}
	if !ruleIDPattern.MatchString(r.ID) {
		return fr, fmt.Errorf("id %q is not a rule id", r.ID)
	}
	if r.Direction != "out" && r.Direction != "in" {
		return fr, fmt.Errorf("rule %s: direction %q, want out or in", r.ID, r.Direction)
	}
	switch r.Protocol {
	case "tcp", "udp", "any":
	case "icmp", "icmpv6":
		if len(r.Ports) > 0 {
			return fr, fmt.Errorf("rule %s: ICMP has no ports", r.ID)
		}
	default:
		return fr, fmt.Errorf("rule %s: protocol %q, want tcp, udp, icmp, icmpv6 or any", r.ID, r.Protocol)
	}
	if len(r.Ports) > policy.MaxRulePorts || len(r.Remote) > policy.MaxRuleRemotes {
		return fr, fmt.Errorf("rule %s: more than %d ports or %d remotes", r.ID, policy.MaxRulePorts, policy.MaxRuleRemotes)
	}
	for _, s := range r.Ports {
		pr, err := parsePorts(s)
		if err != nil {
			return fr, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if slices.Contains(fr.Ports, pr) {
			return fr, fmt.Errorf("rule %s: port %s listed twice", r.ID, s)
		}
		fr.Ports = append(fr.Ports, pr)
	}
	v4, v6 := len(r.Remote) == 0, len(r.Remote) == 0
	for _, s := range r.Remote {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" || p != p.Masked() || p.Addr().Is4In6() || p.String() != s {
			return fr, fmt.Errorf("rule %s: remote %q is not a canonical CIDR", r.ID, s)
		}
		if slices.Contains(fr.Remote, p) {
			return fr, fmt.Errorf("rule %s: remote %s listed twice", r.ID, s)
		}
		fr.Remote = append(fr.Remote, p)
		v4, v6 = v4 || p.Addr().Is4(), v6 || p.Addr().Is6()
	}
	if (r.Protocol == "icmp" && !v4) || (r.Protocol == "icmpv6" && !v6) {
		return fr, fmt.Errorf("rule %s: no remote of the family %s needs", r.ID, r.Protocol)
	}
	return fr, nil
}

// parsePorts parses "22" or "6000-6010" (canonical decimal, 1 ≤ low < high ≤ 65535).
func parsePorts(s string) (policy.PortRange, error) {
	num := func(t string) (uint16, bool) {
		n, err := strconv.ParseUint(t, 10, 16)
		return uint16(n), err == nil && n >= 1 && strconv.FormatUint(n, 10) == t
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		l, ok1 := num(lo)
		h, ok2 := num(hi)
		if ok1 && ok2 && l < h {
			return policy.PortRange{Low: l, High: h}, nil
		}
	} else if n, ok := num(s); ok {
		return policy.PortRange{Low: n, High: n}, nil
	}
	return policy.PortRange{}, fmt.Errorf("ports %q is not a port or a range low-high", s)
}

// CorruptKind says how a record is unusable.
type CorruptKind string

// Ways a record can be unusable.
const (
	CorruptUnreadable CorruptKind = "unreadable"     // cannot be read (a directory in its place, I/O error, permissions)
	CorruptEmpty      CorruptKind = "empty"          // zero bytes or only white space
	CorruptTruncated  CorruptKind = "truncated"      // valid JSON that stops early
	CorruptSyntax     CorruptKind = "not JSON"       // not JSON at all
	CorruptTypes      CorruptKind = "wrong types"    // JSON whose fields have the wrong types
	CorruptFuture     CorruptKind = "future format"  // written by a newer wfpsandbox
	CorruptInvalid    CorruptKind = "invalid fields" // missing or impossible values
	CorruptMismatch   CorruptKind = "mismatched"     // valid, but not this file's or this host's account
)

// CorruptError describes an unusable record. Setup sets such a record aside and runs
// in full; a check reports it as a reason to run.
type CorruptError struct {
	Path string
	// SID is the account the record's file name names ("" for the old single marker,
	// whose account is only known from its content).
	SID  string
	Kind CorruptKind
	Err  error
}

// Error names the file, what is wrong and the underlying error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("setup record %s is %s: %v", e.Path, e.Kind, e.Err)
}

// Unwrap returns the underlying error (a read or JSON error).
func (e *CorruptError) Unwrap() error { return e.Err }

// MaxSize bounds what a read takes from a record file. A record with the most rules
// a policy file may have (256 rules of 64 ports and 64 remotes) stays below it.
const MaxSize = 4 << 20

// Decode parses and validates a record's JSON. It never panics; every error comes
// with the CorruptKind that describes it.
func Decode(data []byte) (*Record, CorruptKind, error) {
	if len(data) > MaxSize {
		return nil, CorruptInvalid, fmt.Errorf("larger than %d bytes", MaxSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, CorruptEmpty, errors.New("no content")
	}
	// The format is checked first, on its own, so that a newer layout is reported as
	// such rather than as whatever type error it would cause.
	var head struct {
		Format json.RawMessage `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, syntaxKind(err), err
	}
	if len(head.Format) == 0 {
		return nil, CorruptInvalid, errors.New("no format field")
	}
	var format int
	if err := json.Unmarshal(head.Format, &format); err != nil {
		return nil, CorruptTypes, fmt.Errorf("format %s is not an integer", head.Format)
	}
	if format < 1 {
		return nil, CorruptInvalid, fmt.Errorf("format %d is not positive", format)
	}
	if format > Format {
		return nil, CorruptFuture, fmt.Errorf("format %d is newer than this wfpsandbox's %d; written by a newer version", format, Format)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, CorruptTypes, err
		}
		return nil, CorruptInvalid, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, CorruptInvalid, errors.New("data after the record")
	}
	if err := r.Validate(); err != nil {
		return nil, CorruptInvalid, err
	}
	return &r, "", nil
}

// syntaxKind tells a truncated document (valid so far) from one that is not JSON.
func syntaxKind(err error) CorruptKind {
	if errors.Is(err, io.ErrUnexpectedEOF) || err.Error() == "unexpected end of JSON input" {
		return CorruptTruncated
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) { // e.g. a JSON array or string at top level
		return CorruptTypes
	}
	return CorruptSyntax
}

// Maximum plausible values: a record claiming more is not one setup wrote.
const (
	maxFilters  = 1 << 16
	maxAttempts = 1 << 10
	maxFailures = 1 << 30
)

// Validate checks what decoding cannot: that every value is one setup could have
// written. A record that fails is treated exactly like a corrupt one.
func (r *Record) Validate() error {
	sid, err := account.ParseSID(r.Account.SID)
	if err != nil {
		return fmt.Errorf("account.sid: %w", err)
	}
	if sid.String() != r.Account.SID {
		return fmt.Errorf("account.sid %q is not in canonical form (%s)", r.Account.SID, sid)
	}
	if err := account.CheckSandboxCandidate(sid); err != nil {
		return fmt.Errorf("account.sid: %w", err)
	}
	switch {
	case r.Format < 1 || r.Format > Format:
		return fmt.Errorf("format %d is not 1 to %d", r.Format, Format)
	case r.SetupVersion < 1:
		return fmt.Errorf("setupVersion %d is not a positive integer", r.SetupVersion)
	case policy.Profile(r.Profile) != policy.Baseline && policy.Profile(r.Profile) != policy.Strict:
		return fmt.Errorf("profile %q is not %s or %s", r.Profile, policy.Baseline, policy.Strict)
	case r.UserMatch != "" && policy.UserMatch(r.UserMatch) != policy.MatchAllow && policy.UserMatch(r.UserMatch) != policy.MatchDeny:
		return fmt.Errorf("userMatch %q is not %s or %s", r.UserMatch, policy.MatchDeny, policy.MatchAllow)
	case len(r.ProxyPorts) > 0 && policy.Profile(r.Profile) != policy.Strict:
		return fmt.Errorf("proxyPorts with profile %s", r.Profile)
	case len(r.PlanHash) != 64 || !isHex(r.PlanHash):
		return fmt.Errorf("planHash %q is not a SHA-256 in hex", r.PlanHash)
	case r.FilterCount < 0 || r.FilterCount > maxFilters:
		return fmt.Errorf("filterCount %d is impossible", r.FilterCount)
	case r.Started.IsZero() || r.Finished.IsZero() || r.Finished.Before(r.Started):
		return fmt.Errorf("times started %s, finished %s are not a run", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339))
	case len(r.Steps) == 0:
		return errors.New("no steps recorded")
	case len(r.Rules) > policy.MaxFileRules:
		return fmt.Errorf("%d rules, at most %d", len(r.Rules), policy.MaxFileRules)
	case len(r.Readers) > account.MaxObjectReaders:
		return fmt.Errorf("%d readers, at most %d", len(r.Readers), account.MaxObjectReaders)
	}
	for i, rd := range r.Readers {
		sid, err := account.ParseSID(rd)
		if err != nil {
			return fmt.Errorf("readers[%d]: %w", i, err)
		}
		if sid.String() != rd {
			return fmt.Errorf("readers[%d] %q is not in canonical form (%s)", i, rd, sid)
		}
	}
	seenPort := map[uint16]bool{}
	for _, p := range r.ProxyPorts {
		if p == 0 || seenPort[p] {
			return fmt.Errorf("proxyPorts %v: zero or repeated", r.ProxyPorts)
		}
		seenPort[p] = true
	}
	ids := map[string]bool{}
	for i, rr := range r.Rules {
		if _, err := rr.FileRule(); err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		if ids[rr.ID] {
			return fmt.Errorf("rules[%d]: id %q recorded twice", i, rr.ID)
		}
		ids[rr.ID] = true
	}
	seen := map[string]bool{}
	for i, s := range r.Steps {
		if s.Name == "" {
			return fmt.Errorf("steps[%d] has no name", i)
		}
		if seen[s.Name] {
			return fmt.Errorf("step %q recorded twice", s.Name)
		}
		seen[s.Name] = true
		switch s.Status {
		case StatusOK, StatusFailed:
			if s.Started.IsZero() || s.Finished.IsZero() || s.Finished.Before(s.Started) || s.Attempts < 1 {
				return fmt.Errorf("step %q %s without a start, an end and an attempt", s.Name, s.Status)
			}
		case StatusSkipped:
		default:
			return fmt.Errorf("step %q has status %q", s.Name, s.Status)
		}
		if s.Attempts < 0 || s.Attempts > maxAttempts || s.Failures < 0 || s.Failures > maxFailures ||
			s.Writes < 0 || s.Writes > 3*maxFilters {
			return fmt.Errorf("step %q has impossible counts (attempts %d, failures %d, writes %d)", s.Name, s.Attempts, s.Failures, s.Writes)
		}
		if (s.Status == StatusFailed) != (s.Failures > 0) {
			return fmt.Errorf("step %q is %s with %d consecutive failures", s.Name, s.Status, s.Failures)
		}
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
