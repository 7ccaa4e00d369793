package service

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// A filter the service adds again is as readable as the ones setup added: it gets the
// security descriptor of the readers the record names (here a --reader), not WFP's
// default one, which would hide it from an unelevated ensure's live check. Before the
// readers were recorded, the repair added it with no security descriptor at all.
func TestRepairKeepsTheRecordedReaders(t *testing.T) {
	const reader = "S-1-5-21-7-7-7-4242"
	h := newHost(t)
	rep, err := setup.Run(context.Background(), setup.Options{
		Account: sidStrict, Profile: policy.Strict, UserMatch: policy.MatchAllow, ProxyPorts: []uint16{3128},
		Readers: []string{reader}, StateDir: h.dir, Open: h.open, ToolVersion: "test", Now: h.clock,
	})
	if err != nil || rep.WFPFailed() {
		t.Fatalf("setup: %v %+v", err, rep.Steps)
	}
	rec, err := state.Read(h.dir, sidStrict)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Readers, []string{reader}) {
		t.Fatalf("recorded readers %v, want [%s]", rec.Readers, reader)
	}
	sid, _ := account.ParseSID(reader)
	want, err := account.ObjectSD([]account.SID{sid})
	if err != nil {
		t.Fatal(err)
	}
	key := policy.FilterKey(sidStrict, "dns-v4")
	sdOf := func() []byte {
		t.Helper()
		sd, err := h.session().SecurityDescriptor("filter", key)
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	if got := sdOf(); !bytes.Equal(got, want) {
		t.Fatalf("setup gave dns-v4 the descriptor %x, want the reader's %x", got, want)
	}

	h.tamper(sidStrict, "dns-v4")
	s := h.service(nil)
	if o := outcome(t, s.ConvergeAll(context.Background()), sidStrict); o.Action != ActionRepaired {
		t.Fatalf("after tampering: %+v", o)
	}
	if got := sdOf(); !bytes.Equal(got, want) {
		t.Errorf("the repaired dns-v4 has the descriptor %x, want the recorded reader's %x (as its siblings)", got, want)
	}
}
