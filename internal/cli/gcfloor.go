package cli

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcHeadroom is the least heap growth the server's garbage collector
// allows between cycles. Go's default (GOGC=100) lets the heap grow by as
// much as is live; the server keeps only a few MiB live, so it collected
// every few MiB of allocation (eight times a second under load) and each
// cycle's fixed cost (stopping the world, waking a worker per core) was
// a measurable share of a request's CPU on small machines. 64 MiB of
// headroom makes cycles rare at the cost of at most that much more
// memory; once more than 64 MiB is live, GOGC=100 applies as usual.
const gcHeadroom = 64 << 20

var gcFloorOnce sync.Once

// setGCFloor keeps the GC's heap goal at least gcHeadroom above the live
// heap, by re-setting the GC percentage after every cycle. An operator's
// GOGC (or GOMEMLIMIT) in the environment wins: then nothing changes.
func setGCFloor() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	gcFloorOnce.Do(func() { armGCFloor(100) })
}

// gcSentinel is allocated for its finalizer, which runs after the cycle
// that found it unreachable: a hook on the end of each GC cycle. Large
// enough not to share a tiny-allocator block, whose finalizers may not
// run.
type gcSentinel struct{ _ [32]byte }

func armGCFloor(percent int) {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		next := gcPercentFor(s[0].Value.Uint64())
		if next != percent {
			debug.SetGCPercent(next)
		}
		armGCFloor(next)
	})
}

// gcPercentFor returns the GOGC that makes the heap goal live+gcHeadroom,
// or 100 when that is less.
func gcPercentFor(live uint64) int {
	if live == 0 || live >= gcHeadroom {
		return 100
	}
	// Rounded to 50 %, so small changes in the live heap do not reset it
	// after every cycle.
	p := int(gcHeadroom*100/live) / 50 * 50
	return max(p, 100)
}
