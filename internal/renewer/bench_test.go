package renewer_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/certsync/certsynctest"
	"github.com/bulwarkd/bulwark/internal/renewer"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// meshSize is the number of proxies (one certificate and prefix each);
// BULWARK_BENCH_PROXIES overrides the default 1000.
func meshSize() int {
	if n, err := strconv.Atoi(os.Getenv("BULWARK_BENCH_PROXIES")); err == nil && n > 0 {
		return n
	}
	return 1000
}

type mesh struct {
	srv   *servertest.Server
	acm   *acm.Client
	sm    *secretsmanager.Client
	certs []string
}

// newMesh starts a server and issues and exports one EC P-256 certificate
// per proxy into prefix proxy-<i>.
func newMesh(b *testing.B, n int) *mesh {
	b.Helper()
	srv := servertest.Start(b)
	cfg := srv.AWSConfig()
	cfg.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	pki := certsynctest.NewPKI(b, cfg, "Mesh", true)
	m := &mesh{srv: srv, acm: acm.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg), certs: make([]string, n)}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var failed atomic.Value
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m.certs[i] = pki.Request(b, cfg, fmt.Sprintf("proxy-%d.mesh.local", i), certLife)
			if _, err := certsync.Export(context.Background(), m.acm, m.sm, certsync.ExportInput{CertificateARN: m.certs[i], SecretPrefix: fmt.Sprintf("proxy-%d", i)}); err != nil {
				failed.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return m
}

// peakHeap samples HeapInuse every 10 ms until stop is called and returns
// the maximum seen. Server and clients share the process, so it is an
// upper bound of the server's.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// BenchmarkMeshStartupFetch: every proxy of the mesh fetches its
// certificate at once (GetSecretValue ×4 and a PKCS#8 decrypt each).
// Reports seconds per wave and peak heap.
func BenchmarkMeshStartupFetch(b *testing.B) {
	n := meshSize()
	m := newMesh(b, n)
	runtime.GC()
	stop := peakHeap()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := certsync.Fetch(context.Background(), m.sm, fmt.Sprintf("proxy-%d", i)); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d of %d fetches failed", failed.Load(), n)
		}
	}
	b.StopTimer()
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/wave")
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n), "proxies")
}

// BenchmarkRenewalWave: every certificate of the mesh enters its renewal
// window at once and one renewer reconciles them (renew, confirm the new
// serial, export, four new secret versions each), 16 at a time.
func BenchmarkRenewalWave(b *testing.B) {
	n := meshSize()
	m := newMesh(b, n)
	var bindings []renewer.Binding
	for i, arn := range m.certs {
		bindings = append(bindings, renewer.Binding{CertificateARN: arn, SecretPrefixes: []string{fmt.Sprintf("proxy-%d", i)}})
	}
	// The wave is all certificates at once: lift the rate limit above it.
	r, err := renewer.New(renewer.Config{ACM: m.acm, Secrets: m.sm, Bindings: bindings, Concurrency: 16, MaxRenewalsPerMinute: 2 * n,
		Auth: renewer.Auth{HeaderName: "x-api-key", HeaderValue: apiKey}, Clock: m.srv.Clock, PollInitial: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	stop := peakHeap()
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		m.srv.Clock.Advance(16 * 24 * time.Hour)
		start := time.Now()
		res, err := r.Reconcile(context.Background())
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for _, x := range res {
			if x.Action != renewer.ActionRenewed {
				b.Fatalf("%s: %s", x.CertificateARN, x.Action)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/wave")
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n), "certificates")
}
