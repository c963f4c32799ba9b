package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
)

const defaultCacheSize = 1024

// cacheKey identifies a derived key. The secret is deliberately not part of
// it: an entry is overwritten when the secret for the same scope changes.
type cacheKey struct {
	accessKeyID, date, region, service string
}

// cacheEntry holds a SHA-256 of the secret rather than the secret itself, so
// the cache never keeps long-term secrets in memory, yet a rotated secret
// can never match a key derived from the old one.
type cacheEntry struct {
	secretSum [sha256.Size]byte
	key       []byte
}

// keyCache is a bounded, concurrency-safe map of derived signing keys. Its
// zero value is ready to use.
type keyCache struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry
}

func (c *keyCache) get(size int, secret string, sc Scope) []byte {
	sum := sha256.Sum256([]byte(secret))
	k := cacheKey{sc.AccessKeyID, sc.Date, sc.Region, sc.Service}
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && subtle.ConstantTimeCompare(e.secretSum[:], sum[:]) == 1 {
		return e.key
	}
	key := deriveKey(secret, sc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[cacheKey]cacheEntry)
	}
	if _, exists := c.m[k]; !exists && len(c.m) >= size {
		// Evict an arbitrary eighth (map order is randomised): cheaper than
		// LRU bookkeeping on every hit, and keys are cheap to re-derive.
		n := max(size/8, 1)
		for old := range c.m {
			delete(c.m, old)
			if n--; n == 0 {
				break
			}
		}
	}
	c.m[k] = cacheEntry{secretSum: sum, key: key}
	return key
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// deriveKey is kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region),
// service), "aws4_request").
func deriveKey(secret string, sc Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), sc.Date)
	k = hmacSHA256(k, sc.Region)
	k = hmacSHA256(k, sc.Service)
	return hmacSHA256(k, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
