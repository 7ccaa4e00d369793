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
	// resync lists the provider's filter keys (Engine.Filters), to know its deletes
	// again after changes were lost; nil: ours is kept as it is.
	resync func() (map[wfp.GUID]bool, error)
	// unsub ends the engine's subscriptions (the Unsubscribe calls).
	unsub func() error
	fn    func(wfp.Change)
	//lint:ignore U1000 used by the Windows half
	key uintptr // in callbackContexts

	// handles are the change handles of the Subscribe calls that succeeded, in order
	// filter, sublayer, provider; zero for one not (yet) made.
	//lint:ignore U1000 used by the Windows half
	handles [3]uintptr

	mu    sync.Mutex
	queue []wfp.Change
	// lost counts the changes dropped because the queue was full (wfp.MaxQueuedChanges).
	lost    int
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	ours    map[wfp.GUID]bool // the provider's filter keys (run's goroutine only)
	endOnce sync.Once
	err     error
}

// push queues c for run, or drops it when the queue is full (the callback that calls
// push must not block, and a flood must not grow the queue without bound).
func (s *changeSubscription) push(c wfp.Change) {
	s.mu.Lock()
	if len(s.queue) >= wfp.MaxQueuedChanges {
		s.lost++
	} else {
		s.queue = append(s.queue, c)
	}
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
				lost := s.lost
				s.lost = 0
				s.mu.Unlock()
				if lost == 0 {
					break
				}
				// The dropped changes came after the queued ones: tell fn now.
				s.changesLost()
				continue
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

// changesLost learns the provider's filters again (a lost add would hide the filter's
// delete) and tells fn that changes were lost.
func (s *changeSubscription) changesLost() {
	if s.resync != nil {
		if ours, err := s.resync(); err == nil {
			s.ours = ours
		}
	}
	select {
	case <-s.stop:
		return
	default:
	}
	s.fn(wfp.Change{Type: wfp.ChangesLost, Object: wfp.ChangedProvider, Key: s.provider})
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
