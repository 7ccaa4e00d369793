package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// fakeLog is a net event log holding fixed events; Subscribe delivers live and then
// waits for ctx, as the engine's subscription does.
type fakeLog struct {
	raws, live []events.Raw
	err        error
	since      time.Time
	subscribed chan struct{}
}

func (f *fakeLog) Enum(since time.Time) ([]events.Raw, error) {
	f.since = since
	return f.raws, f.err
}

func (f *fakeLog) Subscribe(ctx context.Context, fn func(events.Raw)) error {
	if f.err != nil {
		return f.err
	}
	for _, r := range f.live {
		fn(r)
	}
	close(f.subscribed)
	<-ctx.Done()
	return nil
}

// withEventLog makes `events` read log, resolving filter IDs on the simulated host in
// engine, for the duration of the test.
func withEventLog(t *testing.T, engine string, log *fakeLog) {
	t.Helper()
	saved := openEventLog
	t.Cleanup(func() { openEventLog = saved })
	openEventLog = func(spec string, version int) (*eventLog, error) {
		if spec != defaultEngine() || version != -1 {
			t.Errorf("openEventLog(%q, %d), want the default engine and version", spec, version)
		}
		e, err := openEngine(engine)
		if err != nil {
			return nil, err
		}
		return &eventLog{src: log, filters: e, version: 5, close: e.Close}, nil
	}
}

// simulatedHost sets up the baseline plan for sid plus one filter of another provider
// on a file-backed simulated host and returns the engine spec, the ID of the plan's
// IPv4 DNS filter with its rule ID, and the foreign filter's ID.
func simulatedHost(t *testing.T) (engine, rule string, ours, foreign uint64) {
	t.Helper()
	engine = "memory:" + filepath.Join(t.TempDir(), "host.json")
	if code, out, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", engine); code != exitOK {
		t.Fatalf("setup: exit %d: %s%s", code, out, stderr)
	}
	e, err := openEngine(engine)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pk := policy.ProviderKey
	fs, err := e.Filters(&pk)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Layer == wfp.LayerALEAuthConnectV4 && len(f.Conditions) == 1 && f.Conditions[0].Field == wfp.FieldIPRemotePort && f.Conditions[0].Value.Uint == 53 {
			o, err := policy.ParseOwner(f.ProviderData)
			if err != nil {
				t.Fatal(err)
			}
			rule, ours = o.Rule, f.ID
		}
	}
	if ours == 0 {
		t.Fatal("no IPv4 DNS filter installed")
	}
	contoso := wfp.MustParseGUID("0f0e0d0c-0b0a-4908-8706-050403020100")
	if err := e.AddProvider(&wfp.Provider{Key: contoso, Name: "Contoso Firewall", Flags: wfp.ProviderFlagPersistent}); err != nil {
		t.Fatal(err)
	}
	foreign, err = e.AddFilter(&wfp.Filter{
		Key: wfp.MustParseGUID("1a2b3c4d-0000-4000-8000-000000000001"), Name: "Contoso: block all outbound",
		Flags: wfp.FilterFlagPersistent, ProviderKey: &contoso, Layer: wfp.LayerALEAuthConnectV4,
		Sublayer: wfp.MustParseGUID("eebecc03-ced4-4380-819a-2734397b2b74"), Action: wfp.Action{Type: wfp.ActionBlock},
	})
	if err != nil {
		t.Fatal(err)
	}
	return engine, rule, ours, foreign
}

// dropOf is a CLASSIFY_DROP5 of TCP 10.0.0.5:49152 → 1.1.1.1:53 by the sandbox account.
func dropOf(t *testing.T, filterID uint64, at time.Time) events.Raw {
	t.Helper()
	s, err := account.ParseSID(sid)
	if err != nil {
		t.Fatal(err)
	}
	var app []byte
	for _, r := range `\device\harddiskvolume2\bin\kdig.exe` + "\x00" {
		app = binary.LittleEndian.AppendUint16(app, uint16(r))
	}
	r := events.Raw{
		Version: 5, TimeStamp: wfp.ToFileTime(at), Flags: 0x17f, IPProtocol: 6,
		LocalPort: 49152, RemotePort: 53, AppID: app, UserID: s.Bytes(), Type: wfp.NetEventTypeClassifyDrop,
		Drop: &events.RawDrop{Version: 2, FilterID: filterID, LayerID: 48, Direction: wfp.NetEventDirectionOut},
	}
	binary.LittleEndian.PutUint32(r.LocalAddr[:], 0x0a000005)
	binary.LittleEndian.PutUint32(r.RemoteAddr[:], 0x01010101)
	return r
}

func TestEventsTableAndJSON(t *testing.T) {
	engine, rule, ours, foreign := simulatedHost(t)
	now := time.Now()
	broken := dropOf(t, ours, now)
	broken.Drop, broken.AppID = nil, nil
	log := &fakeLog{raws: []events.Raw{dropOf(t, ours, now), dropOf(t, foreign, now), broken}}
	withEventLog(t, engine, log)

	code, out, stderr := wfpsandbox(t, "events", "--since", "30m")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if d := time.Since(log.since); d < 30*time.Minute || d > 31*time.Minute {
		t.Errorf("--since 30m reached the log as %v ago", d)
	}
	for _, want := range []string{
		"ALE_AUTH_CONNECT_V4", `\device\harddiskvolume2\bin\kdig.exe`, "10.0.0.5:49152", "1.1.1.1:53", "tcp", sid,
		"rule " + rule + " (account's own sublayer)", "could not decode the dropping filter: classifyDrop is NULL",
		"1 drop(s) by other providers' filters not shown (use --all)", "128 KB", "reboot", "FWPM_NET_EVENT5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Contoso") {
		t.Errorf("another provider's drop shown without --all:\n%s", out)
	}

	code, out, stderr = wfpsandbox(t, "events", "--all", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		StructVersion int
		Undecodable   int
		Events        []struct {
			Ours     bool
			FilterID uint64
			Filter   struct{ Name, Key, Rule, SID, Provider, Sublayer string }
			Notes    []string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.StructVersion != 5 || doc.Undecodable != 1 || len(doc.Events) != 3 {
		t.Fatalf("JSON %s", out)
	}
	if e := doc.Events[0]; !e.Ours || e.FilterID != ours || e.Filter.Rule != rule || e.Filter.SID != sid || e.Filter.Sublayer != "account" ||
		e.Filter.Provider != policy.ProviderName || e.Filter.Key != policy.FilterKey(sid, rule).String() {
		t.Errorf("our drop: %+v", e)
	}
	if e := doc.Events[1]; e.Ours || e.Filter.Provider != "Contoso Firewall" || e.Filter.Name != "Contoso: block all outbound" {
		t.Errorf("foreign drop with --all: %+v", e)
	}

	// Another account's drops are hidden by --sid.
	code, out, _ = wfpsandbox(t, "events", "--sid", "S-1-5-21-9-9-9-1001")
	if code != exitOK || !strings.Contains(out, "drop(s) of other accounts not shown") || strings.Contains(out, "kdig") {
		t.Errorf("--sid of another account: exit %d\n%s", code, out)
	}
}

func TestEventsCollectionDisabled(t *testing.T) {
	engine, _, _, _ := simulatedHost(t)
	withEventLog(t, engine, &fakeLog{err: &wfp.CallError{Call: "FwpmNetEventCreateEnumHandle0", Code: wfp.ErrNetEventsDisabled}})
	code, out, stderr := wfpsandbox(t, "events")
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	for _, want := range []string{"netsh wfp set options netevents=on", "128 KB", "reboot", "FWP_E_NET_EVENTS_DISABLED"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s%s", want, out, stderr)
		}
	}
	// --follow subscribes, and the subscription is refused the same way.
	if code, _, stderr := wfpsandbox(t, "events", "--follow"); code != exitError || !strings.Contains(stderr, "netevents=on") {
		t.Errorf("--follow with collection off: exit %d: %s", code, stderr)
	}
	code, out, _ = wfpsandbox(t, "events", "--format", "json")
	var doc errorDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitError || doc.Code != "FWP_E_NET_EVENTS_DISABLED" ||
		!strings.Contains(doc.Error, "netevents=on") {
		t.Errorf("JSON error: exit %d %s (%v)", code, out, err)
	}
}

func TestEventsFollowStopsOnCancel(t *testing.T) {
	engine, rule, ours, foreign := simulatedHost(t)
	log := &fakeLog{
		raws:       []events.Raw{dropOf(t, ours, time.Now().Add(-time.Minute))},
		live:       []events.Raw{dropOf(t, foreign, time.Now()), dropOf(t, ours, time.Now())},
		subscribed: make(chan struct{}),
	}
	withEventLog(t, engine, log)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-log.subscribed
		time.Sleep(50 * time.Millisecond) // let the live events be printed
		cancel()                          // what Ctrl+C does to main's context
	}()
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"events", "--follow", "--since", "5m", "--format", "json"}, &stdout, &stderr)
	}()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--follow did not stop after its context was cancelled")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the logged drop and the live one of ours (the foreign one hidden), got:\n%s", stdout.String())
	}
	for _, l := range lines {
		var e struct {
			Ours   bool
			Filter struct{ Rule string }
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || !e.Ours || e.Filter.Rule != rule {
			t.Errorf("line %q (%v)", l, err)
		}
	}
}

func TestEventsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"events", "--since", "-5m"},
		{"events", "--since", "yesterday"},
		{"events", "--sid", sid, "--account", "sandbox"},
		{"events", "--sid", "S-1-bogus"},
		{"events", "--net-event-version", "6"},
		{"events", "stray"},
	} {
		if code, _, stderr := wfpsandbox(t, args...); code != exitError || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if runtime.GOOS != "windows" {
		code, _, stderr := wfpsandbox(t, "events")
		if code != exitError || !strings.Contains(stderr, "no Windows Filtering Platform") || strings.Contains(stderr, "memory:") {
			t.Errorf("events without WFP: exit %d: %s", code, stderr)
		}
	}
	// The default opener refuses a simulated host: it has no net event log.
	code, _, stderr := wfpsandbox(t, "events", "--engine", "memory:"+filepath.Join(t.TempDir(), "h.json"))
	if code != exitError || !strings.Contains(stderr, "no net event log") {
		t.Errorf("memory engine: exit %d: %s", code, stderr)
	}
}
