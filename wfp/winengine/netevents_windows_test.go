//go:build windows && wfpintegration

package winengine

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestIntegrationNetEvents reads the live net event log with every structure version
// this Windows supports and subscribes for a moment. Collection may be switched off on
// the machine (FWP_E_NET_EVENTS_DISABLED); that answer is accepted, any other error is
// not. Under Wine the emulator serves an empty log unless WFPEMU_NETEVENTS says
// otherwise.
func TestIntegrationNetEvents(t *testing.T) {
	e := openDynamic(t)
	v := windows.RtlGetVersion()
	newest := NetEventVersion(v.MajorVersion, v.MinorVersion, v.BuildNumber)
	t.Logf("Windows %d.%d build %d: FWPM_NET_EVENT%d", v.MajorVersion, v.MinorVersion, v.BuildNumber, newest)
	auto, err := e.NetEvents(-1)
	if err != nil || auto.Version() != newest {
		t.Fatalf("NetEvents(-1): version %v, %v; want %d", auto, err, newest)
	}
	for version := 0; version <= newest; version++ {
		n, err := e.NetEvents(version)
		if err != nil {
			t.Fatal(err)
		}
		raws, err := n.Enum(time.Now().Add(-time.Hour))
		if errors.Is(err, wfp.ErrNetEventsDisabled) {
			t.Logf("FwpmNetEventEnum%d: collection is off on this machine (%v)", version, err)
			continue
		}
		if err != nil {
			t.Fatalf("FwpmNetEventEnum%d: %v", version, err)
		}
		for _, r := range raws {
			if r.Version != version {
				t.Errorf("FwpmNetEventEnum%d returned a version %d event", version, r.Version)
			}
			events.Decode(r) // must not panic, whatever the engine logged
		}
		t.Logf("FwpmNetEventEnum%d: %d events of the last hour", version, len(raws))
	}
	if newest == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = auto.Subscribe(ctx, func(r wfp.NetEvent) { events.Decode(r) })
	if err != nil && !errors.Is(err, wfp.ErrNetEventsDisabled) {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := e.NetEvents(6); err == nil {
		t.Error("NetEvents(6) accepted a structure version that does not exist")
	}
}
