package memengine

import (
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

var _ wfp.ChangeSubscriber = (*Session)(nil)

// Change notifications, as wfp.ChangeSubscriber documents them for WFP:
//
//   - A change is delivered once committed — at FwpmTransactionCommit0, or at the end of
//     the implicit transaction of a write outside one — and never for an aborted one.
//     WFP's pages do not say when a notification for a write inside an explicit
//     transaction is sent; what other sessions can see of it is only the committed
//     state (until commit the change is the transaction's alone), and delivering at
//     commit is what cannot make a subscriber act on a change that is then aborted.
//   - Never to a subscription of the session that made the change.
//   - Subscribing or unsubscribing inside a transaction fails with FWP_E_TXN_IN_PROGRESS.
//   - Only for an in-memory BFE (NewBFE), to its own sessions. A file-backed host is
//     shared with other processes whose commits it does not watch, so subscribing to
//     one fails with wfp.ErrChangesUnsupported rather than promise what it cannot see.
//   - At most wfp.MaxQueuedChanges wait for fn; more are dropped, and a wfp.ChangesLost
//     follows the ones queued.
//   - A subscription of a session that BFE.Restart killed receives nothing more, like
//     a subscription whose session the real BFE aborted.
//
// The three Fwpm*SubscribeChanges0 calls of one SubscribeChanges are counted and can be
// failed by InjectFault each; so can the three Fwpm*UnsubscribeChanges0.

// changeSub is one SubscribeChanges: its queue and the goroutine that calls fn.
type changeSub struct {
	provider wfp.GUID
	session  *Session
	gen      uint64
	fn       func(wfp.Change)

	mu    sync.Mutex
	queue []wfp.Change
	lost  int // changes dropped because the queue was full
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// push queues chs, as many as wfp.MaxQueuedChanges allows; the rest are dropped and
// a wfp.ChangesLost follows the queue, as in winengine.
func (c *changeSub) push(chs []wfp.Change) {
	c.mu.Lock()
	room := max(wfp.MaxQueuedChanges-len(c.queue), 0)
	if len(chs) > room {
		c.lost += len(chs) - room
		chs = chs[:room]
	}
	c.queue = append(c.queue, chs...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *changeSub) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		for {
			c.mu.Lock()
			if len(c.queue) == 0 {
				lost := c.lost
				c.lost = 0
				c.mu.Unlock()
				if lost == 0 {
					break
				}
				select {
				case <-c.stop:
					return
				default:
				}
				c.fn(wfp.Change{Type: wfp.ChangesLost, Object: wfp.ChangedProvider, Key: c.provider})
				continue
			}
			ch := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			select {
			case <-c.stop:
				return
			default:
			}
			c.fn(ch)
		}
	}
}

// end stops delivery and waits for a callback in progress.
func (c *changeSub) end() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

var subscribeCalls = []string{"FwpmFilterSubscribeChanges0", "FwpmSubLayerSubscribeChanges0", "FwpmProviderSubscribeChanges0"}
var unsubscribeCalls = []string{"FwpmFilterUnsubscribeChanges0", "FwpmSubLayerUnsubscribeChanges0", "FwpmProviderUnsubscribeChanges0"}

// SubscribeChanges implements wfp.ChangeSubscriber.
func (s *Session) SubscribeChanges(provider wfp.GUID, fn func(wfp.Change)) (func() error, error) {
	if s.bfe.file != nil {
		return nil, fmt.Errorf("memengine: %w: the simulated host %s is a file other processes change, and they are not watched",
			wfp.ErrChangesUnsupported, s.bfe.file.path)
	}
	s.mu.Lock()
	for _, call := range subscribeCalls {
		if err := s.enter(call, nil); err != nil {
			s.mu.Unlock()
			return nil, s.done(err)
		}
		if s.txn != nil {
			s.mu.Unlock()
			return nil, s.done(fail(call, "", wfp.ErrTxnInProgress))
		}
	}
	c := &changeSub{provider: provider, session: s, gen: s.gen, fn: fn,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.subs = append(s.subs, c)
	s.mu.Unlock()
	go c.run()
	s.bfe.addSub(c)
	var once sync.Once
	var uerr error
	return func() error {
		once.Do(func() { uerr = s.unsubscribe(c) })
		return uerr
	}, nil
}

// unsubscribe ends c: the three Unsubscribe calls, then it waits for a callback in
// progress (outside the session's lock: the callback may not call the engine, but it
// must not find it locked either).
func (s *Session) unsubscribe(c *changeSub) error {
	s.mu.Lock()
	var err error
	for _, call := range unsubscribeCalls {
		if e := s.enter(call, nil); e != nil {
			err = s.done(e)
			break
		}
		if s.txn != nil {
			err = s.done(fail(call, "", wfp.ErrTxnInProgress))
			break
		}
	}
	if err == nil {
		s.dropSub(c)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.bfe.removeSub(c)
	c.end()
	return nil
}

// dropSub removes c from the session's list. The caller holds s.mu.
func (s *Session) dropSub(c *changeSub) {
	for i, x := range s.subs {
		if x == c {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			return
		}
	}
}

// endSubs ends every subscription of a closing session ("all subscriptions are
// automatically canceled when the subscribing session terminates"). The caller holds
// s.mu; the subscriptions' goroutines are stopped without waiting for them.
func (s *Session) endSubs() {
	for _, c := range s.subs {
		s.bfe.removeSub(c)
		c.once.Do(func() { close(c.stop) })
	}
	s.subs = nil
}

func (b *BFE) addSub(c *changeSub) {
	b.subMu.Lock()
	b.subs = append(b.subs, c)
	b.subMu.Unlock()
}

func (b *BFE) removeSub(c *changeSub) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	for i, x := range b.subs {
		if x == c {
			b.subs = append(b.subs[:i], b.subs[i+1:]...)
			return
		}
	}
}

// watched says whether a subscription could be told of a commit.
func (b *BFE) watched() bool {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	return len(b.subs) > 0
}

// publish delivers the differences between old and cur, committed by writer, to every
// other session's live subscription.
func (b *BFE) publish(old, cur *state, writer *Session) {
	b.subMu.Lock()
	subs := append([]*changeSub(nil), b.subs...)
	b.subMu.Unlock()
	if len(subs) == 0 {
		return
	}
	gen := b.generation()
	for _, c := range subs {
		if c.session == writer || c.gen != gen {
			continue
		}
		if chs := diffStates(old, cur, c.provider); len(chs) > 0 {
			c.push(chs)
		}
	}
}

// diffStates lists provider's objects added or deleted from old to cur: deletes
// (filters, sublayers, provider) before adds (provider, sublayers, filters), each kind
// by key. An object replaced under the same key by a different one (WFP has no
// in-place modification) is a delete and an add.
func diffStates(old, cur *state, provider wfp.GUID) []wfp.Change {
	var del, add []wfp.Change
	mine := func(k *wfp.GUID) bool { return k != nil && *k == provider }
	for k, f := range old.filters {
		if n, ok := cur.filters[k]; mine(f.ProviderKey) && (!ok || n.ID != f.ID) {
			del = append(del, wfp.Change{Type: wfp.ChangeDelete, Object: wfp.ChangedFilter, Key: k, FilterID: f.ID})
		}
	}
	for k, f := range cur.filters {
		if o, ok := old.filters[k]; mine(f.ProviderKey) && (!ok || o.ID != f.ID) {
			add = append(add, wfp.Change{Type: wfp.ChangeAdd, Object: wfp.ChangedFilter, Key: k, FilterID: f.ID})
		}
	}
	for k, sl := range old.sublayers {
		if n, ok := cur.sublayers[k]; mine(sl.ProviderKey) && (!ok || !reflect.DeepEqual(sl, n)) {
			del = append(del, wfp.Change{Type: wfp.ChangeDelete, Object: wfp.ChangedSublayer, Key: k})
		}
	}
	for k, sl := range cur.sublayers {
		if o, ok := old.sublayers[k]; mine(sl.ProviderKey) && (!ok || !reflect.DeepEqual(sl, o)) {
			add = append(add, wfp.Change{Type: wfp.ChangeAdd, Object: wfp.ChangedSublayer, Key: k})
		}
	}
	if p, ok := old.providers[provider]; ok {
		if n, ok := cur.providers[provider]; !ok || !reflect.DeepEqual(p, n) {
			del = append(del, wfp.Change{Type: wfp.ChangeDelete, Object: wfp.ChangedProvider, Key: provider})
		}
	}
	if p, ok := cur.providers[provider]; ok {
		if o, ok := old.providers[provider]; !ok || !reflect.DeepEqual(p, o) {
			add = append(add, wfp.Change{Type: wfp.ChangeAdd, Object: wfp.ChangedProvider, Key: provider})
		}
	}
	rank := map[wfp.ChangeObject]int{wfp.ChangedFilter: 0, wfp.ChangedSublayer: 1, wfp.ChangedProvider: 2}
	sort.SliceStable(del, func(i, j int) bool {
		if del[i].Object != del[j].Object {
			return rank[del[i].Object] < rank[del[j].Object]
		}
		return del[i].Key.String() < del[j].Key.String()
	})
	sort.SliceStable(add, func(i, j int) bool {
		if add[i].Object != add[j].Object {
			return rank[add[i].Object] > rank[add[j].Object]
		}
		return add[i].Key.String() < add[j].Key.String()
	})
	return append(del, add...)
}
