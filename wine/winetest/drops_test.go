//go:build wine

package winetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
)

// dropService runs `wfpsandbox service run --verbose` in the foreground against the
// emulator, with the state directory stateDir, until its output satisfies ready, then
// stops it with Ctrl+C (SIGINT, which Wine turns into the console's Ctrl+C) so that it
// sends its metrics at exit. It returns the output and the emulator's call log.
func dropService(t *testing.T, dir, stateDir string, env []string, ready func(out string) bool) (string, callLog) {
	t.Helper()
	svc := startServiceRun(t, dir, stateDir, env...)
	svc.waitUntil(t, 90*time.Second, "ready", ready)
	svc.interrupt(t)
	o := svc.output(t)
	noCrash(t, "service run", run{stdout: o})
	return o, svc.calls(t)
}

// dropsHost sets up the baseline policy (the default layout) for the Wine user, whose
// filters the canned net events name, and writes config.toml; it returns the
// directory, the state directory and the account as setup names it.
func dropsHost(t *testing.T, config string) (dir, stateDir, acct string) {
	t.Helper()
	exe, sid := h.wfpsandboxExe(t), h.userSID(t)
	dir = t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", sid, "--format", "json")
	if r.code != 0 {
		t.Fatalf("setup: %s", r.describe())
	}
	rep := parseAs[setupReportJSON](t, "setup", r)
	stateDir = filepath.Join(dir, "wfpsandbox-state")
	if err := os.WriteFile(filepath.Join(stateDir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, stateDir, accountName(rep.Account)
}

const dropCounted = "drop metrics: drop counted"

// TestServiceDropMetrics: the real .exe's service, with [service] drop_metrics and
// analytics on, subscribes to the emulator's canned net events (wine/fwpemu/
// netevents.c) and sends wfpsandbox.drops to a local OTLP receiver. The expected
// points are written from the canned table: the IPv4 DNS rule's filter drops twice
// (once in an event with no header flag set, whose account comes from the filter's
// ownership tag) and once more in an event with layer 999 and direction 7 (unknown
// layer and direction); the IPv6 DNS-over-TLS rule once; another provider's filter
// and a vanished filter ID once each, for the sandbox account, as "other"; the event
// without a classifyDrop and the one that is not a drop not at all.
func TestServiceDropMetrics(t *testing.T) {
	dir, stateDir, acct := dropsHost(t, "analytics = true\n[service]\npoll = \"1h\"\ndrop_metrics = true\n")
	rcv := otlptest.New(t, 0)
	out, log := dropService(t, dir, stateDir, append(otlpEnv(rcv), "WFPEMU_NETEVENTS=canned"), func(out string) bool {
		return strings.Count(out, dropCounted) >= 6
	})
	if n := strings.Count(out, dropCounted); n != 6 {
		t.Errorf("%d drops counted, want 6:\n%s", n, out)
	}
	subs := 0
	for v := 0; v <= 4; v++ {
		for _, r := range log.calls(fmt.Sprintf("FwpmNetEventSubscribe%d", v)) {
			if r.Status == statusOK {
				subs++
			}
		}
	}
	if subs != 1 || len(log.calls("FwpmNetEventUnsubscribe0")) != 1 {
		t.Errorf("%d subscriptions, %d unsubscriptions; want one of each", subs, len(log.calls("FwpmNetEventUnsubscribe0")))
	}
	if n := len(log.calls("FwpmEngineSetOption0")); n != 0 {
		t.Errorf("the service set an engine option %d times: it must never turn collection on", n)
	}

	m := rcv.Metrics(t)[telemetry.MetricDrops]
	if m == nil {
		t.Fatalf("the receiver got no %s (%d connections; metrics: %v)\n%s", telemetry.MetricDrops, rcv.Connections(),
			metricNames(rcv.Metrics(t)), out)
	}
	if m.GetUnit() != "{drop}" || !m.GetSum().GetIsMonotonic() {
		t.Errorf("%s: unit %q, monotonic %v", telemetry.MetricDrops, m.GetUnit(), m.GetSum().GetIsMonotonic())
	}
	type key struct{ account, rule, layer, direction string }
	got := map[key]int64{}
	for _, p := range m.GetSum().GetDataPoints() {
		a := otlptest.Attrs(p.GetAttributes())
		got[key{a[telemetry.AttrAccount].GetStringValue(), a[telemetry.AttrRule].GetStringValue(),
			a[telemetry.AttrLayer].GetStringValue(), a[telemetry.AttrDirection].GetStringValue()}] += p.GetAsInt()
	}
	want := map[key]int64{
		{acct, "dns-v4", "ALE_AUTH_CONNECT_V4", "out"}:            2,
		{acct, "dns-v4", telemetry.Unknown, telemetry.Unknown}:    1,
		{acct, "dot-v6", "ALE_AUTH_CONNECT_V6", "out"}:            1,
		{acct, telemetry.RuleOther, "ALE_AUTH_CONNECT_V4", "out"}: 2,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v\nservice output:\n%s", telemetry.MetricDrops, got, want, out)
	}
	if !strings.Contains(acct, `\`) {
		t.Errorf("setup named the account %q, not DOMAIN\\name: the account attribute is not checked as it should be", acct)
	}
}

// TestServiceDropMetricsCollectionOff: with collection off (the emulator answers
// FWP_E_NET_EVENTS_DISABLED) the service says so, with what to do, and subscribes to
// nothing; with analytics off it does not even open the log, and says why.
func TestServiceDropMetricsCollectionOff(t *testing.T) {
	t.Run("collection off", func(t *testing.T) {
		dir, stateDir, _ := dropsHost(t, "analytics = true\n[service]\npoll = \"1h\"\ndrop_metrics = true\n")
		rcv := otlptest.New(t, 0)
		const help = "netsh wfp set options netevents=on"
		out, log := dropService(t, dir, stateDir, append(otlpEnv(rcv), "WFPEMU_NETEVENTS=disabled"), func(out string) bool {
			return strings.Contains(out, help)
		})
		for _, want := range []string{"FWP_E_NET_EVENTS_DISABLED", "does not turn it on"} {
			if !strings.Contains(out, want) {
				t.Errorf("the service output lacks %q:\n%s", want, out)
			}
		}
		if c := log.calls("FwpmNetEventCreateEnumHandle0"); len(c) == 0 || c[0].Status == statusOK {
			t.Errorf("the collection probe: %+v, want FwpmNetEventCreateEnumHandle0 refused", c)
		}
		for v := 0; v <= 4; v++ {
			if n := len(log.calls(fmt.Sprintf("FwpmNetEventSubscribe%d", v))); n != 0 {
				t.Errorf("FwpmNetEventSubscribe%d called %d times with collection off", v, n)
			}
		}
		if n := len(log.calls("FwpmEngineSetOption0")); n != 0 {
			t.Errorf("the service set an engine option %d times", n)
		}
		if _, ok := rcv.Metrics(t)[telemetry.MetricDrops]; ok {
			t.Errorf("%s sent with collection off", telemetry.MetricDrops)
		}
	})
	t.Run("analytics off", func(t *testing.T) {
		dir, stateDir, _ := dropsHost(t, "[service]\npoll = \"1h\"\ndrop_metrics = true\n")
		out, log := dropService(t, dir, stateDir, []string{"WFPEMU_NETEVENTS=canned", "WFPSANDBOX_ANALYTICS="}, func(out string) bool {
			return strings.Contains(out, "needs analytics on") && strings.Contains(out, `msg=converge`)
		})
		for _, fn := range []string{"FwpmNetEventCreateEnumHandle0", "FwpmNetEventSubscribe4", "FwpmNetEventSubscribe0"} {
			if n := len(log.calls(fn)); n != 0 {
				t.Errorf("%s called %d times with analytics off:\n%s", fn, n, out)
			}
		}
	})
}
