//go:build wine

package winetest

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// setupReportJSON is the part of setup's --format json report (setup.Report) this test reads.
type setupReportJSON struct {
	Account     setup.Account      `json:"account"`
	Profile     string             `json:"profile"`
	FilterCount int                `json:"filterCount"`
	Reasons     []setup.Reason     `json:"reasons"`
	Steps       []setup.StepResult `json:"steps"`
	Writes      int                `json:"writes"`
	Analytics   bool               `json:"analytics"`
	RecordPath  string             `json:"recordPath"`
}

func (r setupReportJSON) step(name string) (setup.StepResult, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return setup.StepResult{}, false
}

// ensureJSON is the part of ensure's --format json output this test reads.
type ensureJSON struct {
	Current bool   `json:"current"`
	Action  string `json:"action"`
	Check   struct {
		Reasons   []setup.Reason `json:"reasons"`
		Live      bool           `json:"live"`
		LiveError string         `json:"liveError"`
	} `json:"check"`
	ExitCode int `json:"exitCode"`
}

func parseAs[T any](t *testing.T, what string, r run) T {
	t.Helper()
	var doc T
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%s: stdout is not the JSON document: %v\n%s", what, err, r.describe())
	}
	return doc
}

// otlpEnv points the OTLP/HTTP exporter of the Wine process at rcv through the generic
// OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: the exporter appends /v1/metrics), and blanks
// the per-signal variable so that a value in the test's own environment cannot win.
func otlpEnv(rcv *otlptest.Receiver) []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + strings.TrimSuffix(rcv.Endpoint(), "/v1/metrics"),
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=",
		"OTEL_EXPORTER_OTLP_PROTOCOL=",
	}
}

// counterPoint returns the one data point of a monotonic Int64 counter, failing t (with
// the exe's output) when the metric is not exactly that.
func counterPoint(t *testing.T, name string, m *metricspb.Metric, r run) *metricspb.NumberDataPoint {
	t.Helper()
	sum := m.GetSum()
	if sum == nil || !sum.GetIsMonotonic() || len(sum.GetDataPoints()) != 1 {
		t.Fatalf("%s: want a monotonic sum with one data point, got %v\n%s", name, m, r.describe())
	}
	p := sum.GetDataPoints()[0]
	if p.GetAsInt() != 1 {
		t.Errorf("%s = %d, want 1\n%s", name, p.GetAsInt(), r.describe())
	}
	return p
}

// durationOutcome returns the outcome attribute of the setup duration histogram's one point.
func durationOutcome(t *testing.T, metrics map[string]*metricspb.Metric, r run) string {
	t.Helper()
	hist := metrics[telemetry.MetricSetupDuration].GetHistogram()
	if hist == nil || len(hist.GetDataPoints()) != 1 {
		t.Errorf("%s: want a histogram with one data point, got %v\n%s", telemetry.MetricSetupDuration,
			metrics[telemetry.MetricSetupDuration], r.describe())
		return ""
	}
	return otlptest.Attrs(hist.GetDataPoints()[0].GetAttributes())[telemetry.AttrOutcome].GetStringValue()
}

// accountName is how setup names the target account in logs and metrics: DOMAIN\name.
func accountName(a setup.Account) string {
	if a.Domain == "" {
		return a.Name
	}
	return a.Domain + `\` + a.Name
}

// TestNonFatalWFPPath is issue 4's non-fatal path end to end under Wine, with metrics
// sent to a local OTLP/HTTP receiver: with Wine's stub fwpuclnt.dll WFP is unavailable,
// yet setup completes (exit 3), the record holds the failed step and the failure
// counter is sent; ensure then says setup is needed (exit 4, step-failed); with the
// emulator in place the next setup retries and installs everything (exit 0, the
// success counter), and ensure finds the host current.
func TestNonFatalWFPPath(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "wfpsandbox-state") // the harness's WFPSANDBOX_STATE_DIR
	stubCode := wfp.ErrRPCCannotSupport.Error()

	// 1. Wine's stub: WFP unavailable, setup completes with exit 3.
	failRcv := otlptest.New(t, 0)
	failed := h.run(t, runOpts{dir: dir, name: "setup-stub", overrides: overridesStub, env: otlpEnv(failRcv)},
		exe, "setup", "--sid", sandboxSID, "--analytics", "--format", "json")
	if failed.code != 3 {
		t.Fatalf("setup with Wine's stub fwpuclnt: exit %d, want 3 (setup done, WFP step failed)\n%s", failed.code, failed.describe())
	}
	if len(failed.log) != 0 {
		t.Fatalf("the emulator logged %d calls: Wine's stub was not the fwpuclnt.dll in use\n%s", len(failed.log), failed.describe())
	}
	rep := parseAs[setupReportJSON](t, "setup with the stub", failed)
	if !rep.Analytics {
		t.Errorf("report says analytics off although --analytics was given\n%s", failed.describe())
	}
	if rep.Account.Name == "" || !strings.EqualFold(rep.Account.SID, sandboxSID) {
		t.Errorf("report: account %+v; want the prefix user's name and SID %s\n%s", rep.Account, sandboxSID, failed.describe())
	}
	if a, ok := rep.step(setup.StepAccount); !ok || a.Status != setup.StatusOK {
		t.Errorf("report: account step %+v, want ok\n%s", a, failed.describe())
	}
	ws, ok := rep.step(setup.StepWFP)
	if !ok || ws.Status != setup.StatusFailed || !ws.Unavailable || ws.Code != stubCode || ws.Call != "FwpmEngineOpen0" {
		t.Fatalf("report: wfp step %+v; want failed, unavailable, call FwpmEngineOpen0, code %q\n%s", ws, stubCode, failed.describe())
	}
	if !strings.Contains(ws.Error, "RPC_S_CANNOT_SUPPORT") {
		t.Errorf("report: wfp step error %q does not name RPC_S_CANNOT_SUPPORT\n%s", ws.Error, failed.describe())
	}
	if rep.RecordPath == "" {
		t.Errorf("report names no record although setup completed\n%s", failed.describe())
	}
	if !strings.Contains(failed.stderr, "FwpmEngineOpen0") || !strings.Contains(failed.stderr, "RPC_S_CANNOT_SUPPORT") {
		t.Errorf("the log on stderr does not name the failing call and status\n%s", failed.describe())
	}

	m, err := state.Read(stateDir, sandboxSID)
	if err != nil {
		t.Fatalf("record after the failed WFP step: %v\n%s", err, failed.describe())
	}
	mws, ok := m.Step(setup.StepWFP)
	if !ok || mws.Status != setup.StatusFailed || mws.Code != stubCode || !mws.Unavailable || mws.Attempts != 1 || mws.Failures != 1 {
		t.Errorf("record wfp step %+v; want failed, code %q, unavailable, attempts 1 (not a transient error), failures 1\n%s",
			mws, stubCode, fileText(t, state.Path(stateDir, sandboxSID)))
	}
	if !strings.EqualFold(m.Account.SID, sandboxSID) || m.FilterCount != planned(policy.DefaultUserMatch) {
		t.Errorf("record account %+v, filterCount %d; want SID %s, %d filters", m.Account, m.FilterCount, sandboxSID, planned(policy.DefaultUserMatch))
	}

	// The failure counter: the target account and the sanitized error.
	fm := failRcv.Metrics(t)
	if _, ok := fm[telemetry.MetricWFPSuccess]; ok {
		t.Errorf("the receiver got %s after a failed WFP step\n%s", telemetry.MetricWFPSuccess, failed.describe())
	}
	fc, ok := fm[telemetry.MetricWFPFailure]
	if !ok {
		t.Fatalf("the receiver got no %s (%d connections; metrics received: %v)\n%s",
			telemetry.MetricWFPFailure, failRcv.Connections(), metricNames(fm), failed.describe())
	}
	fa := otlptest.Attrs(counterPoint(t, telemetry.MetricWFPFailure, fc, failed).GetAttributes())
	otlptest.WantString(t, fa, telemetry.AttrAccount, accountName(rep.Account))
	otlptest.WantInt(t, fa, telemetry.AttrSetupVersion, setup.SetupVersion)
	msg := fa[telemetry.AttrErrorMessage].GetStringValue()
	if msg != telemetry.SanitizeError(ws.Error) || !strings.Contains(msg, "RPC_S_CANNOT_SUPPORT") {
		t.Errorf("%s error.message = %q; want the reported error sanitized, %q", telemetry.MetricWFPFailure, msg, telemetry.SanitizeError(ws.Error))
	}
	if len(msg) > telemetry.MaxErrorLen || strings.ContainsFunc(msg, unicode.IsControl) {
		t.Errorf("%s error.message %q is longer than %d bytes or holds control characters", telemetry.MetricWFPFailure, msg, telemetry.MaxErrorLen)
	}
	if o := durationOutcome(t, fm, failed); o != "wfp-failed" {
		t.Errorf("%s outcome = %q, want wfp-failed", telemetry.MetricSetupDuration, o)
	}
	if v, _ := failRcv.ResourceAttr("service.name"); v != "wfpsandbox" {
		t.Errorf("resource service.name = %q, want wfpsandbox", v)
	}

	// 2. ensure, unelevated, with the stub still in place: the failed step must be retried.
	need := h.run(t, runOpts{dir: dir, name: "ensure-stub", overrides: overridesStub},
		exe, "ensure", "--no-elevate", "--sid", sandboxSID, "--retry-backoff", "0", "--format", "json")
	if need.code != 4 {
		t.Fatalf("ensure --no-elevate after the failed WFP step: exit %d, want 4 (setup needed)\n%s", need.code, need.describe())
	}
	nd := parseAs[ensureJSON](t, "ensure with the stub", need)
	var stepFailed bool
	for _, r := range nd.Check.Reasons {
		if r.Code == setup.ReasonStepFailed && r.Step == setup.StepWFP {
			stepFailed = true
		}
	}
	if !stepFailed || nd.Current || nd.Action != "setup-needed" || nd.ExitCode != 4 {
		t.Errorf("ensure: current %v, action %q, exitCode %d, reasons %+v; want not current, setup-needed, 4, a %s reason for step wfp\n%s",
			nd.Current, nd.Action, nd.ExitCode, nd.Check.Reasons, setup.ReasonStepFailed, need.describe())
	}
	if len(need.log) != 0 {
		t.Errorf("the emulator logged %d calls during ensure: the stub was not the DLL in use", len(need.log))
	}

	// 3. The emulator in place: the next setup retries and installs the whole policy.
	okRcv := otlptest.New(t, 0)
	retry := h.run(t, runOpts{dir: dir, name: "setup-emu", env: otlpEnv(okRcv)},
		exe, "setup", "--sid", sandboxSID, "--analytics", "--format", "json")
	if retry.code != 0 {
		t.Fatalf("setup with the emulator after the failed run: exit %d, want 0\n%s", retry.code, retry.describe())
	}
	// One transaction holding every write (checkSetupCalls): provider, sublayer, the filters.
	checkSetupCalls(t, retry.log, policy.DefaultUserMatch, sandboxSID)
	if w := retry.log.writes(); len(w) != 2+planned(policy.DefaultUserMatch) {
		t.Errorf("the emulator logged %d Add/Delete calls, want %d (provider, sublayer, %d filters)", len(w), 2+planned(policy.DefaultUserMatch), planned(policy.DefaultUserMatch))
	}
	rr := parseAs[setupReportJSON](t, "setup with the emulator", retry)
	if rr.Writes != 2+planned(policy.DefaultUserMatch) {
		t.Errorf("report: writes %d, want %d (provider, sublayer, %d filters)\n%s", rr.Writes, 2+planned(policy.DefaultUserMatch), planned(policy.DefaultUserMatch), retry.describe())
	}
	var retried bool
	for _, r := range rr.Reasons {
		if r.Code == setup.ReasonStepFailed && r.Step == setup.StepWFP {
			retried = true
		}
	}
	if !retried {
		t.Errorf("report reasons %+v do not say the failed wfp step is being retried\n%s", rr.Reasons, retry.describe())
	}
	m, err = state.Read(stateDir, sandboxSID)
	if err != nil {
		t.Fatalf("record after the retry: %v\n%s", err, retry.describe())
	}
	mws, ok = m.Step(setup.StepWFP)
	// StepResult: Attempts counts this run's tries; Failures is 0 after a success.
	if !ok || mws.Status != setup.StatusOK || mws.Attempts != 1 || mws.Failures != 0 || mws.Error != "" ||
		mws.Code != "" || mws.Unavailable || mws.Writes != 2+planned(policy.DefaultUserMatch) {
		t.Errorf("record wfp step %+v; want ok, attempts 1, failures 0, no error, writes %d\n%s",
			mws, 2+planned(policy.DefaultUserMatch), fileText(t, state.Path(stateDir, sandboxSID)))
	}

	om := okRcv.Metrics(t)
	if _, ok := om[telemetry.MetricWFPFailure]; ok {
		t.Errorf("the receiver got %s after a successful WFP step\n%s", telemetry.MetricWFPFailure, retry.describe())
	}
	sc, ok := om[telemetry.MetricWFPSuccess]
	if !ok {
		t.Fatalf("the receiver got no %s (%d connections; metrics received: %v)\n%s",
			telemetry.MetricWFPSuccess, okRcv.Connections(), metricNames(om), retry.describe())
	}
	sa := otlptest.Attrs(counterPoint(t, telemetry.MetricWFPSuccess, sc, retry).GetAttributes())
	otlptest.WantString(t, sa, telemetry.AttrAccount, accountName(rr.Account))
	otlptest.WantInt(t, sa, telemetry.AttrFilterCount, int64(planned(policy.DefaultUserMatch)))
	otlptest.WantString(t, sa, telemetry.AttrProfile, string(policy.Baseline))
	otlptest.WantInt(t, sa, telemetry.AttrSetupVersion, setup.SetupVersion)
	if o := durationOutcome(t, om, retry); o != "ok" {
		t.Errorf("%s outcome = %q, want ok", telemetry.MetricSetupDuration, o)
	}

	// 4. ensure now finds the record current and the live policy as planned.
	cur := h.run(t, runOpts{dir: dir, name: "ensure-emu"},
		exe, "ensure", "--no-elevate", "--sid", sandboxSID, "--retry-backoff", "0", "--format", "json")
	if cur.code != 0 {
		t.Fatalf("ensure --no-elevate after the successful retry: exit %d, want 0\n%s", cur.code, cur.describe())
	}
	cd := parseAs[ensureJSON](t, "ensure with the emulator", cur)
	if !cd.Current || len(cd.Check.Reasons) != 0 || !cd.Check.Live {
		t.Errorf("ensure: current %v, reasons %+v, live %v (%s); want current, no reasons, the live policy read\n%s",
			cd.Current, cd.Check.Reasons, cd.Check.Live, cd.Check.LiveError, cur.describe())
	}
	if w := cur.log.writes(); len(w) != 0 {
		t.Errorf("ensure made %d Add/Delete calls, want none: first %s", len(w), w[0].Fn)
	}
}

func metricNames(ms map[string]*metricspb.Metric) []string {
	var names []string
	for n := range ms {
		names = append(names, n)
	}
	return names
}
