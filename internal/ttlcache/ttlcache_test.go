package ttlcache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBounds(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var evicted []int
	c := New[int](3, 10, time.Minute, clock.Now, func(v int) { evicted = append(evicted, v) }, nil)
	for i := 1; i <= 4; i++ {
		c.Put(fmt.Sprint(i), i, 1)
	}
	if _, ok := c.Get("1"); ok || c.Len() != 3 {
		t.Fatalf("count bound: len %d", c.Len())
	}
	c.Put("big", 99, 8) // over the byte bound: evicts the oldest
	if c.bytes > 10 {
		t.Fatalf("bytes %d over bound", c.bytes)
	}
	c.Put("huge", 100, 11)
	if _, ok := c.Get("huge"); ok {
		t.Fatal("a value over the byte bound was cached")
	}
	clock.Advance(time.Minute)
	if _, ok := c.Get("big"); ok {
		t.Fatal("expired entry served")
	}
	if len(evicted) < 4 {
		t.Fatalf("evictions not reported: %v", evicted)
	}
	c.Put("a", 1, 1)
	c.Clear()
	if _, ok := c.Get("a"); ok || c.Len() != 0 {
		t.Fatal("Clear kept an entry")
	}
}

// TestExpiresExactlyAtTTL: staleness across servers is bounded by the TTL,
// so an entry is served strictly before it and never at or after it.
func TestExpiresExactlyAtTTL(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	c := New[string](10, 0, time.Second, clock.Now, nil, nil)
	c.Put("k", "v", 0)
	clock.Advance(time.Second - 1)
	if _, ok := c.Get("k"); !ok {
		t.Fatal("entry gone before its TTL")
	}
	clock.Advance(1)
	if _, ok := c.Get("k"); ok {
		t.Fatal("entry served at its TTL")
	}
	off := New[string](10, 0, 0, clock.Now, nil, nil)
	off.Put("k", "v", 0)
	if _, ok := off.Get("k"); ok {
		t.Fatal("a zero TTL must disable the cache")
	}
}
