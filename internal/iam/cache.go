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

// write runs fn in a store transaction and then drops the caches and
// tells the subscribers, whatever the outcome.
func (s *Service) write(ctx context.Context, fn func(tx store.Tx) error) error {
	defer s.notify()
	defer s.invalidate()
	return s.store.Tx(ctx, fn)
}

// Subscribe calls fn after every write to IAM through this service
// (users, access keys, policies; the write may have failed), until cancel
// is called, so holders of long-lived authorizations (xDS streams)
// re-evaluate them at once. fn must not block. Writes through another
// server sharing the store are not seen here.
func (s *Service) Subscribe(fn func()) (cancel func()) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.subs == nil {
		s.subs = map[int]func(){}
	}
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.subMu.Lock()
		delete(s.subs, id)
		s.subMu.Unlock()
	}
}

func (s *Service) notify() {
	s.subMu.Lock()
	fns := make([]func(), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.subMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
