package secrets

import (
	"container/list"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
)

// ttlCache is a small LRU whose entries also expire after ttl. It bounds
// both the entry count and (when maxBytes > 0) the bytes its values hold,
// and calls onEvict for every value it drops so data keys are zeroed.
type ttlCache[V any] struct {
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

// newTTLCache makes a cache. onEvict (may be nil) sees every dropped
// value; clone (may be nil) copies a value on get, under the lock, so a
// value zeroed on eviction is never one a reader still uses.
func newTTLCache[V any](max, maxBytes int, ttl time.Duration, now func() time.Time, onEvict func(V), clone func(V) V) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, maxBytes: maxBytes, now: now, onEvict: onEvict, clone: clone, ll: list.New(), m: map[string]*list.Element{}}
}

// get returns a live entry and marks it recently used.
func (c *ttlCache[V]) get(key string) (V, bool) {
	var zero V
	if c.ttl < 0 {
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

// put stores val (of size bytes) under key, evicting the least recently
// used entries while over either bound. A value larger than the byte bound
// is not cached.
func (c *ttlCache[V]) put(key string, val V, size int) {
	if c.ttl < 0 || (c.maxBytes > 0 && size > c.maxBytes) {
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

// drop removes key if present.
func (c *ttlCache[V]) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.remove(el)
	}
}

// len reports the number of entries (live or not yet noticed as expired).
func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *ttlCache[V]) remove(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry[V])
	delete(c.m, e.key)
	c.bytes -= e.size
	if c.onEvict != nil {
		c.onEvict(e.val)
	}
}

// policyCache keeps parsed resource policies by their text: parsing on
// every GetSecretValue would cost more than evaluating. Parsed policies are
// immutable, so sharing them is safe.
type policyCache struct {
	mu  sync.Mutex
	max int
	m   map[string]*policy.Policy
}

func newPolicyCache(max int) *policyCache {
	return &policyCache{max: max, m: map[string]*policy.Policy{}}
}

// get parses doc (cached); "" is no policy.
func (c *policyCache) get(doc string) (*policy.Policy, error) {
	if doc == "" {
		return nil, nil
	}
	c.mu.Lock()
	p, ok := c.m[doc]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := policy.ParseResource([]byte(doc))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m) // rare: policies change seldom; start over
	}
	c.m[doc] = p
	c.mu.Unlock()
	return p, nil
}
