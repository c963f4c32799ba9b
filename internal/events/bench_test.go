package events

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// BenchmarkPatternMatch measures matching one ACM event against a
// realistic pattern (the per-rule cost of every published event).
func BenchmarkPatternMatch(b *testing.B) {
	p, err := compilePattern(`{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration"],"detail":{"DaysToExpiry":[{"numeric":["<=",45]}],"CommonName":[{"suffix":".com"}]}}`)
	if err != nil {
		b.Fatal(err)
	}
	ev, err := decodeJSON([]byte(acmEvent))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.match(ev) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkPutEvent measures publishing one event that one rule with one
// target matches: validation, matching and the durable queue write.
func BenchmarkPutEvent(b *testing.B) {
	ctx := context.Background()
	clock := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	st := openStore(b, filepath.Join(b.TempDir(), "db"))
	s := New(Config{Store: st, AccountID: "111122223333", Region: "us-east-1", Clock: clock})
	if _, err := s.PutRule(ctx, RuleInput{Name: "r", EventPattern: acmPattern}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.PutTargets(ctx, "", "r", []Target{{ID: "t", Arn: "http://127.0.0.1:9/"}}); err != nil {
		b.Fatal(err)
	}
	detail := map[string]any{"DaysToExpiry": 30, "CommonName": "example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.PutEvent(ctx, "aws.acm", "ACM Certificate Approaching Expiration", []string{"arn:x"}, detail); err != nil {
			b.Fatal(err)
		}
	}
}
