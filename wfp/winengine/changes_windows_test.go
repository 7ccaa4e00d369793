//go:build windows && wfpintegration

package winengine

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestIntegrationSubscribeChanges: a session subscribed to a test provider's changes
// is told of another session's add and delete of one of its filters, not of another
// provider's filter, and nothing once unsubscribed; subscribing inside a transaction
// fails with FWP_E_TXN_IN_PROGRESS (fwpmu.h pages of Fwpm*SubscribeChanges0). Both
// sessions are dynamic, so nothing outlives the test process.
func TestIntegrationSubscribeChanges(t *testing.T) {
	requireElevated(t)
	writer, watch := openDynamic(t), openDynamic(t)
	o := newTestObjects(t)
	other := newTestObjects(t)
	inTxn(t, writer, func() error {
		for _, x := range []testObjects{o, other} {
			if err := writer.AddProvider(x.provider); err != nil {
				return err
			}
			if err := writer.AddSublayer(x.sublayer); err != nil {
				return err
			}
		}
		return nil
	})

	if err := watch.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	_, err := watch.SubscribeChanges(o.provider.Key, func(wfp.Change) {})
	if !errors.Is(err, wfp.ErrTxnInProgress) {
		t.Errorf("SubscribeChanges inside a transaction: %v, want FWP_E_TXN_IN_PROGRESS", err)
	}
	if err := watch.AbortTransaction(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []wfp.Change
	unsub, err := watch.SubscribeChanges(o.provider.Key, func(c wfp.Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("SubscribeChanges: %v", err)
	}
	wait := func(n int) []wfp.Change {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			c := slices.Clone(got)
			mu.Unlock()
			if len(c) >= n || time.Now().After(deadline) {
				time.Sleep(300 * time.Millisecond) // anything extra
				mu.Lock()
				c = slices.Clone(got)
				mu.Unlock()
				return c
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := writer.AddFilter(other.filter); err != nil {
		t.Fatal(err)
	}
	id, err := writer.AddFilter(o.filter)
	if err != nil {
		t.Fatal(err)
	}
	want := []wfp.Change{
		{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: o.filter.Key, FilterID: id},
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: o.filter.Key, FilterID: id},
	}
	if c := wait(1); !slices.Equal(c, want[:1]) {
		t.Fatalf("after the adds: changes %v, want %v", c, want[:1])
	}
	if err := writer.DeleteFilter(o.filter.Key); err != nil {
		t.Fatal(err)
	}
	c := wait(2)
	if !slices.Equal(c, want) {
		t.Fatalf("after the delete: changes %v, want %v", c, want)
	}
	if err := unsub(); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	n := len(c)
	if _, err := writer.AddFilter(o.filter); err != nil {
		t.Fatal(err)
	}
	if c := wait(n + 1); len(c) != n {
		t.Errorf("delivered after unsubscribing: %v", c[n:])
	}
}
