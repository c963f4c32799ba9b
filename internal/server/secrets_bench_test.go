package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	body := []byte(`{"SecretId":"bench"}`)
	req := srv.SignedJSONRequest(b, "secretsmanager", "secretsmanager.GetSecretValue", body)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := srv.Replay(req, body); rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
