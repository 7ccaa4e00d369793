//go:build windows

package selftest

import (
	"slices"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/selftest/probe"
)

// fakeLoopback replaces the exemption list's API with a slice.
func fakeLoopback(t *testing.T, list []string) (get func() []string) {
	t.Helper()
	cur := slices.Clone(list)
	oldGet, oldSet, oldSID := loopbackList, setLoopbackList, probeSID
	t.Cleanup(func() { loopbackList, setLoopbackList, probeSID = oldGet, oldSet, oldSID })
	loopbackList = func() ([]*windows.SID, error) {
		var out []*windows.SID
		for _, s := range cur {
			sid, err := windows.StringToSid(s)
			if err != nil {
				return nil, err
			}
			out = append(out, sid)
		}
		return out, nil
	}
	setLoopbackList = func(sids []*windows.SID) error {
		cur = nil
		for _, s := range sids {
			cur = append(cur, s.String())
		}
		return nil
	}
	probeSID = func() (*windows.SID, error) { return windows.StringToSid(testProbeSID) }
	return func() []string { return slices.Clone(cur) }
}

const (
	testProbeSID = "S-1-15-2-1-2-3-4-5-6-7"
	otherAppA    = "S-1-15-2-9-9-9-9-9-9-1"
	otherAppB    = "S-1-15-2-9-9-9-9-9-9-2"
)

// The end of a run removes only the probe's entry from the list as it is then: an
// entry another program added meanwhile stays, one it removed stays removed.
func TestLoopbackExemptionUndoKeepsOthersChanges(t *testing.T) {
	list := fakeLoopback(t, []string{otherAppA})
	recorded := false
	undo, err := exemptAppContainer(func() error { recorded = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := list(); !recorded || !slices.Equal(got, []string{otherAppA, testProbeSID}) {
		t.Fatalf("after adding: %v (recorded %v)", got, recorded)
	}
	// Meanwhile someone else (CheckNetIsolation, an installer) changes the list.
	_ = setLoopbackList(mustSIDs(t, testProbeSID, otherAppB))
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, []string{otherAppB}) {
		t.Errorf("after the undo: %v, want only the other program's %s", got, otherAppB)
	}
	// The sweep removes only the probe's entry too.
	_ = setLoopbackList(mustSIDs(t, otherAppA, testProbeSID, otherAppB))
	if removed, err := (hostUndoer{}).RemoveLoopbackExemption(probe.AppContainerName); err != nil || !removed {
		t.Fatalf("sweep: %v %v", removed, err)
	}
	if got := list(); !slices.Equal(got, []string{otherAppA, otherAppB}) {
		t.Errorf("after the sweep: %v", got)
	}
}

// Already exempt before the run: nothing is recorded, added or removed.
func TestLoopbackExemptionAlreadyThere(t *testing.T) {
	list := fakeLoopback(t, []string{testProbeSID})
	undo, err := exemptAppContainer(func() error { t.Error("recorded an exemption the run did not add"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, []string{testProbeSID}) {
		t.Errorf("list %v", got)
	}
}

func mustSIDs(t *testing.T, ss ...string) []*windows.SID {
	t.Helper()
	var out []*windows.SID
	for _, s := range ss {
		sid, err := windows.StringToSid(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sid)
	}
	return out
}
