package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// 'service run' with config.toml's [service] drop_metrics and analytics on counts a
// drop the net event log delivers (through the same openEventLog the events request
// uses) in wfpsandbox.drops, sent at exit; with analytics off it opens no log.
func TestServiceRunDropMetrics(t *testing.T) {
	for _, analytics := range []bool{true, false} {
		name := map[bool]string{true: "analytics on", false: "analytics off"}[analytics]
		t.Run(name, func(t *testing.T) {
			h := newSimHost(t)
			if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--user-match", "allow")...); code != exitOK {
				t.Fatalf("setup: %s", stderr)
			}
			cfg := "[service]\npoll = \"1h\"\ndrop_metrics = true\n"
			if analytics {
				cfg = "analytics = true\n" + cfg
			}
			if err := os.WriteFile(filepath.Join(h.state, "config.toml"), []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("WFPSANDBOX_ANALYTICS", "")
			rcv := otlptest.New(t, 0)
			rcv.Point(t)
			e, err := openEngine(h.engine)
			if err != nil {
				t.Fatal(err)
			}
			dns, err := e.Filter(policy.FilterKey(sid, "dns-v4"))
			e.Close()
			if err != nil {
				t.Fatal(err)
			}
			log := &fakeLog{live: []wfp.NetEvent{dropOf(t, dns.ID, time.Now())}, subscribed: make(chan struct{})}
			opened := make(chan struct{}, 100)
			saved := openEventLog
			t.Cleanup(func() { openEventLog = saved })
			openEventLog = func(spec string, version int) (*eventLog, error) {
				if spec != h.engine || version != -1 {
					t.Errorf("openEventLog(%q, %d), want the service's engine and the newest version", spec, version)
				}
				opened <- struct{}{}
				e, err := openEngine(spec)
				if err != nil {
					return nil, err
				}
				return &eventLog{src: log, filters: e, version: 5, close: e.Close}, nil
			}

			ctx, cancel := context.WithCancel(context.Background())
			var out, errb syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"service", "run", "--verbose", "--state-dir", h.state, "--engine", h.engine}, &out, &errb)
			}()
			want := "drop metrics: drop counted"
			if !analytics {
				want = "needs analytics on"
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), "msg=converge") {
				if time.Now().After(deadline) {
					cancel()
					<-done
					t.Fatalf("no %q within 10 s:\n%s", want, errb.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("exit %d: %s", code, errb.String())
			}
			got := rcv.Metrics(t)[telemetry.MetricDrops]
			if !analytics {
				if len(opened) != 0 || got != nil {
					t.Errorf("analytics off: the log opened %d times, metric %v", len(opened), got)
				}
				return
			}
			if got == nil || len(got.GetSum().GetDataPoints()) != 1 || got.GetSum().GetDataPoints()[0].GetAsInt() != 1 {
				t.Fatalf("%s = %v, want one point of 1\n%s", telemetry.MetricDrops, got, errb.String())
			}
			a := otlptest.Attrs(got.GetSum().GetDataPoints()[0].GetAttributes())
			otlptest.WantString(t, a, telemetry.AttrAccount, sid) // no name on this host: the record's SID
			otlptest.WantString(t, a, telemetry.AttrRule, "dns-v4")
			otlptest.WantString(t, a, telemetry.AttrLayer, "ALE_AUTH_CONNECT_V4")
			otlptest.WantString(t, a, telemetry.AttrDirection, "out")
		})
	}
}
