package memengine_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func TestInjectFaultSeesEveryCallInOrder(t *testing.T) {
	_, s := base(t)
	var seen []memengine.Call
	s.InjectFault(func(c memengine.Call) error { seen = append(seen, c); return nil })
	must(t, s.BeginTransaction())
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	_, _ = s.Filter(guid(2)) // a failing call is counted too
	_, err = s.Filters(nil)
	must(t, err)
	must(t, s.DeleteFilter(guid(1)))
	must(t, s.CommitTransaction())
	must(t, s.Close())
	want := []memengine.Call{
		{3, "FwpmTransactionBegin0"}, {4, "FwpmFilterAdd0"}, {5, "FwpmFilterGetByKey0"},
		{6, "FwpmFilterEnum0"}, {7, "FwpmFilterDeleteByKey0"}, {8, "FwpmTransactionCommit0"}, {9, "FwpmEngineClose0"},
	} // calls 1 and 2 are base's AddProvider and AddSublayer
	if !slices.Equal(seen, want) {
		t.Errorf("calls seen:\n%v\nwant\n%v", seen, want)
	}
}

// An injected fault fails the call before it does anything, in every position of a
// transaction, and a wfp.Code comes back as a *wfp.CallError naming the call.
func TestInjectFaultHasNoSideEffects(t *testing.T) {
	run := func(s *memengine.Session) error {
		if err := s.BeginTransaction(); err != nil {
			return err
		}
		if _, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true)); err != nil {
			s.AbortTransaction()
			return err
		}
		if err := s.AddProvider(provider(provB, true)); err != nil {
			s.AbortTransaction()
			return err
		}
		return s.CommitTransaction()
	}
	for fail := 1; fail <= 4; fail++ {
		b, s := base(t)
		before := snapshot(t, b)
		s.InjectFault(func(c memengine.Call) error {
			if c.Index == 2+fail {
				return wfp.ErrAccessDenied
			}
			return nil
		})
		err := run(s)
		var ce *wfp.CallError
		if !errors.As(err, &ce) || ce.Code != wfp.ErrAccessDenied || ce.Call == "" {
			t.Fatalf("fault at call %d: got %v", fail, err)
		}
		if got := snapshot(t, b); got != before {
			t.Errorf("fault at call %d (%s): state changed", fail, ce.Call)
		}
		s.InjectFault(nil)
		if fail == 4 { // the failed commit left the transaction open, as any failed call does
			must(t, s.AbortTransaction())
		}
		must(t, s.BeginTransaction()) // no other transaction or lock left behind
		must(t, s.AbortTransaction())
	}
	// A non-Code error is returned as is.
	_, s := base(t)
	boom := errors.New("boom")
	s.InjectFault(func(memengine.Call) error { return boom })
	if _, err := s.Providers(); err != boom {
		t.Errorf("got %v, want the injected error itself", err)
	}
}

func TestStats(t *testing.T) {
	_, s := base(t)
	must(t, s.BeginTransaction())
	_, err := s.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	_, err = s.AddFilter(filter(guid(1), subA, ptr(provA), true)) // fails: already exists
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrAlreadyExists)
	must(t, s.DeleteFilter(guid(1)))
	_, _ = s.Provider(provA)
	_, _ = s.FilterByID(1)
	_, _ = s.Sublayers(nil)
	must(t, s.AbortTransaction())
	want := memengine.Stats{Calls: 10, Adds: 4, Deletes: 1, Gets: 2, Enums: 1, Txns: 2, Failed: 2}
	if got := s.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got := s.Stats().Writes(); got != 5 {
		t.Errorf("Writes = %d, want 5", got)
	}
}
