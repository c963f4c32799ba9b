package cli

import "testing"

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		live uint64
		want int
	}{
		{"unknown live heap", 0, 100},
		{"4 MiB live: 64 MiB of headroom", 4 << 20, 1600},
		{"5 MiB live, rounded down to 50 %", 5 << 20, 1250},
		{"32 MiB live", 32 << 20, 200},
		{"48 MiB live: never under GOGC=100", 48 << 20, 133 / 50 * 50},
		{"64 MiB live: GOGC=100", 64 << 20, 100},
		{"1 GiB live: GOGC=100", 1 << 30, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := gcPercentFor(tt.live); got != tt.want {
				t.Errorf("gcPercentFor(%d) = %d, want %d", tt.live, got, tt.want)
			}
		})
	}
}
