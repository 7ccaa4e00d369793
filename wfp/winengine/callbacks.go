//go:build windows || unix

package winengine

import "sync"

// callbackRegistry maps context keys to the Go functions their callbacks call.
type callbackRegistry struct {
	mu   sync.Mutex
	fns  map[uintptr]any
	next uintptr
}

// add registers fn and returns its key (never 0: a NULL context stays distinguishable).
func (r *callbackRegistry) add(fn any) uintptr {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.next
	r.next++
	r.fns[k] = fn
	return k
}

// get returns the function registered under k, or nil once removed.
func (r *callbackRegistry) get(k uintptr) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fns[k]
}

// remove forgets k; a callback still arriving for it finds nothing and does nothing.
func (r *callbackRegistry) remove(k uintptr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.fns, k)
}
