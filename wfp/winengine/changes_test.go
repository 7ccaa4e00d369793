//go:build windows || unix

package winengine

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// TestChangeSubscriptionScoping drives the platform-independent half of a Windows
// change subscription with the changes a NULL-template filter subscription and the
// provider subscription deliver for every object of the host: only the provider's
// objects reach fn, a delete only for a filter known to be the provider's.
func TestChangeSubscriptionScoping(t *testing.T) {
	ours, theirs := wfp.MustParseGUID("799d3978-8541-477c-914c-836273a0e7c6"), wfp.MustParseGUID("b0000000-0000-4000-8000-00000000000b")
	kOld, kNew, kOther, kGone := wfp.NameGUID(ours, "old"), wfp.NameGUID(ours, "new"), wfp.NameGUID(theirs, "x"), wfp.NameGUID(ours, "gone")
	installed := map[wfp.GUID]*wfp.Filter{
		kNew:   {Key: kNew, ProviderKey: &ours},
		kOther: {Key: kOther, ProviderKey: &theirs},
	}
	var lookups []wfp.GUID
	var mu sync.Mutex
	var got []wfp.Change
	s := newChangeSubscription(ours, func(c wfp.Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	}, func(k wfp.GUID) (*wfp.Filter, error) {
		lookups = append(lookups, k) // run's goroutine only
		if f, ok := installed[k]; ok {
			return f, nil
		}
		return nil, wfp.ErrFilterNotFound
	})
	unsubscribed := 0
	s.unsub = func() error { unsubscribed++; return errors.New("unsubscribe failed") }
	s.ours[kOld] = true // what the enumeration after subscribing found
	go s.run()

	in := []wfp.Change{
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: kOther, FilterID: 7}, // not ours: unknown key
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: kOld, FilterID: 1},   // ours
		{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: kOther, FilterID: 8},    // another provider's
		{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: kNew, FilterID: 9},      // ours
		{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: kGone, FilterID: 10},    // gone before the lookup
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: kGone, FilterID: 10}, // so its delete is not ours either
		{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: kNew, FilterID: 9},   // ours, learnt from its add
		{Type: wfp.ChangeAdd, Object: wfp.ChangedSublayer, Key: kOther},               // the template selected it
		{Type: wfp.ChangeDelete, Object: wfp.ChangedProvider, Key: theirs},            // another provider
		{Type: wfp.ChangeAdd, Object: wfp.ChangedProvider, Key: ours},
	}
	for _, c := range in {
		s.push(c)
	}
	want := []wfp.Change{in[1], in[3], in[6], in[7], in[9]}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	err := s.end()
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v\nwant %v", got, want)
	}
	if !slices.Equal(lookups, []wfp.GUID{kOther, kNew, kGone}) {
		t.Errorf("looked up %v: only the adds of filters", lookups)
	}
	if err == nil || s.end() != err || unsubscribed != 1 {
		t.Errorf("end: %v, again %v, unsubscribed %d times; want the one unsubscribe's error twice", err, s.end(), unsubscribed)
	}
	s.push(in[1]) // after the end: nothing runs
	time.Sleep(20 * time.Millisecond)
	if len(got) != len(want) {
		t.Errorf("delivered after the end: %v", got[len(want):])
	}
}

func TestCallbackRegistry(t *testing.T) {
	r := &callbackRegistry{fns: map[uintptr]any{}, next: 1}
	a, b := r.add("a"), r.add("b")
	if a == 0 || b == 0 || a == b || r.get(a) != "a" || r.get(b) != "b" {
		t.Fatalf("keys %d %d, values %v %v", a, b, r.get(a), r.get(b))
	}
	r.remove(a)
	if r.get(a) != nil || r.get(b) != "b" || r.get(0) != nil {
		t.Errorf("after remove: %v %v", r.get(a), r.get(b))
	}
}

// TestChangeSubscriptionFloodIsBounded: while fn is busy, a flood of changes (another
// tool adding filters: the NULL-template subscription hears of all of them) fills the
// queue up to wfp.MaxQueuedChanges and no further; fn gets the queued ones, then one
// wfp.ChangesLost; the provider's filters are learnt again (resync), so the delete of
// one whose add was lost is still reported.
func TestChangeSubscriptionFloodIsBounded(t *testing.T) {
	ours := wfp.MustParseGUID("799d3978-8541-477c-914c-836273a0e7c6")
	kLost := wfp.NameGUID(ours, "added during the flood")
	release := make(chan struct{})
	var mu sync.Mutex
	var got []wfp.Change
	s := newChangeSubscription(ours, func(c wfp.Change) {
		if c.Key == ours && c.Type == wfp.ChangeAdd {
			<-release // the first change: fn is slow
		}
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	}, func(k wfp.GUID) (*wfp.Filter, error) { return nil, wfp.ErrFilterNotFound })
	resyncs := 0
	s.resync = func() (map[wfp.GUID]bool, error) { resyncs++; return map[wfp.GUID]bool{kLost: true}, nil }
	s.unsub = func() error { return nil }
	go s.run()
	s.push(wfp.Change{Type: wfp.ChangeAdd, Object: wfp.ChangedProvider, Key: ours})
	for {
		s.mu.Lock()
		n := len(s.queue)
		s.mu.Unlock()
		if n == 0 {
			break // run took it and is in fn
		}
		time.Sleep(time.Millisecond)
	}
	const flood = wfp.MaxQueuedChanges + 500
	for i := range flood {
		s.push(wfp.Change{Type: wfp.ChangeAdd, Object: wfp.ChangedSublayer, Key: wfp.NameGUID(ours, fmt.Sprint(i))})
	}
	s.mu.Lock()
	queued, lost := len(s.queue), s.lost
	s.mu.Unlock()
	if queued != wfp.MaxQueuedChanges || lost != flood-wfp.MaxQueuedChanges {
		t.Errorf("after %d changes with fn busy: %d queued, %d dropped; want %d queued", flood, queued, lost, wfp.MaxQueuedChanges)
	}
	close(release)
	waitFor := func(want int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= want || time.Now().After(deadline) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(1 + wfp.MaxQueuedChanges + 1) // the queued changes and the loss
	s.push(wfp.Change{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: kLost})
	want := 1 + wfp.MaxQueuedChanges + 2
	waitFor(want)
	if err := s.end(); err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("delivered %d changes, want %d", len(got), want)
	}
	if l := got[1+wfp.MaxQueuedChanges]; l.Type != wfp.ChangesLost || l.Key != ours || l.Object != wfp.ChangedProvider {
		t.Errorf("after the queued changes: %v, want the loss", l)
	}
	if d := got[len(got)-1]; d.Type != wfp.ChangeDelete || d.Key != kLost || resyncs != 1 {
		t.Errorf("last %v after %d resyncs: the delete of a filter learnt by the resync", d, resyncs)
	}
}
