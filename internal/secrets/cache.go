package secrets

import (
	"sync"

	"github.com/bulwarkd/bulwark/internal/policy"
	"github.com/bulwarkd/bulwark/internal/ttlcache"
)

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

// metaCache keeps decoded secret records for GetSecretValue, keyed by the
// SecretId the caller gave (a name, ARN or partial ARN can all name one
// secret, so a write clears every entry rather than guessing the keys).
// Cached *Secret values are shared and must not be modified.
//
// gen closes the race between a reader filling the cache and a writer
// clearing it: a record read before a write commits is only stored if no
// write finished since the read began, so a write through this server is
// seen by the next read here, never shadowed by an older fill.
type metaCache struct {
	mu  sync.Mutex
	gen uint64
	c   *ttlcache.Cache[*Secret]
}

// generation is read before the store read a fill will store.
func (m *metaCache) generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// put stores sec under id unless a write finished since gen was read.
func (m *metaCache) put(id string, sec *Secret, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.c.Put(id, sec, 0)
	}
}

// invalidate drops everything; every write through the Service calls it
// once its transaction has ended, committed or not.
func (m *metaCache) invalidate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.c.Clear()
}
