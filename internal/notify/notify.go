// Package notify fans change notifications out to in-process subscribers:
// a service calls Notify after a write committed, and readers that cache
// what it stores (the xDS server) Subscribe to learn what to rebuild.
package notify

import "sync"

// Fanout holds subscribers of one kind of change, keyed by a string (an
// ARN, a mesh name). The zero value is ready to use; it must not be copied
// after first use.
type Fanout struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(key string)
}

// Subscribe calls fn with the key of every later Notify until cancel is
// called. fn runs on the notifier's goroutine, so it must not block.
func (f *Fanout) Subscribe(fn func(key string)) (cancel func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fns == nil {
		f.fns = map[int]func(string){}
	}
	id := f.next
	f.next++
	f.fns[id] = fn
	return func() {
		f.mu.Lock()
		delete(f.fns, id)
		f.mu.Unlock()
	}
}

// Notify calls every subscriber with key. Subscribers are called outside
// the lock, so one may subscribe or cancel from inside its callback.
func (f *Fanout) Notify(key string) {
	f.mu.Lock()
	fns := make([]func(string), 0, len(f.fns))
	for _, fn := range f.fns {
		fns = append(fns, fn)
	}
	f.mu.Unlock()
	for _, fn := range fns {
		fn(key)
	}
}
