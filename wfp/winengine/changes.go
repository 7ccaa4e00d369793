//go:build windows || unix

package winengine

import (
	"sync"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// The platform-independent half of a change subscription (changes_windows.go has the
// calls): the queue the callbacks fill, the goroutine that scopes each change to the
// provider and calls fn, and the end of it all. Tested on Linux (changes_test.go).

// changeSubscription is one SubscribeChanges.
type changeSubscription struct {
	provider wfp.GUID
	// lookup reads a filter by key (Engine.Filter), for the scoping of adds.
	lookup func(wfp.GUID) (*wfp.Filter, error)
	// unsub ends the engine's subscriptions (the Unsubscribe calls).
	unsub func() error
	fn    func(wfp.Change)
	//lint:ignore U1000 used by the Windows half
	key uintptr // in callbackContexts

	// handles are the change handles of the Subscribe calls that succeeded, in order
	// filter, sublayer, provider; zero for one not (yet) made.
	//lint:ignore U1000 used by the Windows half
	handles [3]uintptr

	mu      sync.Mutex
	queue   []wfp.Change
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ours    map[wfp.GUID]bool // the provider's filter keys (run's goroutine only)
	endOnce sync.Once
	err     error
}

func (s *changeSubscription) push(c wfp.Change) {
	s.mu.Lock()
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *changeSubscription) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			c := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			default:
			}
			if s.mine(c) {
				s.fn(c)
			}
		}
	}
}

// mine scopes a change to the provider (see the comment at the top of changes_windows.go).
func (s *changeSubscription) mine(c wfp.Change) bool {
	switch c.Object {
	case wfp.ChangedSublayer:
		return true // the template selected them
	case wfp.ChangedProvider:
		return c.Key == s.provider
	}
	if c.Type == wfp.ChangeDelete {
		if s.ours[c.Key] {
			delete(s.ours, c.Key)
			return true
		}
		return false
	}
	f, err := s.lookup(c.Key)
	if err != nil || !wfp.SameProvider(f.ProviderKey, &s.provider) {
		return false
	}
	s.ours[c.Key] = true
	return true
}

func newChangeSubscription(provider wfp.GUID, fn func(wfp.Change), lookup func(wfp.GUID) (*wfp.Filter, error)) *changeSubscription {
	return &changeSubscription{provider: provider, fn: fn, lookup: lookup, ours: map[wfp.GUID]bool{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// end unsubscribes (once: later calls return the first call's error), then stops the
// goroutine and waits for it.
func (s *changeSubscription) end() error {
	s.endOnce.Do(func() {
		s.err = s.unsub()
		close(s.stop)
		<-s.done
	})
	return s.err
}
