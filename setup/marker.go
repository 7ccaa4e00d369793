package setup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// Step names.
const (
	StepAccount = "account" // resolve the sandbox account
	StepWFP     = "wfp"     // install the WFP policy
	StepMarker  = "marker"  // write the marker (logged and reported by Run's error; never in the marker itself)
)

// Status is a step's outcome.
type Status string

// Step outcomes.
const (
	StatusOK      Status = "ok"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped" // not attempted because an earlier step failed
)

// StepResult is one step's outcome, as reported and as recorded in the marker.
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

// MarkerAccount is the sandbox account as resolved.
type MarkerAccount struct {
	Name   string `json:"name"`
	Domain string `json:"domain,omitempty"`
	SID    string `json:"sid"`
}

// Marker is the content of setup-marker.json: what the last full setup was run for
// and how each step ended.
type Marker struct {
	Format       int           `json:"format"`
	SetupVersion int           `json:"setupVersion"`
	ToolVersion  string        `json:"toolVersion"`
	Account      MarkerAccount `json:"account"`
	Profile      string        `json:"profile"`
	UserMatch    string        `json:"userMatch,omitempty"`
	// ProxyPorts are the strict profile's allowed loopback ports, if any.
	ProxyPorts []uint16 `json:"proxyPorts,omitempty"`
	// PlanHash is policy.Plan.Hash of the plan the wfp step installed (or tried to).
	PlanHash    string       `json:"planHash"`
	FilterCount int          `json:"filterCount"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
	Steps       []StepResult `json:"steps"`
}

// Step returns the named step, or false.
func (m *Marker) Step(name string) (StepResult, bool) {
	for _, s := range m.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return StepResult{}, false
}

// ErrNoMarker means there is no marker: setup never ran (or its state was removed).
var ErrNoMarker = errors.New("no setup marker")

// CorruptKind says how a marker is unusable.
type CorruptKind string

// Ways a marker can be unusable.
const (
	CorruptUnreadable CorruptKind = "unreadable"     // cannot be read (a directory in its place, I/O error, permissions)
	CorruptEmpty      CorruptKind = "empty"          // zero bytes or only white space
	CorruptTruncated  CorruptKind = "truncated"      // valid JSON that stops early
	CorruptSyntax     CorruptKind = "not JSON"       // not JSON at all
	CorruptTypes      CorruptKind = "wrong types"    // JSON whose fields have the wrong types
	CorruptFuture     CorruptKind = "future format"  // written by a newer wfpsandbox
	CorruptInvalid    CorruptKind = "invalid fields" // missing or impossible values
)

// CorruptError describes an unusable marker. Setup sets such a marker aside (see
// SetAside) and runs in full; Check reports it as a reason to run.
type CorruptError struct {
	Path string
	Kind CorruptKind
	Err  error
}

// Error names the file, what is wrong and the underlying error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("setup marker %s is %s: %v", e.Path, e.Kind, e.Err)
}

// Unwrap returns the underlying error (a read or JSON error).
func (e *CorruptError) Unwrap() error { return e.Err }

// maxMarkerSize bounds what ReadMarker reads; a real marker is about 1 KiB.
const maxMarkerSize = 1 << 20

// ReadMarker reads and validates the marker in dir. It returns ErrNoMarker when there
// is none and a *CorruptError when it is unusable; it never modifies anything.
func ReadMarker(dir string) (*Marker, error) {
	path := filepath.Join(dir, MarkerFile)
	// A regular file only, no link, bounded: a FIFO here used to block setup forever
	// while it held the lock.
	data, err := safefile.ReadNoFollow(path, maxMarkerSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoMarker
	}
	if err != nil {
		return nil, &CorruptError{Path: path, Kind: CorruptUnreadable, Err: err}
	}
	m, kind, err := decodeMarker(data)
	if err != nil {
		return nil, &CorruptError{Path: path, Kind: kind, Err: err}
	}
	return m, nil
}

// decodeMarker parses and validates marker JSON.
func decodeMarker(data []byte) (*Marker, CorruptKind, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, CorruptEmpty, errors.New("no content")
	}
	// The format is checked first, on its own, so that a newer layout is reported as
	// such rather than as whatever type error it would cause.
	var head struct {
		Format json.RawMessage `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, syntaxKind(data, err), err
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
	if format > MarkerFormat {
		return nil, CorruptFuture, fmt.Errorf("format %d is newer than this wfpsandbox's %d; written by a newer version", format, MarkerFormat)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Marker
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, CorruptTypes, err
		}
		return nil, CorruptInvalid, err
	}
	if err := m.validate(); err != nil {
		return nil, CorruptInvalid, err
	}
	return &m, "", nil
}

// syntaxKind tells a truncated document (valid so far) from one that is not JSON.
func syntaxKind(data []byte, err error) CorruptKind {
	if errors.Is(err, io.ErrUnexpectedEOF) || err.Error() == "unexpected end of JSON input" {
		return CorruptTruncated
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return CorruptSyntax
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) { // e.g. a JSON array or string at top level
		return CorruptTypes
	}
	return CorruptSyntax
}

// validate checks what decoding cannot: required values and step consistency.
func (m *Marker) validate() error {
	switch {
	case m.SetupVersion < 1:
		return fmt.Errorf("setupVersion %d is not a positive integer", m.SetupVersion)
	case m.Account.SID == "":
		return errors.New("account.sid is empty")
	case m.Profile == "":
		return errors.New("profile is empty")
	case len(m.Steps) == 0:
		return errors.New("no steps recorded")
	}
	seen := map[string]bool{}
	for i, s := range m.Steps {
		if s.Name == "" {
			return fmt.Errorf("steps[%d] has no name", i)
		}
		if seen[s.Name] {
			return fmt.Errorf("step %q recorded twice", s.Name)
		}
		seen[s.Name] = true
		switch s.Status {
		case StatusOK, StatusFailed, StatusSkipped:
		default:
			return fmt.Errorf("step %q has status %q", s.Name, s.Status)
		}
	}
	return nil
}

// WriteMarker writes m to dir atomically: readers see the old marker or the new one,
// never a mix, even across a crash.
func WriteMarker(dir string, m *Marker) error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("setup marker: refusing to write: %w", err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("setup marker: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, MarkerFile), append(data, '\n'), 0o644)
}

// SetAside renames an unusable marker to setup-marker.json.corrupt-<UTC time> so that
// it can be inspected, and returns the new path.
func SetAside(dir string, now time.Time) (string, error) {
	path := filepath.Join(dir, MarkerFile)
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	dst := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		if i > 100 {
			return "", fmt.Errorf("set aside %s: too many backups named %s*", path, base)
		}
		dst = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("set aside unusable marker: %w", err)
	}
	syncDir(dir)
	return dst, nil
}
