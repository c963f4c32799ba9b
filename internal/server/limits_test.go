package server

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// trickle hands out its data a few bytes at a time and records the
// largest buffer it was ever given to fill: what readBody had allocated.
type trickle struct {
	data    []byte
	step    int
	maxBuf  int
	maxRead int // bytes received when maxBuf was seen
	read    int
	block   bool // after data, fail instead of EOF (a client that stalls)
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(p) > r.maxBuf {
		r.maxBuf, r.maxRead = len(p), r.read
	}
	if len(r.data) == 0 {
		if r.block {
			return 0, errors.New("read timeout")
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.data)
	r.data = r.data[n:]
	r.read += n
	return n, nil
}

// TestReadBodyGrowsWithBytesReceived: whatever Content-Length claims, the
// buffer is never more than twice what has arrived (plus the first chunk).
func TestReadBodyGrowsWithBytesReceived(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name     string
		declared int64
		sent     int
		step     int
		stall    bool
		wantErr  string
	}{
		{"declares 1 MiB, sends nothing", limit, 0, 1, true, "SerializationException"},
		{"declares 1 MiB, sends 146 bytes", limit, 146, 7, true, "SerializationException"},
		{"declares 1 MiB, sends 10 KiB slowly", limit, 10 << 10, 100, true, "SerializationException"},
		{"chunked, 100 KiB", -1, 100 << 10, 4096, false, ""},
		{"exact Content-Length", 3000, 3000, 512, false, ""},
		{"exactly the limit", limit, limit, 65536, false, ""},
		{"one byte over the limit, undeclared", -1, limit + 1, 65536, false, "ValidationException"},
		{"declared over the limit", limit + 1, 0, 1, false, "ValidationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &trickle{data: bytes.Repeat([]byte{'x'}, tc.sent), step: tc.step, block: tc.stall}
			lease := &bodyLease{b: &bodyBudget{limit: 64 << 20}}
			body, err := readBody(r, tc.declared, limit, lease)
			if tc.wantErr == "" {
				if err != nil || len(body) != tc.sent {
					t.Fatalf("read %d bytes, %v; want %d", len(body), err, tc.sent)
				}
			} else {
				var e *awsproto.Error
				if !errors.As(err, &e) || e.Code != tc.wantErr {
					t.Fatalf("got %v, want %s", err, tc.wantErr)
				}
			}
			if bound := max(firstBodyChunk, 2*r.maxRead+1); r.maxBuf > bound {
				t.Errorf("a %d-byte buffer was offered after %d bytes arrived (bound %d)", r.maxBuf, r.maxRead, bound)
			}
			if tc.sent == 0 && r.maxBuf > firstBodyChunk {
				t.Errorf("nothing sent, yet %d bytes were allocated", r.maxBuf)
			}
		})
	}
}

// TestBodyBudget: bytes beyond each request's free allowance come out of
// one shared budget; a request that does not fit is refused (not made to
// wait), and the budget comes back on release.
func TestBodyBudget(t *testing.T) {
	const limit = 1 << 20
	budget := &bodyBudget{limit: limit}
	big := func() io.Reader { return bytes.NewReader(make([]byte, 600<<10)) }

	first := &bodyLease{b: budget}
	if _, err := readBody(big(), -1, limit, first); err != nil {
		t.Fatal(err)
	}
	if first.n == 0 || budget.used.Load() != first.n {
		t.Fatalf("lease %d, budget used %d", first.n, budget.used.Load())
	}
	second := &bodyLease{b: budget}
	if _, err := readBody(big(), -1, limit, second); !errors.Is(err, errBusy) {
		t.Fatalf("a body beyond the budget: %v, want the busy refusal", err)
	}
	second.release()
	// Small bodies never touch the budget, however full it is.
	small := &bodyLease{b: budget}
	if _, err := readBody(bytes.NewReader(make([]byte, freeBodyBytes)), freeBodyBytes, limit, small); err != nil || small.n != 0 {
		t.Fatalf("a %d-byte body: lease %d, %v", freeBodyBytes, small.n, err)
	}
	first.release()
	first.release() // idempotent
	if got := budget.used.Load(); got != 0 {
		t.Fatalf("after release the budget still counts %d bytes", got)
	}
	if _, err := readBody(big(), -1, limit, &bodyLease{b: budget}); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
