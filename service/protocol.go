package service

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
)

// ProtocolVersion is the version of the request/response protocol. A request of
// another version is refused with CodeVersion; a change that an old client could
// misread bumps it.
const ProtocolVersion = 1

// MaxRequestSize bounds a request: a longer one is refused unread (CodeTooLarge).
const MaxRequestSize = 64 << 10

// MaxProxyPorts is the most proxy ports set-proxy-ports accepts (the strict profile
// itself accepts more; the service's callers get a smaller budget).
const MaxProxyPorts = 16

// MaxEventsSince is the longest look-back an events request may ask for, and
// DefaultEventsSince the one it gets without "since".
const (
	MaxEventsSince     = 24 * time.Hour
	DefaultEventsSince = time.Hour
)

// MaxEvents bounds the events a response carries (the newest are kept).
const MaxEvents = 200

// Operations.
const (
	OpStatus        = "status"
	OpSetProxyPorts = "set-proxy-ports"
	OpEvents        = "events"
)

// Request is one request, as JSON:
//
//	{"version": 1, "op": "status", "sid": "S-1-5-21-…"}
//	{"version": 1, "op": "set-proxy-ports", "sid": "S-1-5-21-…", "proxyPorts": [3128, 8080]}
//	{"version": 1, "op": "events", "sid": "S-1-5-21-…", "since": "15m"}
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// SID is the sandbox account the request is about (canonical S-1-… form).
	SID string `json:"sid"`
	// ProxyPorts (set-proxy-ports only): 1 to MaxProxyPorts ports, 1-65535, no repeats.
	ProxyPorts []uint16 `json:"proxyPorts,omitempty"`
	// Since (events only): how far back, a Go duration up to MaxEventsSince
	// (DefaultEventsSince when empty).
	Since string `json:"since,omitempty"`
}

// Error codes of a Response.
const (
	CodeBadRequest  = "bad-request"  // not a valid request: the message says what is wrong
	CodeTooLarge    = "too-large"    // more than MaxRequestSize bytes
	CodeVersion     = "version"      // another protocol version
	CodeDenied      = "denied"       // the caller may not do this
	CodeNotRecorded = "not-recorded" // the account has no usable setup record
	CodeRefused     = "refused"      // valid, but not allowed for this account (e.g. not strict)
	CodeUnavailable = "unavailable"  // the engine or the event log cannot be read now
	CodeFailed      = "failed"       // the operation ran and failed (WFP error); nothing changed
	CodeTimeout     = "timeout"      // the request did not finish in time
	CodeBusy        = "busy"         // too many requests at once
	CodeInternal    = "internal"     // a bug: reported, the service keeps running
)

// Error is a response's error.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// WFPCode names the WFP status when the failure carries one (FWP_E_…).
	WFPCode string `json:"wfpCode,omitempty"`
}

// Response is the answer to one request: exactly one of Error or the operation's
// result is set.
type Response struct {
	Version int    `json:"version"`
	Op      string `json:"op,omitempty"`
	OK      bool   `json:"ok"`
	Error   *Error `json:"error,omitempty"`

	Status        *StatusResult        `json:"status,omitempty"`
	SetProxyPorts *SetProxyPortsResult `json:"setProxyPorts,omitempty"`
	Events        *events.Report       `json:"events,omitempty"`
}

// StatusResult is a status answer: what the account's record holds and how the live
// policy compares with the plan rebuilt from it.
type StatusResult struct {
	SID         string   `json:"sid"`
	Profile     string   `json:"profile"`
	UserMatch   string   `json:"userMatch"`
	ProxyPorts  []uint16 `json:"proxyPorts,omitempty"`
	PlanHash    string   `json:"planHash"`
	FilterCount int      `json:"filterCount"`
	// SetupVersion is the record's; Current is true when it is this build's and the
	// record's WFP step succeeded and the live policy is compliant.
	SetupVersion int               `json:"setupVersion"`
	Current      bool              `json:"current"`
	Verify       *reconcile.Report `json:"verify"`
	// Notifications is true while the service converges on WFP change notifications
	// for the wfpsandbox provider's objects; false: on its poll only.
	Notifications bool `json:"notifications"`
}

// SetProxyPortsResult is a set-proxy-ports answer.
type SetProxyPortsResult struct {
	SID        string             `json:"sid"`
	ProxyPorts []uint16           `json:"proxyPorts"`
	PlanHash   string             `json:"planHash"`
	Changes    []reconcile.Change `json:"changes"`
	Writes     int                `json:"writes"`
	RecordPath string             `json:"recordPath"`
}

// RequestError is a request that could not be decoded or is invalid.
type RequestError struct {
	Code string // CodeBadRequest, CodeTooLarge or CodeVersion
	Err  error
}

// Error says what is wrong with the request.
func (e *RequestError) Error() string { return "request: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *RequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return &RequestError{Code: CodeBadRequest, Err: fmt.Errorf(format, args...)}
}

// DecodeRequest reads one request from r (at most MaxRequestSize bytes: one JSON
// object, then only white space), refusing unknown fields, wrong types and trailing
// data, and validates it (Validate). It never panics; every error is a *RequestError.
func DecodeRequest(r io.Reader) (*Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestSize+1))
	if err != nil {
		return nil, &RequestError{Code: CodeBadRequest, Err: fmt.Errorf("read: %w", err)}
	}
	return ParseRequest(data)
}

// ParseRequest is DecodeRequest of a request already read.
func ParseRequest(data []byte) (*Request, error) {
	if len(data) > MaxRequestSize {
		return nil, &RequestError{Code: CodeTooLarge, Err: fmt.Errorf("more than %d bytes", MaxRequestSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, badRequest("empty: want a JSON object such as {\"version\": %d, \"op\": \"status\", \"sid\": \"S-1-5-21-…\"}", ProtocolVersion)
	}
	// The version first, on its own: a request of another version is answered as
	// such, not with whatever field error its layout would cause.
	var head struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, badRequest("not a JSON object: %v", err)
	}
	var v int
	if len(head.Version) == 0 {
		return nil, badRequest("no \"version\": want %d", ProtocolVersion)
	}
	if err := json.Unmarshal(head.Version, &v); err != nil {
		return nil, badRequest("\"version\" %s is not an integer", head.Version)
	}
	if v != ProtocolVersion {
		return nil, &RequestError{Code: CodeVersion, Err: fmt.Errorf("protocol version %d: this service speaks %d", v, ProtocolVersion)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("data after the request object")
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

// Validate checks everything about a request that does not need the host: the
// version, the operation, the SID (canonical, and one that can be a sandbox account),
// and that each field is one its operation takes and is in range.
func (r *Request) Validate() error {
	if r.Version != ProtocolVersion {
		return &RequestError{Code: CodeVersion, Err: fmt.Errorf("protocol version %d: this service speaks %d", r.Version, ProtocolVersion)}
	}
	switch r.Op {
	case OpStatus, OpSetProxyPorts, OpEvents:
	case "":
		return badRequest("no \"op\": want %s, %s or %s", OpStatus, OpSetProxyPorts, OpEvents)
	default:
		return badRequest("unknown op %q: want %s, %s or %s", r.Op, OpStatus, OpSetProxyPorts, OpEvents)
	}
	if r.SID == "" {
		return badRequest("%s: no \"sid\": name the sandbox account by its SID", r.Op)
	}
	sid, err := account.ParseSID(r.SID)
	if err != nil {
		return badRequest("%s: sid: %v", r.Op, err)
	}
	if sid.String() != r.SID {
		return badRequest("%s: sid %q is not in canonical form (%s)", r.Op, r.SID, sid)
	}
	if err := account.CheckSandboxCandidate(sid); err != nil {
		return badRequest("%s: sid %s: %v", r.Op, r.SID, err)
	}
	if r.Op != OpSetProxyPorts && r.ProxyPorts != nil {
		return badRequest("%s takes no \"proxyPorts\"", r.Op)
	}
	if r.Op != OpEvents && r.Since != "" {
		return badRequest("%s takes no \"since\"", r.Op)
	}
	switch r.Op {
	case OpSetProxyPorts:
		if len(r.ProxyPorts) == 0 {
			return badRequest("set-proxy-ports: no \"proxyPorts\": give 1 to %d ports (an empty list would open all of loopback; only an elevated setup may choose that)", MaxProxyPorts)
		}
		if len(r.ProxyPorts) > MaxProxyPorts {
			return badRequest("set-proxy-ports: %d proxy ports, at most %d", len(r.ProxyPorts), MaxProxyPorts)
		}
		for i, p := range r.ProxyPorts {
			if p == 0 {
				return badRequest("set-proxy-ports: proxy port 0 is not a port: want 1-65535")
			}
			if slices.Contains(r.ProxyPorts[:i], p) {
				return badRequest("set-proxy-ports: proxy port %d listed twice", p)
			}
		}
	case OpEvents:
		if _, err := r.since(); err != nil {
			return err
		}
	}
	return nil
}

// since returns the events request's look-back.
func (r *Request) since() (time.Duration, error) {
	if r.Since == "" {
		return DefaultEventsSince, nil
	}
	d, err := time.ParseDuration(r.Since)
	if err != nil {
		return 0, badRequest("events: since %q is not a Go duration (\"15m\", \"1h\")", r.Since)
	}
	if d <= 0 || d > MaxEventsSince {
		return 0, badRequest("events: since %s is out of range: want more than 0, at most %s", r.Since, MaxEventsSince)
	}
	return d, nil
}

// errorResponse builds the response for err with code.
func errorResponse(op, code string, err error) *Response {
	return &Response{Version: ProtocolVersion, Op: op, Error: &Error{Code: code, Message: err.Error()}}
}

// EncodeResponse writes resp as one line of JSON.
func EncodeResponse(w io.Writer, resp *Response) error {
	data, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// FrameReader reads the protocol's frames from a stream: one request (or response)
// is one line of JSON, ended by "\n", of at most MaxRequestSize bytes. Line framing
// works over a byte-mode or a message-mode pipe alike; encoding/json never writes a
// raw newline inside a value.
type FrameReader struct {
	r *bufio.Reader
}

// NewFrameReader returns a FrameReader reading r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 4096)}
}

// ReadFrame returns the next frame without its "\n". A frame longer than
// MaxRequestSize is a *RequestError with CodeTooLarge (the rest is not read); a stream
// that ends before the "\n" is an error.
func (f *FrameReader) ReadFrame() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := f.r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxRequestSize+1 {
			return nil, &RequestError{Code: CodeTooLarge, Err: fmt.Errorf("more than %d bytes", MaxRequestSize)}
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return nil, &RequestError{Code: CodeBadRequest, Err: errors.New("the request does not end with a newline")}
		default:
			return nil, err
		}
	}
}
