package memengine_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// recorder collects delivered changes.
type recorder struct {
	mu  sync.Mutex
	got []wfp.Change
}

func (r *recorder) fn(c wfp.Change) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
}

func (r *recorder) list() []wfp.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor waits until n changes arrived, then a little longer to catch extra ones.
func (r *recorder) waitFor(t *testing.T, n int) []wfp.Change {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.list()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return r.settle()
}

// settle returns what arrived after a pause long enough for a queued delivery (the
// negative checks: a change that should not be delivered).
func (r *recorder) settle() []wfp.Change {
	time.Sleep(50 * time.Millisecond)
	return r.list()
}

func changesText(cs []wfp.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return fmt.Sprint(out)
}

func TestChangesAddAndDeleteFromAnotherSession(t *testing.T) {
	b, writer := base(t)
	watch := b.Open()
	var r recorder
	unsub, err := watch.SubscribeChanges(provA, r.fn)
	must(t, err)
	k := guid(1)
	id, err := writer.AddFilter(filter(k, subA, ptr(provA), true))
	must(t, err)
	must(t, writer.DeleteFilter(k))
	got := r.waitFor(t, 2)
	want := []wfp.Change{
		{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: k, FilterID: id},
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: k, FilterID: id},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %s, want %s", changesText(got), changesText(want))
	}
	must(t, unsub())
	must(t, unsub()) // a second call is harmless
	_, err = writer.AddFilter(filter(k, subA, ptr(provA), true))
	must(t, err)
	if got := r.settle(); len(got) != 2 {
		t.Errorf("after unsubscribing: %s", changesText(got))
	}
}

// TestChangesScope: only the subscribed provider's objects; the provider itself by key;
// deletes before adds, children before parents.
func TestChangesScope(t *testing.T) {
	b := memengine.NewBFE()
	watch, writer := b.Open(), b.Open()
	var r recorder
	unsub, err := watch.SubscribeChanges(provA, r.fn)
	must(t, err)
	defer unsub()
	must(t, writer.BeginTransaction())
	must(t, writer.AddProvider(provider(provA, true)))
	must(t, writer.AddSublayer(sublayer(subA, ptr(provA), true)))
	must(t, writer.AddProvider(provider(provB, true)))
	must(t, writer.AddSublayer(sublayer(subB, ptr(provB), true)))
	_, err = writer.AddFilter(filter(guid(2), subB, ptr(provB), true))
	must(t, err)
	id, err := writer.AddFilter(filter(guid(3), subA, ptr(provA), true))
	must(t, err)
	_, err = writer.AddFilter(filter(guid(4), subA, nil, false)) // no provider: not ours
	must(t, err)
	must(t, writer.CommitTransaction())
	got := r.waitFor(t, 3)
	want := []wfp.Change{
		{Type: wfp.ChangeAdd, Object: wfp.ChangedProvider, Key: provA},
		{Type: wfp.ChangeAdd, Object: wfp.ChangedSublayer, Key: subA},
		{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: guid(3), FilterID: id},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %s, want %s", changesText(got), changesText(want))
	}
	must(t, writer.BeginTransaction())
	must(t, writer.DeleteFilter(guid(3)))
	must(t, writer.DeleteFilter(guid(4)))
	must(t, writer.DeleteSublayer(subA))
	must(t, writer.DeleteProvider(provA))
	must(t, writer.CommitTransaction())
	got = r.waitFor(t, 6)[3:]
	want = []wfp.Change{
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: guid(3), FilterID: id},
		{Type: wfp.ChangeDelete, Object: wfp.ChangedSublayer, Key: subA},
		{Type: wfp.ChangeDelete, Object: wfp.ChangedProvider, Key: provA},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %s, want %s", changesText(got), changesText(want))
	}
}

// TestChangesAfterCommitOnly: nothing for a transaction until it commits, nothing for
// an aborted one, nothing for the subscribing session's own writes.
func TestChangesAfterCommitOnly(t *testing.T) {
	b, writer := base(t)
	watch := b.Open()
	var r recorder
	unsub, err := watch.SubscribeChanges(provA, r.fn)
	must(t, err)
	defer unsub()

	must(t, writer.BeginTransaction())
	_, err = writer.AddFilter(filter(guid(5), subA, ptr(provA), true))
	must(t, err)
	if got := r.settle(); len(got) != 0 {
		t.Fatalf("delivered before commit: %s", changesText(got))
	}
	must(t, writer.AbortTransaction())
	if got := r.settle(); len(got) != 0 {
		t.Fatalf("delivered for an aborted transaction: %s", changesText(got))
	}

	_, err = watch.AddFilter(filter(guid(6), subA, ptr(provA), true))
	must(t, err)
	if got := r.settle(); len(got) != 0 {
		t.Fatalf("delivered the subscribing session's own write: %s", changesText(got))
	}

	must(t, writer.BeginTransaction())
	must(t, writer.DeleteFilter(guid(6)))
	must(t, writer.CommitTransaction())
	if got := r.waitFor(t, 1); len(got) != 1 || got[0].Type != wfp.ChangeDelete || got[0].Key != guid(6) {
		t.Fatalf("after commit: %s", changesText(got))
	}
}

func TestSubscribeInsideTransactionRefused(t *testing.T) {
	b, _ := base(t)
	s := b.Open()
	must(t, s.BeginTransaction())
	_, err := s.SubscribeChanges(provA, func(wfp.Change) {})
	wantCode(t, err, "FwpmFilterSubscribeChanges0", wfp.ErrTxnInProgress)
	must(t, s.AbortTransaction())
	unsub, err := s.SubscribeChanges(provA, func(wfp.Change) {})
	must(t, err)
	must(t, s.BeginTransaction())
	wantCode(t, unsub(), "FwpmFilterUnsubscribeChanges0", wfp.ErrTxnInProgress)
	must(t, s.AbortTransaction())
	// The failed unsubscribe is final for this function value (it reports the same
	// error); closing the session ends the subscription.
	must(t, s.Close())
}

func TestSubscribeFaultInjected(t *testing.T) {
	b, _ := base(t)
	s := b.Open()
	s.InjectFault(func(c memengine.Call) error {
		if c.Name == "FwpmSubLayerSubscribeChanges0" {
			return wfp.ErrAccessDenied
		}
		return nil
	})
	_, err := s.SubscribeChanges(provA, func(wfp.Change) {})
	wantCode(t, err, "FwpmSubLayerSubscribeChanges0", wfp.ErrAccessDenied)
}

// TestChangesEndWithTheSession: Close and a BFE restart end delivery.
func TestChangesEndWithTheSession(t *testing.T) {
	b, writer := base(t)
	watch := b.Open()
	var r recorder
	_, err := watch.SubscribeChanges(provA, r.fn)
	must(t, err)
	must(t, watch.Close())
	_, err = writer.AddFilter(filter(guid(7), subA, ptr(provA), true))
	must(t, err)
	if got := r.settle(); len(got) != 0 {
		t.Fatalf("delivered after Close: %s", changesText(got))
	}

	watch = b.Open()
	_, err = watch.SubscribeChanges(provA, r.fn)
	must(t, err)
	must(t, b.Restart())
	writer = b.Open()
	must(t, writer.DeleteFilter(guid(7)))
	if got := r.settle(); len(got) != 0 {
		t.Fatalf("delivered to a session the restart aborted: %s", changesText(got))
	}
}

// TestChangesFileBFE: a file-backed host refuses to subscribe: other processes change
// the file and nothing watches it.
func TestChangesFileBFE(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	s, err := memengine.OpenFile(path)
	must(t, err)
	if _, err := s.SubscribeChanges(provA, func(wfp.Change) {}); !errors.Is(err, wfp.ErrChangesUnsupported) {
		t.Fatalf("SubscribeChanges on a file-backed host: %v", err)
	}
}

// TestChangesFloodIsBounded: while fn is busy, a commit of more filters than
// wfp.MaxQueuedChanges queues that many and drops the rest; fn then gets the queued
// changes and one wfp.ChangesLost.
func TestChangesFloodIsBounded(t *testing.T) {
	b, writer := base(t)
	watch := b.Open()
	release, entered := make(chan struct{}), make(chan struct{})
	var r recorder
	first := true
	unsub, err := watch.SubscribeChanges(provA, func(c wfp.Change) {
		if first {
			first = false
			close(entered)
			<-release
		}
		r.fn(c)
	})
	must(t, err)
	defer unsub()
	_, err = writer.AddFilter(filter(guid(1), subA, ptr(provA), true))
	must(t, err)
	<-entered // fn is busy with the first change; the queue is empty
	const flood = wfp.MaxQueuedChanges + 100
	must(t, writer.BeginTransaction())
	for i := range flood {
		_, err := writer.AddFilter(filter(guid(1000+i), subA, ptr(provA), true))
		must(t, err)
	}
	must(t, writer.CommitTransaction())
	close(release)
	want := 1 + wfp.MaxQueuedChanges + 1
	deadline := time.Now().Add(10 * time.Second)
	for len(r.list()) < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := r.settle()
	if len(got) != want {
		t.Fatalf("%d changes delivered for %d, want %d", len(got), flood+1, want)
	}
	if l := got[want-1]; l.Type != wfp.ChangesLost || l.Key != provA {
		t.Errorf("last %v, want the loss", l)
	}
}
