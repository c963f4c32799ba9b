package secrets_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// BenchmarkGetSecretValue4KB reads a 4 KB secret through the whole API
// path (HTTP, SigV4 signing by the SDK and verification by the server,
// routing, policy evaluation, audit log, data-key cache, AES-GCM) from
// concurrent SDK clients, and reports calls/s with p50/p99 latency.
func BenchmarkGetSecretValue4KB(b *testing.B) {
	srv := servertest.Start(b)
	cfg := srv.AWSConfig()
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
	sm := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	value := strings.Repeat("x", 4096)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("bench/4k"), SecretString: &value})
	if err != nil {
		if errCode(err) == "InternalFailure" && kmsIsStub() {
			b.Skip("the server's KMS is still the stub")
		}
		b.Fatal(err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN}); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(4) // 4 × GOMAXPROCS concurrent clients
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		in := &secretsmanager.GetSecretValueInput{SecretId: out.ARN}
		for pb.Next() {
			t0 := time.Now()
			r, err := sm.GetSecretValue(ctx, in)
			lat = append(lat, time.Since(t0))
			if err != nil || len(*r.SecretString) != 4096 {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
