package auditapi

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// TestAcquireGivesUpWithTheRequest: a read waiting for a slot ends with
// the request (ThrottlingException) instead of queueing forever behind a
// whole-log verification, and a released slot is taken again.
func TestAcquireGivesUpWithTheRequest(t *testing.T) {
	s := New(Config{})
	release, err := acquire(context.Background(), s.verify)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = acquire(ctx, s.verify)
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "ThrottlingException" {
		t.Fatalf("second verification while one runs: %v, want ThrottlingException", err)
	}
	release()
	if release, err = acquire(ctx, s.verify); err != nil {
		// A free slot is taken even by a request whose context has ended:
		// select picks among ready cases at random, so only check that a
		// live context gets it.
		if release, err = acquire(context.Background(), s.verify); err != nil {
			t.Fatalf("after release: %v", err)
		}
	}
	release()
	for i := 0; i < maxLookups; i++ {
		if _, err := acquire(context.Background(), s.lookups); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acquire(ctx, s.lookups); err == nil {
		t.Fatalf("lookup %d ran past the bound of %d", maxLookups+1, maxLookups)
	}
}
