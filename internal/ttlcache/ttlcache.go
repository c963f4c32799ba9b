// Package ttlcache is the one in-memory cache of Bulwark's services: a
// size-bounded LRU whose entries also expire after a TTL on an injected
// clock. The TTL is what bounds staleness across servers sharing one
// database: a key disabled, a secret deleted or an access key removed
// through another server is seen here within the TTL, because an expired
// entry is never returned. A write through this server should Drop (or
// Clear) at once so its own change is seen immediately.
package ttlcache

import (
	"container/list"
	"sync"
	"time"
)

// Cache is a small LRU whose entries also expire after ttl. It bounds
// both the entry count and (when maxBytes > 0) the bytes its values hold,
// and calls onEvict for every value it drops so data keys are zeroed.
type Cache[V any] struct {
	mu       sync.Mutex
	ttl      time.Duration
	max      int
	maxBytes int
	bytes    int
	now      func() time.Time
	onEvict  func(V)
	clone    func(V) V
	ll       *list.List
	m        map[string]*list.Element
}

type cacheEntry[V any] struct {
	key     string
	val     V
	size    int
	expires time.Time
}

// New makes a cache. onEvict (may be nil) sees every dropped
// value; clone (may be nil) copies a value on get, under the lock, so a
// value zeroed on eviction is never one a reader still uses.
func New[V any](max, maxBytes int, ttl time.Duration, now func() time.Time, onEvict func(V), clone func(V) V) *Cache[V] {
	return &Cache[V]{ttl: ttl, max: max, maxBytes: maxBytes, now: now, onEvict: onEvict, clone: clone, ll: list.New(), m: map[string]*list.Element{}}
}

// Get returns a live entry and marks it recently used.
func (c *Cache[V]) Get(key string) (V, bool) {
	var zero V
	if c.ttl <= 0 {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*cacheEntry[V])
	if !c.now().Before(e.expires) {
		c.remove(el)
		return zero, false
	}
	c.ll.MoveToFront(el)
	if c.clone != nil {
		return c.clone(e.val), true
	}
	return e.val, true
}

// Put stores val (of size bytes) under key, evicting the least recently
// used entries while over either bound. A value larger than the byte bound
// is not cached.
func (c *Cache[V]) Put(key string, val V, size int) {
	if c.ttl <= 0 || (c.maxBytes > 0 && size > c.maxBytes) {
		if c.onEvict != nil {
			c.onEvict(val)
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.remove(el)
	}
	c.m[key] = c.ll.PushFront(&cacheEntry[V]{key: key, val: val, size: size, expires: c.now().Add(c.ttl)})
	c.bytes += size
	for c.ll.Len() > c.max || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		c.remove(c.ll.Back())
	}
}

// Drop removes key if present.
func (c *Cache[V]) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.remove(el)
	}
}

// Len reports the number of entries (live or not yet noticed as expired).
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *Cache[V]) remove(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry[V])
	delete(c.m, e.key)
	c.bytes -= e.size
	if c.onEvict != nil {
		c.onEvict(e.val)
	}
}

// Clear drops every entry.
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.ll.Len() > 0 {
		c.remove(c.ll.Back())
	}
}
