package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

const gciBody = "Action=GetCallerIdentity&Version=2011-06-15"

// signedGCI signs one sts:GetCallerIdentity request; the benchmark replays
// it, which SigV4 allows within the skew window, so the client's signing
// cost stays out of the server's numbers.
func signedGCI(b *testing.B, url string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(gciBody))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(gciBody))
	creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", servertest.Region, time.Now()); err != nil {
		b.Fatal(err)
	}
	return req
}

// BenchmarkRequestPath measures a cheap operation through the whole server
// pipeline (routing, SigV4, handler, audit with group-committed fsync,
// metrics). "handler" calls ServeHTTP directly; "http" adds loopback HTTP
// and the SDK client's own signing. The stage metrics report how each
// request's time splits.
func BenchmarkRequestPath(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		srv := servertest.Start(b)
		tmpl := signedGCI(b, srv.URL)
		b.ReportAllocs()
		// Many clients at once, as a server sees them: the audit log's
		// group commit shares one fsync among all requests in flight.
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := tmpl.Clone(context.Background())
				req.Body = http.NoBody
				req.Body = nopCloser{strings.NewReader(gciBody)}
				req.RemoteAddr = "127.0.0.1:5555"
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
		b.StopTimer()
		reportStages(b, srv)
	})
	b.Run("http", func(b *testing.B) {
		srv := servertest.Start(b)
		cfg := srv.AWSConfig()
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		client := sts.NewFromConfig(cfg)
		b.ReportAllocs()
		// Many clients at once, as a server sees them: the audit log's
		// group commit shares one fsync among all requests in flight.
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.StopTimer()
		reportStages(b, srv)
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// reportStages reads the stage histograms from /metrics and reports the
// mean time per request spent in each stage.
func reportStages(b *testing.B, srv *servertest.Server) {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sums := map[string]float64{}
	counts := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(rec.Body.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		for _, stage := range []string{"sigv4", "policy", "audit"} {
			for suffix, m := range map[string]map[string]float64{"_sum": sums, "_count": counts} {
				prefix := `bulwark_api_stage_duration_seconds` + suffix + `{stage="` + stage + `"} `
				if strings.HasPrefix(line, prefix) {
					v, _ := strconv.ParseFloat(strings.TrimPrefix(line, prefix), 64)
					m[stage] = v
				}
			}
		}
	}
	for stage, sum := range sums {
		if counts[stage] > 0 {
			b.ReportMetric(sum/counts[stage]*1e9, stage+"-ns/req")
		}
	}
}
