package iam

import (
	"context"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// DefaultCacheTTL is how long a looked-up access key and a user's
// policies are reused without reading the store again. Every write through
// this server clears the cache at once; the TTL bounds how long a change
// made through another server sharing the store takes to be seen here
// (a deleted access key keeps working there for at most this long).
const DefaultCacheTTL = time.Second

// maxCacheEntries bounds each cache; when full it is emptied, which costs
// store reads, never a wrong answer.
const maxCacheEntries = 10000

// ttlCache is a small map with per-entry expiry on the injected clock.
type ttlCache[V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	entries map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](ttl time.Duration, now func() time.Time) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, now: now, entries: map[string]ttlEntry[V]{}}
}

func (c *ttlCache[V]) get(k string) (V, bool) {
	var zero V
	if c.ttl <= 0 {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !c.now().Before(e.expires) {
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		clear(c.entries)
	}
	c.entries[k] = ttlEntry[V]{v: v, expires: c.now().Add(c.ttl)}
}

func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// caches are the per-request lookups this service serves from memory.
type caches struct {
	credentials *ttlCache[*Credential]
	policies    *ttlCache[[]*policy.Policy]
}

// invalidate drops everything cached: called after every write, so this
// server never serves a stale credential or policy.
func (s *Service) invalidate() {
	s.cache.credentials.clear()
	s.cache.policies.clear()
}

// write runs fn in a store transaction and then drops the caches, whatever
// the outcome.
func (s *Service) write(ctx context.Context, fn func(tx store.Tx) error) error {
	defer s.invalidate()
	return s.store.Tx(ctx, fn)
}
