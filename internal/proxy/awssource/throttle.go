package awssource

import (
	"sync"
	"time"
)

// throttle remembers a source's last remote version check so that polls
// arriving sooner than interval are answered from memory.
type throttle struct {
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	checked time.Time // zero: never checked, or expired
	version string
}

// cached returns the remembered version while it is fresh.
func (t *throttle) cached() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.checked.IsZero() || t.now().Sub(t.checked) >= t.interval {
		return "", false
	}
	return t.version, true
}

// remember stores a freshly checked version.
func (t *throttle) remember(v string) {
	t.mu.Lock()
	t.checked, t.version = t.now(), v
	t.mu.Unlock()
}

// expire makes the next check go to the service.
func (t *throttle) expire() {
	t.mu.Lock()
	t.checked = time.Time{}
	t.mu.Unlock()
}
