package reconcile

import (
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// nilFilterEngine hands back an enumeration with a nil entry, which the reconciler
// does not expect: a stand-in for any panic inside the transaction.
type nilFilterEngine struct{ wfp.Engine }

func (nilFilterEngine) Filters(*wfp.GUID) ([]*wfp.Filter, error) { return []*wfp.Filter{nil, nil}, nil }

// A panic inside Install's transaction must abort it before it propagates: a caller
// that recovers must not be left with a session holding an open transaction (and the
// BFE's transaction lock) after some of the writes.
func TestPanicAbortsTransaction(t *testing.T) {
	w := newWorld(t)
	p := buildPlan(t, sidA, policy.MatchAllow)
	before := snapshot(t, w.bfe)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Install did not panic on a nil filter: the test no longer exercises a panic")
			}
		}()
		_, _ = Install(nilFilterEngine{w.rec}, p, Options{})
	}()
	if got := w.rec.calls[len(w.rec.calls)-1]; got != "Abort" {
		t.Fatalf("calls %v: want the transaction aborted after the panic", w.rec.calls)
	}
	// The same session can start again, and nothing was committed.
	if _, err := Install(w.rec, p, Options{}); err != nil {
		t.Fatalf("the session is unusable after the panic (transaction left open?): %v", err)
	}
	if snapshot(t, w.bfe) == before {
		t.Fatal("the install after the panic wrote nothing")
	}
}
