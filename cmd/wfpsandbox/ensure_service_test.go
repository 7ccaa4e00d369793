package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/service"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

const callerSID = "S-1-5-21-1000-1000-1000-2001"

// withService makes ensure talk to an in-process service over h (as the pipe would,
// for the caller callerSID, which the service is configured to accept) and returns a
// counter of the requests it got.
func withService(t *testing.T, h simHost) *int {
	t.Helper()
	path := strings.TrimPrefix(h.engine, "memory:")
	svc, err := service.New(service.Config{StateDir: h.state, Callers: []string{callerSID},
		Open: func() (wfp.Engine, error) { return memengine.OpenFile(path) }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	old := askService
	askService = func(ctx context.Context, req *service.Request) (*service.Response, error) {
		n++
		data, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		return svc.Handle(ctx, service.Caller{User: callerSID}, data), nil
	}
	t.Cleanup(func() { askService = old })
	return &n
}

// ensureDocOf runs ensure (without --engine: unelevated, it cannot read the live
// policy itself) and decodes its JSON.
func ensureNoEngine(t *testing.T, h simHost, extra ...string) (int, ensureDoc, string) {
	t.Helper()
	args := append([]string{"ensure", "--state-dir", h.state, "--format", "json"}, extra...)
	code, out, stderr := wfpsandbox(t, args...)
	var doc ensureDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("ensure %v: %v\n%s%s", extra, err, out, stderr)
	}
	return code, doc, out + stderr
}

func TestEnsureWithoutServiceIsDirect(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--user-match", "allow")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	old := askService
	askService = func(context.Context, *service.Request) (*service.Response, error) {
		return nil, service.ErrNotAvailable
	}
	defer func() { askService = old }()
	code, doc, out := ensureNoEngine(t, h, "--sid", sid, "--no-elevate")
	if code != exitOK || doc.Via != viaDirect || doc.Check.Live {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestEnsureAsksTheServiceForLiveStatus(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--user-match", "allow")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	asked := withService(t, h)
	code, doc, out := ensureNoEngine(t, h, "--sid", sid, "--no-elevate")
	if code != exitOK || doc.Via != viaService || !doc.Check.Live || *asked != 1 {
		t.Fatalf("exit %d, %d requests: %s", code, *asked, out)
	}
	// A filter deleted behind the record's back: the record alone says current, the
	// service's live status says drift.
	s, err := memengine.OpenFile(strings.TrimPrefix(h.engine, "memory:"))
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := s.Filters(nil)
	if err := s.DeleteFilter(fs[0].Key); err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, doc, out = ensureNoEngine(t, h, "--sid", sid, "--no-elevate")
	if code != exitSetupNeeded || doc.Via != viaService || !strings.Contains(out, "policy-drift") {
		t.Errorf("after tampering: exit %d: %s", code, out)
	}
}

func TestEnsureHasTheServiceApplyProxyPorts(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--profile", "strict", "--user-match", "allow", "--proxy-port", "3128")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	withService(t, h)
	// --no-elevate changes nothing, the service included.
	code, doc, out := ensureNoEngine(t, h, "--sid", sid, "--proxy-port", "8080", "--no-elevate")
	if code != exitSetupNeeded || doc.ServiceChange != nil {
		t.Fatalf("--no-elevate: exit %d: %s", code, out)
	}
	code, doc, out = ensureNoEngine(t, h, "--sid", sid, "--proxy-port", "8080", "--proxy-port", "9090")
	if code != exitOK || doc.Action != "service-set-proxy-ports" || doc.Via != viaService || doc.ServiceChange == nil || doc.ServiceChange.Writes == 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	rec, err := state.Read(h.state, sid)
	if err != nil || !slices.Equal(rec.ProxyPorts, []uint16{8080, 9090}) || rec.Profile != "strict" || rec.UserMatch != "allow" {
		t.Fatalf("record %+v %v", rec, err)
	}
	// ensure that reads the live policy itself (here --engine; on Windows the live BFE
	// when it may) also sees the new plan's drift: still the service's to apply.
	code, doc, out = ensureJSON(t, h, "--sid", sid, "--proxy-port", "8081")
	if code != exitOK || doc.Action != "service-set-proxy-ports" || !doc.Check.Live || !strings.Contains(out, "policy-drift") {
		t.Fatalf("with a live read: exit %d: %s", code, out)
	}
	if rec, err := state.Read(h.state, sid); err != nil || !slices.Equal(rec.ProxyPorts, []uint16{8081}) {
		t.Fatalf("record %+v %v", rec, err)
	}
	// Now current, through the service's live status.
	if code, doc, out := ensureNoEngine(t, h, "--sid", sid, "--no-elevate"); code != exitOK || doc.Via != viaService {
		t.Errorf("afterwards: exit %d: %s", code, out)
	}
	// A profile change is not the service's to make: ensure goes the direct way
	// (here, off Windows, setup in-process).
	code, doc, out = ensureNoEngine(t, h, "--sid", sid, "--profile", "baseline", "--no-elevate")
	if code != exitSetupNeeded || doc.ServiceChange != nil {
		t.Errorf("profile change: exit %d: %s", code, out)
	}
}

func TestServiceStatusAsksThePipe(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--user-match", "allow")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	code, out, stderr := wfpsandbox(t, "service", "status", "--sid", sid, "--format", "json")
	var doc serviceDoc
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || doc.Account != nil || !strings.Contains(doc.Pipe, "not available") {
		t.Fatalf("no service: exit %d %s %s", code, out, stderr)
	}
	withService(t, h)
	code, out, stderr = wfpsandbox(t, "service", "status", "--sid", sid, "--format", "json")
	doc = serviceDoc{}
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || doc.Account == nil || !doc.Account.Current || doc.Account.SID != sid {
		t.Fatalf("with the service: exit %d %s %s", code, out, stderr)
	}
	if code, _, stderr := wfpsandbox(t, "service", "start", "--sid", sid); code != exitError || !strings.Contains(stderr, "--sid goes with status only") {
		t.Errorf("start --sid: exit %d %s", code, stderr)
	}
}
