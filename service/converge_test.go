package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func outcome(t *testing.T, os []Outcome, sid string) Outcome {
	t.Helper()
	for _, o := range os {
		if o.SID == sid {
			return o
		}
	}
	t.Fatalf("no outcome for %s in %+v", sid, os)
	return Outcome{}
}

func TestTamperAndRepair(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	m, err := telemetry.Start(context.Background(), telemetry.Config{Enabled: true, ServiceVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(func(c *Config) { c.Metrics = m })

	out := s.ConvergeAll(context.Background())
	if outcome(t, out, sidStrict).Action != ActionCurrent || outcome(t, out, sidBaseline).Action != ActionCurrent {
		t.Fatalf("converged host: %+v", out)
	}
	commits := h.commitCount()

	h.tamper(sidStrict, "strict-block-connect-v4")
	h.tamper(sidStrict, "dns-v6")
	out = s.ConvergeAll(context.Background())
	o := outcome(t, out, sidStrict)
	if o.Action != ActionRepaired || len(o.Changes) != 2 {
		t.Fatalf("after tampering: %+v", o)
	}
	if outcome(t, out, sidBaseline).Action != ActionCurrent {
		t.Errorf("the untouched account: %+v", outcome(t, out, sidBaseline))
	}
	if got := h.commitCount() - commits; got != 1 {
		t.Errorf("the repair committed %d transactions, want 1", got)
	}
	if rep := h.verify(sidStrict); !rep.Compliant {
		t.Fatalf("not repaired: %+v", rep.Findings)
	}
	logged := h.log.records(t, setup.EventServiceRepaired)
	if len(logged) != 1 || logged[0]["sid"] != sidStrict || !strings.Contains(logged[0]["change"].(string), "add:filter:missing") {
		t.Errorf("repair log records %v", logged)
	}
	// Converged again: no writes, no repair.
	if o := outcome(t, s.ConvergeAll(context.Background()), sidStrict); o.Action != ActionCurrent {
		t.Errorf("after the repair: %+v", o)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := r.Metrics(t)[telemetry.MetricPolicyRepaired]
	if got == nil || len(got.GetSum().GetDataPoints()) != 1 || got.GetSum().GetDataPoints()[0].GetAsInt() != 1 {
		t.Fatalf("repair metric %v", got)
	}
	a := otlptest.Attrs(got.GetSum().GetDataPoints()[0].GetAttributes())
	otlptest.WantString(t, a, telemetry.AttrAccount, sidStrict)
	otlptest.WantString(t, a, telemetry.AttrChange, "add:filter:missing")
}

// A tool that deletes one of our filters again after every repair: the service
// repairs at most RepairBurst times at once and then once per RepairEvery, logs the
// throttling once per episode, and keeps the other account converged.
func TestFightingTampererIsRateLimited(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(func(c *Config) { c.RepairBurst, c.RepairEvery = 3, time.Minute })
	repairs, throttled := 0, 0
	const passes, step = 60, 5 * time.Second // 5 minutes of passes every 5 s
	for i := 0; i < passes; i++ {
		h.tamperIfPresent(sidStrict, "icmp-connect-v4") // the fight: every repair undone
		out := s.ConvergeAll(context.Background())
		switch o := outcome(t, out, sidStrict); o.Action {
		case ActionRepaired:
			repairs++
		case ActionThrottled:
			throttled++
		default:
			t.Fatalf("pass %d: %+v", i, o)
		}
		if o := outcome(t, out, sidBaseline); o.Action != ActionCurrent {
			t.Fatalf("pass %d: the other account %+v", i, o)
		}
		h.advance(step)
	}
	elapsed := time.Duration(passes) * step
	max := 3 + int(elapsed/time.Minute)
	t.Logf("%d repairs, %d throttled passes in %s", repairs, throttled, elapsed)
	if repairs > max || repairs < 3 {
		t.Errorf("%d repairs in %s, want 3 to %d", repairs, elapsed, max)
	}
	if throttled == 0 {
		t.Error("never throttled")
	}
	logs := h.log.records(t, setup.EventServiceThrottled)
	// One record per throttled episode: one at the start, then at most one after each
	// refilled token was spent.
	if len(logs) == 0 || len(logs) > repairs-2 {
		t.Errorf("%d throttle log records for %d repairs", len(logs), repairs)
	}
}

func TestConvergeRerunsSetupForAFailedStep(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	// A later setup (new ports) whose WFP step fails: the record holds the new plan
	// and a failed step; the engine still the old plan.
	h.fault = func(c memengineCall) error {
		if c.Name == "FwpmTransactionBegin0" {
			return wfp.ErrInUse
		}
		return nil
	}
	rep, err := setup.Run(context.Background(), setup.Options{Account: sidStrict, FromRecord: true, ProxyPorts: []uint16{8080},
		StateDir: h.dir, Open: h.open, ToolVersion: "test", Now: h.clock})
	if err != nil || !rep.WFPFailed() {
		t.Fatalf("setup: %v %+v", err, rep.Steps)
	}
	h.fault = nil
	s := h.service(nil)
	o := outcome(t, s.ConvergeAll(context.Background()), sidStrict)
	if o.Action != ActionSetup {
		t.Fatalf("%+v", o)
	}
	rec := h.record(sidStrict)
	if st, _ := rec.Step(setup.StepWFP); st.Status != setup.StatusOK || rec.ProxyPorts[0] != 8080 {
		t.Errorf("record after the service's setup: %+v", rec)
	}
	if rep := h.verify(sidStrict); !rep.Compliant {
		t.Errorf("%+v", rep.Findings)
	}
}

func TestRunConvergesAtStartOnNotifyAndOnPoll(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	h.tamper(sidBaseline, "smb-v4")
	s := h.service(func(c *Config) { c.Poll = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitCompliant := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !h.verify(sidBaseline).Compliant {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not repaired", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCompliant("at start")
	h.tamper(sidBaseline, "smb-v6")
	s.Notify()
	waitCompliant("on notify") // the poll is an hour away
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The poll alone.
	h.tamper(sidBaseline, "smb-v6")
	p := h.service(func(c *Config) { c.Poll = time.Second })
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- p.Run(ctx) }()
	waitCompliant("at start of the second")
	h.tamper(sidBaseline, "dot-v4")
	start := time.Now()
	waitCompliant("on poll")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("repaired after %s with a 1s poll", el)
	}
	cancel()
	<-done
}

func TestNewRefusesAShortPoll(t *testing.T) {
	if _, err := New(Config{StateDir: t.TempDir(), Open: func() (wfp.Engine, error) { return nil, errNoEngine }, Poll: time.Millisecond}); err == nil {
		t.Error("a 1ms poll was accepted")
	}
}

// errorRecords counts the ERROR records whose message contains text.
func errorRecords(h *host, text string) int {
	n := 0
	for _, line := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, text) {
			n++
		}
	}
	return n
}

// TestPersistentFailureLoggedOnce: a pass runs at every poll (as often as every
// second) and on every notification; an engine that cannot be opened, or records that
// cannot be listed, are logged at Error once per episode, not once per pass (each an
// Event Log entry), and the end of the episode once.
func TestPersistentFailureLoggedOnce(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	var broken atomic.Bool
	broken.Store(true)
	s := h.service(func(c *Config) {
		c.Open = func() (wfp.Engine, error) {
			if broken.Load() {
				return nil, &wfp.CallError{Call: "FwpmEngineOpen0", Code: wfp.ErrAccessDenied}
			}
			return h.open()
		}
	})
	for range 5 {
		if o := outcome(t, s.ConvergeAll(context.Background()), sidBaseline); o.Action != ActionFailed {
			t.Fatalf("with the engine refused: %+v", o)
		}
	}
	if n := errorRecords(h, "cannot check the policy"); n != 1 {
		t.Errorf("the same failure in 5 passes logged at error level %d times, want once", n)
	}
	broken.Store(false)
	for range 2 {
		if o := outcome(t, s.ConvergeAll(context.Background()), sidBaseline); o.Action != ActionCurrent {
			t.Fatalf("with the engine back: %+v", o)
		}
	}
	if n := strings.Count(h.log.String(), "the policy can be checked again"); n != 1 {
		t.Errorf("the recovery logged %d times, want once", n)
	}
	broken.Store(true)
	s.ConvergeAll(context.Background())
	if n := errorRecords(h, "cannot check the policy"); n != 2 {
		t.Errorf("a new episode: %d error records in all, want 2", n)
	}

	accounts := filepath.Join(h.dir, state.AccountsDir)
	if err := os.Rename(accounts, accounts+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(accounts, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		s.ConvergeAll(context.Background())
	}
	if n := errorRecords(h, "cannot list the setup records"); n != 1 {
		t.Errorf("an unlistable state directory in 5 passes logged at error level %d times, want once", n)
	}
}

// TestPersistentRepairFailureLoggedOnce: a repair that keeps failing the same way
// (the rate limit lets one through a minute: 1440 a day) is one error record, until a
// repair works again.
func TestPersistentRepairFailureLoggedOnce(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	var broken atomic.Bool
	broken.Store(true)
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmTransactionCommit0" && broken.Load() {
			return wfp.ErrAccessDenied
		}
		return nil
	}
	s := h.service(nil)
	h.tamper(sidBaseline, "dns-v4")
	for range 5 {
		if o := outcome(t, s.ConvergeAll(context.Background()), sidBaseline); o.Action != ActionFailed {
			t.Fatalf("with commits refused: %+v", o)
		}
		h.advance(DefaultRepairEvery) // the rate limit lets the next one through
	}
	if n := errorRecords(h, "repair failed"); n != 1 {
		t.Errorf("the same repair failure 5 times: %d error records, want 1", n)
	}
	broken.Store(false)
	if o := outcome(t, s.ConvergeAll(context.Background()), sidBaseline); o.Action != ActionRepaired {
		t.Fatalf("with commits back: %+v", o)
	}
	if n := strings.Count(h.log.String(), "repairs work again"); n != 1 {
		t.Errorf("the recovery logged %d times, want once", n)
	}
}
