package setup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func TestRunEmitsSuccessMetric(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	t.Setenv(AnalyticsEnv, "")
	h := newHost(t)
	o := h.opts("sandbox")
	o.Analytics = true
	rep := h.run(o)
	if !rep.Analytics {
		t.Fatal("report says analytics off")
	}
	got := r.Metrics(t)
	s := got[telemetry.MetricWFPSuccess]
	if s == nil {
		t.Fatalf("no success metric; got %d metrics", len(got))
	}
	if _, ok := got[telemetry.MetricWFPFailure]; ok {
		t.Error("failure metric sent for a successful setup")
	}
	pt := s.GetSum().GetDataPoints()
	if len(pt) != 1 || pt[0].GetAsInt() != 1 {
		t.Fatalf("success points %v", pt)
	}
	a := otlptest.Attrs(pt[0].GetAttributes())
	otlptest.WantString(t, a, telemetry.AttrAccount, `HOST\sandbox`)
	otlptest.WantInt(t, a, telemetry.AttrFilterCount, 16) // 4 guards + 12 blocks
	otlptest.WantString(t, a, telemetry.AttrProfile, "baseline")
	otlptest.WantInt(t, a, telemetry.AttrSetupVersion, SetupVersion)
	d := got[telemetry.MetricSetupDuration]
	if d == nil || len(d.GetHistogram().GetDataPoints()) != 1 {
		t.Fatalf("duration histogram %v", d)
	}
	dp := d.GetHistogram().GetDataPoints()[0]
	if want := rep.Finished.Sub(rep.Started).Seconds(); dp.GetSum() != want {
		t.Errorf("duration %v s, report says %v s", dp.GetSum(), want)
	}
	otlptest.WantString(t, otlptest.Attrs(dp.GetAttributes()), telemetry.AttrOutcome, "ok")
}

func TestRunEmitsSanitizedFailureMetric(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	t.Setenv(AnalyticsEnv, "1") // on through the environment
	h := newHost(t)
	home := "/home/alice"
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmTransactionBegin0" {
			return &wfp.CallError{Call: c.Name, Object: "session of " + home + "/sandbox\ttool", Code: wfp.ErrAccessDenied}
		}
		return nil
	}
	rep := h.run(h.opts("sandbox"))
	if !rep.WFPFailed() {
		t.Fatal("WFP step did not fail")
	}
	got := r.Metrics(t)
	f := got[telemetry.MetricWFPFailure]
	if f == nil {
		t.Fatalf("no failure metric; got %d metrics", len(got))
	}
	if _, ok := got[telemetry.MetricWFPSuccess]; ok {
		t.Error("success metric sent for a failed WFP step")
	}
	pt := f.GetSum().GetDataPoints()
	if len(pt) != 1 || pt[0].GetAsInt() != 1 {
		t.Fatalf("failure points %v", pt)
	}
	a := otlptest.Attrs(pt[0].GetAttributes())
	otlptest.WantString(t, a, telemetry.AttrAccount, `HOST\sandbox`)
	msg := a[telemetry.AttrErrorMessage].GetStringValue()
	if !strings.Contains(msg, "FwpmTransactionBegin0") || !strings.Contains(msg, "ERROR_ACCESS_DENIED") ||
		strings.Contains(msg, "alice") || strings.ContainsAny(msg, "\t\n") || len(msg) > telemetry.MaxErrorLen {
		t.Errorf("error.message %q", msg)
	}
	dp := got[telemetry.MetricSetupDuration].GetHistogram().GetDataPoints()
	if len(dp) != 1 {
		t.Fatalf("duration points %v", dp)
	}
	otlptest.WantString(t, otlptest.Attrs(dp[0].GetAttributes()), telemetry.AttrOutcome, "wfp-failed")
}

func TestAnalyticsFromConfigFile(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	t.Setenv(AnalyticsEnv, "")
	h := newHost(t)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, ConfigFile), []byte("# opt in\nanalytics = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := h.run(h.opts("sandbox")); !rep.Analytics {
		t.Error("config.toml analytics = true ignored")
	}
	if r.Connections() == 0 || r.Metrics(t)[telemetry.MetricWFPSuccess] == nil {
		t.Error("nothing sent")
	}
}

func TestAnalyticsOffMakesNoConnection(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	t.Setenv(AnalyticsEnv, "0")
	h := newHost(t)
	if rep := h.run(h.opts("sandbox")); rep.Analytics {
		t.Error("analytics on by default")
	}
	h.fault = func(memengine.Call) error { return wfp.ErrTimeout }
	h.run(h.opts("sandbox"))
	if n := r.Connections(); n != 0 {
		t.Errorf("%d connections to the collector with analytics off", n)
	}
}

func TestSlowCollectorDoesNotDelaySetup(t *testing.T) {
	r := otlptest.New(t, 10*time.Second)
	r.Point(t)
	h := newHost(t)
	o := h.opts("sandbox")
	o.Analytics = true // default MetricsTimeout: telemetry.DefaultTimeout (2 s)
	start := time.Now()
	rep, err := Run(context.Background(), o)
	took := time.Since(start)
	if err != nil || rep.WFPFailed() {
		t.Fatalf("Run: %v %+v", err, rep.Steps)
	}
	if took > 3*time.Second {
		t.Errorf("setup took %v with a collector that never answers", took)
	}
	if r.Connections() == 0 {
		t.Error("the collector was never contacted: the test proves nothing")
	}
	if !strings.Contains(h.log.String(), "event=106") {
		t.Errorf("metrics failure not logged:\n%s", h.log.String())
	}
	if m := h.record(sidA); m.Steps[1].Status != StatusOK {
		t.Errorf("record %+v", m.Steps)
	}
}
