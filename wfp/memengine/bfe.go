package memengine

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// DefaultTxnWaitTimeout is how long a session waits for the transaction lock unless told
// otherwise: WFP's default when FWPM_SESSION0.txnWaitTimeoutInMSec is 0.
const DefaultTxnWaitTimeout = 15 * time.Second

// BFE is a simulated Base Filtering Engine: the committed objects and the transaction lock
// that all its sessions share. It is safe for concurrent use.
type BFE struct {
	mu        sync.Mutex
	committed *state        // in-memory BFE: the committed state; file-backed: unused
	gen       uint64        // incremented by Restart; sessions of an older generation are dead
	txnLock   chan struct{} // capacity 1: a session holds it from begin to commit/abort
	holder    *txnHold      // who holds txnLock (and the file lock), for Restart
	file      *stateFile    // nil for a purely in-memory BFE

	subMu sync.Mutex
	subs  []*changeSub // live SubscribeChanges of every session (changes.go)
}

// NewBFE returns an empty in-memory engine.
func NewBFE() *BFE {
	return &BFE{committed: newState(), txnLock: make(chan struct{}, 1)}
}

// Open opens a non-dynamic session (FwpmEngineOpen0) with DefaultTxnWaitTimeout.
func (b *BFE) Open() *Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &Session{bfe: b, gen: b.gen, timeout: DefaultTxnWaitTimeout}
}

// Restart simulates stopping and starting the BFE service: non-persistent objects vanish,
// persistent ones stay, an open transaction is discarded, and every session opened before
// fails from now on with FWP_E_SESSION_ABORTED. A file-backed BFE rewrites its file (see
// RestartFile); the error is about that file.
func (b *BFE) Restart() error {
	b.mu.Lock()
	b.gen++
	b.txnLock = make(chan struct{}, 1)
	b.committed = b.committed.persistentOnly()
	f, h := b.file, b.holder
	b.mu.Unlock()
	if h != nil {
		h.release() // the open transaction is aborted, its locks freed
	}
	if f != nil {
		return RestartFile(f.path)
	}
	return nil
}

// Snapshot returns a deterministic dump of the committed state, in the file format, so
// tests can compare states with ==. For a file-backed BFE it reads the file.
func (b *BFE) Snapshot() (string, error) {
	st, err := b.load()
	if err != nil {
		return "", err
	}
	data, err := encodeState(st)
	return string(data), err
}

// load returns a private copy of the committed state.
func (b *BFE) load() (*state, error) {
	b.mu.Lock()
	f := b.file
	if f == nil {
		defer b.mu.Unlock()
		return b.committed.clone(), nil
	}
	b.mu.Unlock()
	return f.read()
}

// store makes st the committed state, written by the session writer, and tells the
// other sessions' change subscriptions what changed. The caller holds the transaction
// lock (and, for a file, the file lock).
func (b *BFE) store(st *state, writer *Session) error {
	var old *state
	if b.watched() {
		var err error
		if old, err = b.load(); err != nil {
			return err
		}
	}
	if b.file != nil {
		if err := b.file.write(st); err != nil {
			return err
		}
	} else {
		b.mu.Lock()
		b.committed = st
		b.mu.Unlock()
	}
	if old != nil {
		b.publish(old, st, writer)
	}
	return nil
}

// txnHold is a held transaction lock (and file lock), released exactly once: by the
// session that took it, or by Restart.
//
// For a file-backed BFE an explicit transaction whose lock file does not exist yet
// (no write ever happened on this host) takes no file lock at begin, so that reading a
// host creates no file: deferred is set, seen holds the file's bytes as the transaction
// read them, and lockDeferred takes the lock before the transaction's first write.
type txnHold struct {
	bfe      *BFE
	ch       chan struct{}
	file     *fileLock
	deferred bool
	seen     []byte
	once     sync.Once
}

func (h *txnHold) release() {
	h.once.Do(func() {
		h.bfe.mu.Lock()
		if h.bfe.holder == h {
			h.bfe.holder = nil
		}
		h.bfe.mu.Unlock()
		if h.file != nil {
			h.file.unlock()
		}
		<-h.ch
	})
}

// acquire takes the transaction lock of generation gen, waiting at most timeout, then the
// file lock (if any) with what is left of the timeout. Without create, a missing lock file
// is not created and the file lock is deferred (see txnHold).
func (b *BFE) acquire(gen uint64, timeout time.Duration, create bool) (*txnHold, wfp.Code, error) {
	b.mu.Lock()
	ch, cur, f := b.txnLock, b.gen, b.file
	b.mu.Unlock()
	if cur != gen {
		return nil, wfp.ErrSessionAborted, nil
	}
	deadline := time.Now().Add(timeout)
	select {
	case ch <- struct{}{}:
	default:
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case ch <- struct{}{}:
		case <-t.C:
			return nil, wfp.ErrTimeout, nil
		}
	}
	h := &txnHold{bfe: b, ch: ch}
	if f != nil {
		fl, timedOut, err := f.lock(time.Until(deadline), create)
		if err != nil || timedOut {
			<-ch
			if timedOut {
				return nil, wfp.ErrTimeout, nil
			}
			return nil, 0, err
		}
		h.file, h.deferred = fl, fl == nil
	}
	b.mu.Lock()
	if b.gen != gen { // restarted while we waited
		b.mu.Unlock()
		h.release()
		return nil, wfp.ErrSessionAborted, nil
	}
	b.holder = h
	b.mu.Unlock()
	return h, 0, nil
}

// loadTxn is load at the start of the transaction h: for a deferred file lock it keeps
// the bytes it read, for lockDeferred's check.
func (b *BFE) loadTxn(h *txnHold) (*state, error) {
	if !h.deferred {
		return b.load()
	}
	data, err := b.file.readRaw()
	if err != nil {
		return nil, err
	}
	h.seen = data
	return b.file.decode(data)
}

// lockDeferred takes the file lock a transaction deferred (creating the lock file),
// waiting at most timeout, before its first write. If another process committed to the
// file since the transaction read it, the transaction's reads are stale and its writes
// would undo that commit: the write is refused (the transaction stays open, to be aborted).
func (b *BFE) lockDeferred(h *txnHold, timeout time.Duration) (wfp.Code, error) {
	fl, timedOut, err := b.file.lock(timeout, true)
	if err != nil {
		return 0, err
	}
	if timedOut {
		return wfp.ErrTimeout, nil
	}
	now, err := b.file.readRaw()
	if err != nil {
		fl.unlock()
		return 0, err
	}
	if (now == nil) != (h.seen == nil) || !bytes.Equal(now, h.seen) {
		fl.unlock()
		return 0, fmt.Errorf("memengine: %s was changed by another process after this transaction began; abort it and begin again", b.file.path)
	}
	h.file, h.deferred, h.seen = fl, false, nil
	return 0, nil
}

func (b *BFE) generation() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen
}
