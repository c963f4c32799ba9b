package notify

import (
	"slices"
	"testing"
)

func TestFanout(t *testing.T) {
	var f Fanout
	var a, b []string
	cancelA := f.Subscribe(func(k string) { a = append(a, k) })
	f.Subscribe(func(k string) { b = append(b, k) })
	f.Notify("x")
	cancelA()
	f.Notify("y")
	if !slices.Equal(a, []string{"x"}) || !slices.Equal(b, []string{"x", "y"}) {
		t.Fatalf("a=%v b=%v: want a=[x] (cancelled) and b=[x y]", a, b)
	}
}

func TestFanoutCancelInsideCallback(t *testing.T) {
	var f Fanout
	calls := 0
	var cancel func()
	cancel = f.Subscribe(func(string) { calls++; cancel() })
	f.Notify("x")
	f.Notify("y")
	if calls != 1 {
		t.Fatalf("callback ran %d times, want 1 (it cancelled itself without deadlocking)", calls)
	}
}
