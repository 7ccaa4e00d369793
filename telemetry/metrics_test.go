package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
)

func TestSuccessPayload(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	ctx := context.Background()
	m, err := Start(ctx, Config{Enabled: true, ServiceVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	m.WFPSuccess(ctx, Success{Account: `HOST\sandbox`, Filters: 12, Profile: "baseline", SetupVersion: 3})
	m.SetupDuration(ctx, 1500*time.Millisecond, "baseline", 3, "ok")
	if err := m.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := r.Metrics(t)
	s := got[MetricWFPSuccess]
	if s == nil {
		t.Fatalf("no %s in payload; got %v", MetricWFPSuccess, keys(got))
	}
	if _, ok := got[MetricWFPFailure]; ok {
		t.Errorf("%s sent although nothing failed", MetricWFPFailure)
	}
	pts := s.GetSum().GetDataPoints()
	if len(pts) != 1 || pts[0].GetAsInt() != 1 || !s.GetSum().GetIsMonotonic() {
		t.Fatalf("success sum = %v, want one monotonic point of 1", s.GetSum())
	}
	a := otlptest.Attrs(pts[0].GetAttributes())
	otlptest.WantString(t, a, AttrAccount, `HOST\sandbox`)
	otlptest.WantString(t, a, AttrProfile, "baseline")
	otlptest.WantInt(t, a, AttrFilterCount, 12)
	otlptest.WantInt(t, a, AttrSetupVersion, 3)

	d := got[MetricSetupDuration]
	if d == nil {
		t.Fatalf("no %s in payload", MetricSetupDuration)
	}
	if d.GetUnit() != "s" {
		t.Errorf("duration unit %q, want s", d.GetUnit())
	}
	hp := d.GetHistogram().GetDataPoints()
	if len(hp) != 1 || hp[0].GetCount() != 1 || hp[0].GetSum() != 1.5 {
		t.Fatalf("duration histogram = %v, want one sample of 1.5 s", d.GetHistogram())
	}
	otlptest.WantString(t, otlptest.Attrs(hp[0].GetAttributes()), AttrOutcome, "ok")
	if v, _ := r.ResourceAttr("service.version"); v != "1.2.3" {
		t.Errorf("service.version = %q, want 1.2.3", v)
	}
}

func TestFailurePayloadIsSanitized(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	ctx := context.Background()
	m, err := Start(ctx, Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 600)
	cause := errors.New("FwpmEngineOpen0: RPC_S_CANNOT_SUPPORT (0x000006E4)\nwhile reading C:\\Users\\alice\\AppData\\wfp.log " + long)
	m.WFPFailure(ctx, `HOST\sandbox`, 3, cause)
	if err := m.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := r.Metrics(t)
	f := got[MetricWFPFailure]
	if f == nil {
		t.Fatalf("no %s in payload; got %v", MetricWFPFailure, keys(got))
	}
	if _, ok := got[MetricWFPSuccess]; ok {
		t.Errorf("%s sent although nothing succeeded", MetricWFPSuccess)
	}
	pts := f.GetSum().GetDataPoints()
	if len(pts) != 1 || pts[0].GetAsInt() != 1 {
		t.Fatalf("failure sum = %v, want one point of 1", f.GetSum())
	}
	a := otlptest.Attrs(pts[0].GetAttributes())
	otlptest.WantString(t, a, AttrAccount, `HOST\sandbox`)
	msg := a[AttrErrorMessage].GetStringValue()
	if len(msg) > MaxErrorLen {
		t.Errorf("error.message is %d bytes, want ≤ %d", len(msg), MaxErrorLen)
	}
	if strings.Contains(msg, "alice") || strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error.message not sanitized: %q", msg)
	}
	if !strings.HasPrefix(msg, "FwpmEngineOpen0: RPC_S_CANNOT_SUPPORT (0x000006E4) while reading <user-path> xxx") {
		t.Errorf("error.message lost its substance: %q", msg)
	}
}

func TestSlowCollectorDoesNotDelay(t *testing.T) {
	r := otlptest.New(t, 10*time.Second)
	r.Point(t)
	ctx := context.Background()
	m, err := Start(ctx, Config{Enabled: true, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m.WFPSuccess(ctx, Success{Account: "a", Filters: 1, Profile: "baseline", SetupVersion: 1})
	start := time.Now()
	err = m.Close(ctx)
	took := time.Since(start)
	if err == nil {
		t.Error("Close reported success although the collector never answered")
	}
	if took > 1500*time.Millisecond {
		t.Errorf("Close took %v with a 500ms budget", took)
	}
	if r.Connections() == 0 {
		t.Error("the exporter never reached the collector: the test proves nothing")
	}
}

func TestDeadCollectorReturnsError(t *testing.T) {
	r := otlptest.New(t, 0)
	url := r.Endpoint()
	r.Close() // nothing listens there any more
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", url)
	ctx := context.Background()
	m, err := Start(ctx, Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	m.WFPFailure(ctx, "a", 1, errors.New("boom"))
	start := time.Now()
	if err := m.Close(ctx); err == nil {
		t.Error("Close reported success with no collector")
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("Close took %v", took)
	}
}

func TestDisabledMakesNoConnection(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	ctx := context.Background()
	m, err := Start(ctx, Config{Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if m.Enabled() {
		t.Fatal("disabled recorder says it is enabled")
	}
	m.WFPSuccess(ctx, Success{Account: "a", Filters: 12})
	m.WFPFailure(ctx, "a", 1, errors.New("x"))
	m.SetupDuration(ctx, time.Second, "baseline", 1, "ok")
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var nilM *Metrics
	nilM.WFPSuccess(ctx, Success{})
	if err := nilM.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.Connections(); n != 0 {
		t.Errorf("%d connections to the collector with analytics off", n)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDropsPayload: drops are summed per attribute set, and every attribute is
// bounded: a rule that is not a rule ID, a layer that is not a layer name and a
// direction other than out/in/forward become "unknown", the account loses its control
// characters.
func TestDropsPayload(t *testing.T) {
	r := otlptest.New(t, 0)
	r.Point(t)
	ctx := context.Background()
	m, err := Start(ctx, Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	d := Drop{Account: `HOST\sandbox`, Rule: "dns-v4", Layer: "ALE_AUTH_CONNECT_V4", Direction: "out"}
	m.Drops(ctx, d, 2)
	m.Drops(ctx, d, 1)
	m.Drops(ctx, d, 0) // nothing
	m.Drops(ctx, Drop{Account: "HOST\\sand\nbox\u202e", Rule: "Evil Rule; DROP", Layer: "ale auth", Direction: "sideways"}, 1)
	m.Drops(ctx, Drop{Account: "", Rule: RuleOther, Layer: "", Direction: ""}, 4)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.Metrics(t)[MetricDrops]
	if got == nil || got.GetUnit() != "{drop}" || !got.GetSum().GetIsMonotonic() {
		t.Fatalf("%s = %v, want a monotonic sum in {drop}", MetricDrops, got)
	}
	type key struct{ account, rule, layer, dir string }
	sums := map[key]int64{}
	for _, p := range got.GetSum().GetDataPoints() {
		a := otlptest.Attrs(p.GetAttributes())
		if len(a) != 4 {
			t.Errorf("point with %d attributes %v, want account, rule, layer, direction", len(a), a)
		}
		sums[key{a[AttrAccount].GetStringValue(), a[AttrRule].GetStringValue(), a[AttrLayer].GetStringValue(),
			a[AttrDirection].GetStringValue()}] += p.GetAsInt()
	}
	want := map[key]int64{
		{`HOST\sandbox`, "dns-v4", "ALE_AUTH_CONNECT_V4", "out"}: 3,
		{`HOST\sandbox`, Unknown, Unknown, Unknown}:              1,
		{Unknown, RuleOther, Unknown, Unknown}:                   4,
	}
	if len(sums) != len(want) {
		t.Errorf("points %v, want %v", sums, want)
	}
	for k, n := range want {
		if sums[k] != n {
			t.Errorf("%+v = %d, want %d (all: %v)", k, sums[k], n, sums)
		}
	}
}
