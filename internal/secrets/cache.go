package secrets

import (
	"sync"

	"github.com/bulwarkd/bulwark/internal/policy"
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
