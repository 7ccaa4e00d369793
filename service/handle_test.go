package service

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func statusReq(sid string) map[string]any {
	return map[string]any{"version": 1, "op": OpStatus, "sid": sid}
}

func portsReq(sid string, ports ...uint16) map[string]any {
	return map[string]any{"version": 1, "op": OpSetProxyPorts, "sid": sid, "proxyPorts": ports}
}

func TestMay(t *testing.T) {
	callers := []string{sidCaller, "S-1-5-21-1111111111-2222222222-3333333333-3000"}
	group := Caller{User: sidStranger, Groups: []string{"S-1-5-21-1111111111-2222222222-3333333333-3000"}}
	for _, tc := range []struct {
		name string
		c    Caller
		op   string
		want bool
	}{
		{"system status", system, OpStatus, true},
		{"system events", system, OpEvents, true},
		{"admin set-proxy-ports", admin, OpSetProxyPorts, true},
		{"admin events", admin, OpEvents, true},
		{"caller status", caller, OpStatus, true},
		{"caller set-proxy-ports", caller, OpSetProxyPorts, true},
		{"caller events", caller, OpEvents, false},
		{"caller by group", group, OpSetProxyPorts, true},
		{"stranger status", stranger, OpStatus, false},
		{"stranger set-proxy-ports", stranger, OpSetProxyPorts, false},
		{"unelevated admin status", unelevated, OpStatus, false},
		{"unidentified", Caller{Groups: []string{SIDAdministrators}}, OpStatus, false},
		{"caller unknown op", caller, "uninstall", false},
	} {
		if got := may(tc.c, tc.op, callers); got != tc.want {
			t.Errorf("%s: may = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHandleStatus(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	s := h.service(nil)
	for _, c := range []Caller{system, admin, caller} {
		resp := s.Handle(context.Background(), c, request(t, statusReq(sidStrict)))
		if !resp.OK || resp.Status == nil {
			t.Fatalf("%s: %+v", c.User, resp.Error)
		}
		st := resp.Status
		if !st.Current || !st.Verify.Compliant || st.Profile != "strict" || !slices.Equal(st.ProxyPorts, []uint16{3128}) ||
			st.Verify.Planned != st.FilterCount || st.SID != sidStrict {
			t.Errorf("%s: status %+v", c.User, st)
		}
	}
	// Live: a deleted filter shows at once, whatever the record says.
	h.tamper(sidStrict, "dns-v4")
	resp := s.Handle(context.Background(), caller, request(t, statusReq(sidStrict)))
	if !resp.OK || resp.Status.Current || resp.Status.Verify.Compliant || len(resp.Status.Verify.Findings) != 1 {
		t.Fatalf("after tampering: %+v %+v", resp.Error, resp.Status)
	}
	for _, tc := range []struct {
		c    Caller
		req  map[string]any
		code string
	}{
		{stranger, statusReq(sidStrict), CodeDenied},
		{unelevated, statusReq(sidStrict), CodeDenied},
		{caller, statusReq(sidNone), CodeNotRecorded},
		{caller, map[string]any{"version": 1, "op": OpEvents, "sid": sidStrict}, CodeDenied},
		{admin, map[string]any{"version": 1, "op": OpEvents, "sid": sidStrict}, CodeUnavailable},
	} {
		resp := s.Handle(context.Background(), tc.c, request(t, tc.req))
		if resp.OK || resp.Error == nil || resp.Error.Code != tc.code {
			t.Errorf("%s %v: %+v, want %s", tc.c.User, tc.req, resp.Error, tc.code)
		}
	}
	if len(h.log.records(t, setup.EventServiceRequest)) < 2 {
		t.Error("denied requests were not logged with EventServiceRequest")
	}
}

// The filters of the engine, keyed, with what differs only by re-adding (the ID)
// cleared.
func snapshot(h *host) map[wfp.GUID]*wfp.Filter {
	fs := h.filters()
	for _, f := range fs {
		f.ID, f.EffectiveWeight = 0, 0
	}
	return fs
}

func TestSetProxyPortsChangesOnlyThePermits(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	h.setup(sidBaseline, policy.Baseline)
	before := snapshot(h)
	recBefore := h.record(sidStrict)
	s := h.service(nil)
	commits := h.commitCount()
	resp := s.Handle(context.Background(), caller, request(t, portsReq(sidStrict, 8080, 3129)))
	if !resp.OK {
		t.Fatalf("set-proxy-ports: %+v", resp.Error)
	}
	if got := h.commitCount() - commits; got != 1 {
		t.Errorf("%d transactions committed, want one", got)
	}
	r := resp.SetProxyPorts
	if r.Writes == 0 || !slices.Equal(r.ProxyPorts, []uint16{8080, 3129}) {
		t.Errorf("result %+v", r)
	}
	after := snapshot(h)
	if len(after) != len(before) {
		t.Fatalf("%d filters before, %d after", len(before), len(after))
	}
	changed := map[string]bool{}
	for k, b := range before {
		a := after[k]
		if a == nil {
			t.Fatalf("filter %s (%s) gone", k, b.Name)
		}
		o, _ := policy.ParseOwner(a.ProviderData)
		same := a.Action == b.Action && a.Layer == b.Layer && a.Sublayer == b.Sublayer && a.Flags == b.Flags &&
			a.Weight.Equal(b.Weight) && slices.Equal(a.ProviderData, b.ProviderData)
		if !same {
			t.Errorf("filter %s (%s): more than its conditions changed", k, b.Name)
		}
		if conditionsEqual(a.Conditions, b.Conditions) {
			continue
		}
		changed[o.SID+" "+o.Rule] = true
		// Only the remote-port conditions may differ.
		if !conditionsEqual(withoutPorts(a.Conditions), withoutPorts(b.Conditions)) {
			t.Errorf("filter %s (%s): a condition other than the proxy ports changed", k, b.Name)
		}
		if got := ports(a.Conditions); !slices.Equal(got, []uint16{3129, 8080}) {
			t.Errorf("filter %s: ports %v", b.Name, got)
		}
	}
	want := map[string]bool{sidStrict + " strict-loopback-connect-v4": true, sidStrict + " strict-loopback-connect-v6": true}
	if len(changed) != len(want) || !changed[sidStrict+" strict-loopback-connect-v4"] || !changed[sidStrict+" strict-loopback-connect-v6"] {
		t.Errorf("changed filters %v, want %v", changed, want)
	}
	// The record: as setup writes it, with only the ports (and what follows from them) new.
	rec := h.record(sidStrict)
	if rec.Profile != recBefore.Profile || rec.UserMatch != recBefore.UserMatch || rec.FilterCount != recBefore.FilterCount ||
		!slices.Equal(rec.ProxyPorts, []uint16{8080, 3129}) || rec.PlanHash == recBefore.PlanHash || rec.PlanHash != r.PlanHash ||
		rec.SetupVersion != setup.SetupVersion {
		t.Errorf("record before %+v\nafter %+v", recBefore, rec)
	}
	if rep := h.verify(sidStrict); !rep.Compliant {
		t.Errorf("not compliant with the new record: %+v", rep.Findings)
	}
	if rep := h.verify(sidBaseline); !rep.Compliant {
		t.Errorf("the other account changed: %+v", rep.Findings)
	}
}

func conditionsEqual(a, b []wfp.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		if !slices.ContainsFunc(b, func(d wfp.Condition) bool { return c.Field == d.Field && c.Match == d.Match && c.Value.Equal(d.Value) }) {
			return false
		}
	}
	return true
}

func withoutPorts(cs []wfp.Condition) []wfp.Condition {
	return slices.DeleteFunc(slices.Clone(cs), func(c wfp.Condition) bool { return c.Field == wfp.FieldIPRemotePort })
}

func ports(cs []wfp.Condition) []uint16 {
	var out []uint16
	for _, c := range cs {
		if c.Field == wfp.FieldIPRemotePort {
			out = append(out, uint16(c.Value.Uint))
		}
	}
	slices.Sort(out)
	return out
}

func TestSetProxyPortsRefused(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(nil)
	snap := snapshot(h)
	recs := map[string]string{sidStrict: h.record(sidStrict).PlanHash, sidBaseline: h.record(sidBaseline).PlanHash}
	for _, tc := range []struct {
		name string
		c    Caller
		req  map[string]any
		code string
	}{
		{"baseline account", caller, portsReq(sidBaseline, 3128), CodeRefused},
		{"no record", caller, portsReq(sidNone, 3128), CodeNotRecorded},
		{"stranger", stranger, portsReq(sidStrict, 80), CodeDenied},
		{"unelevated admin", unelevated, portsReq(sidStrict, 80), CodeDenied},
		{"empty list (all of loopback)", caller, portsReq(sidStrict), CodeBadRequest},
		{"17 ports", admin, portsReq(sidStrict, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17), CodeBadRequest},
		{"a profile smuggled in", caller, map[string]any{"version": 1, "op": OpSetProxyPorts, "sid": sidStrict, "proxyPorts": []int{80}, "profile": "baseline"}, CodeBadRequest},
		{"user-match smuggled in", caller, map[string]any{"version": 1, "op": OpSetProxyPorts, "sid": sidStrict, "proxyPorts": []int{80}, "userMatch": "allow"}, CodeBadRequest},
		{"rules smuggled in", admin, map[string]any{"version": 1, "op": OpSetProxyPorts, "sid": sidStrict, "proxyPorts": []int{80}, "rules": []any{}}, CodeBadRequest},
	} {
		resp := s.Handle(context.Background(), tc.c, request(t, tc.req))
		if resp.OK || resp.Error == nil || resp.Error.Code != tc.code {
			t.Errorf("%s: %+v, want %s", tc.name, resp.Error, tc.code)
		}
	}
	after := snapshot(h)
	for k, b := range snap {
		if a := after[k]; a == nil || !conditionsEqual(a.Conditions, b.Conditions) {
			t.Errorf("filter %s changed by a refused request", b.Name)
		}
	}
	for sid, hash := range recs {
		if h.record(sid).PlanHash != hash {
			t.Errorf("record of %s changed by a refused request", sid)
		}
	}
}

func TestSetProxyPortsWFPFailureChangesNothing(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	snap := snapshot(h)
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmFilterAdd0" {
			return wfp.ErrInUse // not transient: setup does not retry it
		}
		return nil
	}
	s := h.service(nil)
	resp := s.Handle(context.Background(), admin, request(t, portsReq(sidStrict, 8080)))
	if resp.OK || resp.Error.Code != CodeFailed || resp.Error.WFPCode == "" {
		t.Fatalf("%+v", resp.Error)
	}
	h.fault = nil
	after := snapshot(h)
	for k, b := range snap {
		if a := after[k]; a == nil || !conditionsEqual(a.Conditions, b.Conditions) {
			t.Errorf("filter %s changed by a failed transaction", b.Name)
		}
	}
}

func TestHandleTimeoutAndPanic(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	release := make(chan struct{})
	slow := h.service(func(c *Config) {
		c.RequestTimeout = 50 * time.Millisecond
		c.Open = func() (wfp.Engine, error) { <-release; return h.open() }
	})
	resp := slow.Handle(context.Background(), admin, request(t, statusReq(sidStrict)))
	if resp.OK || resp.Error.Code != CodeTimeout {
		t.Fatalf("slow engine: %+v", resp.Error)
	}
	// The stuck request still holds the engine: the next one is told the service is busy.
	resp = slow.Handle(context.Background(), admin, request(t, statusReq(sidStrict)))
	if resp.OK || resp.Error.Code != CodeBusy {
		t.Fatalf("while busy: %+v", resp.Error)
	}
	close(release)

	n := 0
	bad := h.service(func(c *Config) {
		c.Open = func() (wfp.Engine, error) {
			n++
			if n == 1 {
				panic("bug")
			}
			return h.open()
		}
	})
	resp = bad.Handle(context.Background(), admin, request(t, statusReq(sidStrict)))
	if resp.OK || resp.Error.Code != CodeInternal || strings.Contains(resp.Error.Message, "bug") {
		t.Fatalf("panic: %+v", resp.Error)
	}
	resp = bad.Handle(context.Background(), admin, request(t, statusReq(sidStrict)))
	if !resp.OK {
		t.Fatalf("after a panic the service does not answer: %+v", resp.Error)
	}
}

// TestRefusalsDoNotFloodTheLog: a caller looping on bad or denied requests costs the
// log at most requestRecords warnings a minute (each one an Event Log entry, and the
// log file holds 4 MiB of history); the next warning logged says how many were not.
func TestRefusalsDoNotFloodTheLog(t *testing.T) {
	h := newHost(t)
	s := h.service(nil)
	for i := range 100 {
		data := []byte("{not json\n")
		if i%2 == 1 {
			data = request(t, map[string]any{"version": 1, "op": OpEvents, "sid": sidStrict}) // callers may not
		}
		if r := s.Handle(context.Background(), caller, data); r.OK {
			t.Fatalf("request %d accepted", i)
		}
	}
	refusals := func() []map[string]any { return h.log.records(t, setup.EventServiceRequest) }
	if n := len(refusals()); n != requestRecords {
		t.Errorf("100 refused requests: %d records, want %d", n, requestRecords)
	}
	h.advance(requestRecordsWindow)
	s.Handle(context.Background(), caller, []byte("{not json\n"))
	r := refusals()
	if last := r[len(r)-1]; len(r) != requestRecords+1 || last["notLogged"] != float64(100-requestRecords) {
		t.Errorf("a minute later: %d records, the last %v; want it to count the %d not logged", len(r), last, 100-requestRecords)
	}
}
