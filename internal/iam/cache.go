package iam

import (
	"context"
	"time"

	"github.com/bulwarkd/bulwark/internal/ttlcache"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/store"
)

// DefaultCacheTTL is how long a looked-up access key and a user's
// policies are reused without reading the store again. Every write through
// this server clears the cache at once; the TTL bounds how long a change
// made through another server sharing the store takes to be seen here
// (a deleted access key keeps working there for at most this long).
const DefaultCacheTTL = time.Second

// maxCacheEntries bounds each cache; beyond it the least recently used
// entry is dropped, which costs a store read, never a wrong answer.
const maxCacheEntries = 10000

// caches are the per-request lookups this service serves from memory.
type caches struct {
	credentials *ttlcache.Cache[*Credential]
	policies    *ttlcache.Cache[[]*policy.Policy]
}

// invalidate drops everything cached: called after every write, so this
// server never serves a stale credential or policy.
func (s *Service) invalidate() {
	s.cache.credentials.Clear()
	s.cache.policies.Clear()
}

// write runs fn in a store transaction and then drops the caches, whatever
// the outcome.
func (s *Service) write(ctx context.Context, fn func(tx store.Tx) error) error {
	defer s.invalidate()
	return s.store.Tx(ctx, fn)
}
