package renewer

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// TestRunReconcilesEveryIntervalOfTheClock drives Run with a fake clock:
// one reconciliation at start, none before ReconcileInterval has passed
// (this can fail: the loop wakes every minute and would reconcile early),
// and one when it has, with no sleep anywhere.
func TestRunReconcilesEveryIntervalOfTheClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(start)
	cfg := aws.Config{Region: "us-east-1"}
	r, err := New(Config{
		ACM: acm.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg),
		Auth: Auth{HeaderName: "x-api-key", HeaderValue: "k-0123456789abcdef0123456789"}, Clock: fc,
		ReconcileInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// round moves the clock one wake-up period and waits for the loop to
	// finish that round and wait again.
	round := func() {
		t.Helper()
		if !fc.BlockUntil(ctx, 1) {
			t.Fatal("Run armed no timer")
		}
		n := fc.Armed()
		fc.Add(time.Minute)
		if !fc.BlockUntilArmed(ctx, n+1) {
			t.Fatal("Run did not go round")
		}
	}
	fc.BlockUntil(ctx, 1)
	if got := r.Status().LastReconcile; !got.Equal(start) {
		t.Fatalf("LastReconcile %v, want the start %v", got, start)
	}
	for range 59 {
		round()
	}
	if got := r.Status().LastReconcile; !got.Equal(start) {
		t.Fatalf("reconciled at %v, before ReconcileInterval passed", got)
	}
	round()
	if got, want := r.Status().LastReconcile, start.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("LastReconcile %v, want %v", got, want)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}
