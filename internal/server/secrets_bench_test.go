package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// BenchmarkGetSecretValueHandler replays one signed 4 KB GetSecretValue
// straight into the server's handler, so the profile shows the server's
// own costs.
func BenchmarkGetSecretValueHandler(b *testing.B) {
	srv := servertest.Start(b)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	if _, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("bench"), SecretString: aws.String(strings.Repeat("s", 4096))}); err != nil {
		b.Fatal(err)
	}
	body := `{"SecretId":"bench"}`
	tmpl, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
	tmpl.Header.Set("Content-Type", "application/x-amz-json-1.1")
	tmpl.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, tmpl, hex.EncodeToString(sum[:]), "secretsmanager", servertest.Region, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := tmpl.Clone(context.Background())
			req.Body = nopCloser{strings.NewReader(body)}
			req.RemoteAddr = "127.0.0.1:5555"
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
