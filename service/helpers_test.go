package service

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// Test accounts: ordinary S-1-5-21 users (RID ≥ 1000).
const (
	sidStrict   = "S-1-5-21-1111111111-2222222222-3333333333-1001"
	sidBaseline = "S-1-5-21-1111111111-2222222222-3333333333-1002"
	sidNone     = "S-1-5-21-1111111111-2222222222-3333333333-1003"
	sidCaller   = "S-1-5-21-1111111111-2222222222-3333333333-2001"
	sidStranger = "S-1-5-21-1111111111-2222222222-3333333333-2002"
)

var (
	admin    = Caller{User: "S-1-5-21-1111111111-2222222222-3333333333-500", Groups: []string{SIDAdministrators, "S-1-5-32-545"}}
	system   = Caller{User: SIDLocalSystem}
	caller   = Caller{User: sidCaller, Groups: []string{"S-1-5-32-545"}}
	stranger = Caller{User: sidStranger, Groups: []string{"S-1-5-32-545"}}
	// unelevated is an administrator's unelevated (UAC-filtered) token: Administrators
	// is deny-only there, so the transport does not list it as enabled.
	unelevated = Caller{User: "S-1-5-21-1111111111-2222222222-3333333333-500", Groups: []string{"S-1-5-32-545"}}
)

// syncBuf is a log buffer safe for concurrent use.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the JSON log records that carry event id.
func (b *syncBuf) records(t *testing.T, id setup.EventID) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split([]byte(b.String()), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if ev, ok := m[setup.EventKey].(float64); ok && setup.EventID(ev) == id {
			out = append(out, m)
		}
	}
	return out
}

// host is a test machine: a state directory and a file-backed memengine.
type host struct {
	t      *testing.T
	dir    string
	engine string
	log    syncBuf
	// fault, when set, is injected into every session Open opens.
	fault func(memengine.Call) error
	// bfe, when set, is the one BFE value every session of the host is opened on (so
	// that its sessions see each other's change notifications); else each session
	// opens the file anew, as separate processes would.
	bfe *memengine.BFE
	// commits counts committed transactions across sessions.
	mu      sync.Mutex
	commits int
	opens   int
	now     time.Time
}

func newHost(t *testing.T) *host {
	t.Helper()
	d := t.TempDir()
	return &host{t: t, dir: filepath.Join(d, "state"), engine: filepath.Join(d, "bfe.json"),
		now: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
}

func (h *host) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *host) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

func (h *host) open() (wfp.Engine, error) {
	h.mu.Lock()
	h.opens++
	fault := h.fault
	h.mu.Unlock()
	s, err := h.openSession()
	if err != nil {
		return nil, err
	}
	s.SetTxnWaitTimeout(2 * time.Second)
	s.InjectFault(func(c memengine.Call) error {
		if c.Name == "FwpmTransactionCommit0" {
			h.mu.Lock()
			h.commits++
			h.mu.Unlock()
		}
		if fault != nil {
			return fault(c)
		}
		return nil
	})
	return s, nil
}

func (h *host) commitCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commits
}

// setup runs an elevated setup for sid (always the allow user-match shape, which every
// engine of this tree accepts).
func (h *host) setup(sid string, profile policy.Profile, ports ...uint16) {
	h.t.Helper()
	rep, err := setup.Run(context.Background(), setup.Options{
		Account: sid, Profile: profile, UserMatch: policy.MatchAllow, ProxyPorts: ports,
		StateDir: h.dir, Open: h.open, ToolVersion: "test", Now: h.clock,
	})
	if err != nil || rep.WFPFailed() {
		h.t.Fatalf("setup %s: %v %+v", sid, err, rep.Steps)
	}
}

func (h *host) service(mod func(*Config)) *Service {
	h.t.Helper()
	cfg := Config{
		StateDir: h.dir, Open: h.open, Callers: []string{sidCaller}, ToolVersion: "test", Now: h.clock,
		Logger: slog.New(slog.NewJSONHandler(&h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *host) openSession() (*memengine.Session, error) {
	if h.bfe != nil {
		return h.bfe.Open(), nil
	}
	return memengine.OpenFile(h.engine)
}

func (h *host) session() *memengine.Session {
	h.t.Helper()
	s, err := h.openSession()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { s.Close() })
	return s
}

// filters returns every installed filter by key.
func (h *host) filters() map[wfp.GUID]*wfp.Filter {
	h.t.Helper()
	s := h.session()
	fs, err := s.Filters(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[wfp.GUID]*wfp.Filter{}
	for _, f := range fs {
		out[f.Key] = f
	}
	return out
}

// verify verifies the recorded plan of sid against the engine.
func (h *host) verify(sid string) *reconcile.Report {
	h.t.Helper()
	rec := h.record(sid)
	plan, err := setup.PlanOfRecord(h.dir, rec)
	if err != nil {
		h.t.Fatal(err)
	}
	rep, err := reconcile.Verify(h.session(), plan)
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

func (h *host) record(sid string) *state.Record {
	h.t.Helper()
	r, err := state.Read(h.dir, sid)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// tamper deletes the installed filter of sid's rule, as another administrator or tool
// would, outside any wfpsandbox code path.
func (h *host) tamper(sid, rule string) {
	h.t.Helper()
	s := h.session()
	key := policy.FilterKey(sid, rule)
	if err := s.DeleteFilter(key); err != nil {
		h.t.Fatalf("tamper: delete %s of %s: %v", rule, sid, err)
	}
}

// request encodes v as a request.
func request(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type wfpEngine = wfp.Engine

var errNoEngine = wfp.ErrUnavailable

type memengineCall = memengine.Call

// tamperIfPresent deletes sid's rule filter when it is installed.
func (h *host) tamperIfPresent(sid, rule string) {
	h.t.Helper()
	if h.filters()[policy.FilterKey(sid, rule)] != nil {
		h.tamper(sid, rule)
	}
}
