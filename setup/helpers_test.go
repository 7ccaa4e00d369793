package setup

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// Test accounts: ordinary S-1-5-21 users (RID ≥ 1000).
const (
	sidA = "S-1-5-21-1111111111-2222222222-3333333333-1001"
	sidB = "S-1-5-21-1111111111-2222222222-3333333333-1002"
)

// fakeResolve resolves the test SIDs and the names "sandbox" (sidA) and "other" (sidB),
// like account.Resolve on Windows.
func fakeResolve(nameOrSID string) (account.Account, error) {
	m := map[string]string{"sandbox": sidA, `HOST\sandbox`: sidA, sidA: sidA, "other": sidB, `HOST\other`: sidB, sidB: sidB}
	names := map[string]string{sidA: "sandbox", sidB: "other"}
	s, ok := m[nameOrSID]
	if !ok {
		return account.Account{}, account.ErrNoSuchAccount
	}
	sid, err := account.ParseSID(s)
	if err != nil {
		return account.Account{}, err
	}
	return account.Account{Name: names[s], Domain: "HOST", SID: sid, Kind: account.KindUser}, nil
}

// bufLogger is a logger writing text into a buffer, safe for concurrent use.
type bufLogger struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *bufLogger) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *bufLogger) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *bufLogger) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// host is a test machine: a state directory and a file-backed memengine.
type host struct {
	t       *testing.T
	dir     string
	engine  string
	fault   func(memengine.Call) error
	opens   int
	openErr error
	log     bufLogger
}

func newHost(t *testing.T) *host {
	t.Helper()
	d := t.TempDir()
	return &host{t: t, dir: filepath.Join(d, "state"), engine: filepath.Join(d, "bfe.json")}
}

// open is the Opener: memengine.OpenFile with h.fault injected.
func (h *host) open() (wfp.Engine, error) {
	h.opens++
	if h.openErr != nil {
		return nil, h.openErr
	}
	s, err := memengine.OpenFile(h.engine)
	if err != nil {
		return nil, err
	}
	s.SetTxnWaitTimeout(2 * time.Second)
	if h.fault != nil {
		s.InjectFault(h.fault)
	}
	return s, nil
}

// opts returns Run options for account with h's engine and state.
func (h *host) opts(acct string) Options {
	return Options{
		Account: acct, StateDir: h.dir, Open: h.open, Logger: h.log.logger(),
		Resolve: fakeResolve, ToolVersion: "test", RetryDelay: time.Millisecond,
	}
}

func (h *host) run(o Options) Report {
	h.t.Helper()
	rep, err := Run(context.Background(), o)
	if err != nil {
		h.t.Fatalf("Run: %v\nlog:\n%s", err, h.log.String())
	}
	return rep
}

// verify returns reconcile.Verify of the engine against the plan for sid/profile.
func (h *host) verify(sid string, profile policy.Profile, match policy.UserMatch) *reconcile.Report {
	h.t.Helper()
	plan, err := policy.Build(policy.Options{SID: sid, Profile: profile, UserMatch: match})
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := memengine.OpenFile(h.engine)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.Close()
	rep, err := reconcile.Verify(s, plan)
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

// filters counts the filters in the engine.
func (h *host) filters() int {
	h.t.Helper()
	s, err := memengine.OpenFile(h.engine)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.Close()
	fs, err := s.Filters(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(fs)
}

func (h *host) record(sid string) *state.Record {
	h.t.Helper()
	m, err := state.Read(h.dir, sid)
	if err != nil {
		h.t.Fatalf("state.Read: %v", err)
	}
	return m
}

func reasonCodes(rs []Reason) []ReasonCode {
	var out []ReasonCode
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

func hasReason(rs []Reason, c ReasonCode) bool {
	for _, r := range rs {
		if r.Code == c {
			return true
		}
	}
	return false
}

func newTestStderrLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
