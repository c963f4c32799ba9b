package certsync_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkd/bulwark/internal/certsync"
)

// TestLoadAWSConfigRefusesAWSFallback: a client with no endpoint
// configured refuses to run unless AWS is asked for, whatever else the
// environment holds (credentials, region, a profile).
func TestLoadAWSConfigRefusesAWSFallback(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		opts      certsync.AWSOptions
		want      string // endpoint in use; "" = ErrNoEndpoint
	}{
		{"nothing configured", "", certsync.AWSOptions{}, ""},
		{"region but no endpoint", "", certsync.AWSOptions{Region: "eu-west-1"}, ""},
		{"flag", "", certsync.AWSOptions{Endpoint: "https://bulwark.internal:4641"}, "https://bulwark.internal:4641"},
		{"environment", "http://127.0.0.1:4566", certsync.AWSOptions{}, "http://127.0.0.1:4566"},
		{"flag wins over environment", "http://127.0.0.1:4566", certsync.AWSOptions{Endpoint: "https://b:1"}, "https://b:1"},
		{"--aws", "", certsync.AWSOptions{AllowAWS: true}, "AWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL", tc.env)
			t.Setenv("AWS_CONFIG_FILE", "/dev/null")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
			_, got, err := certsync.LoadAWSConfig(context.Background(), tc.opts)
			if tc.want == "" {
				if !errors.Is(err, certsync.ErrNoEndpoint) {
					t.Fatalf("err = %v (endpoint %q), want ErrNoEndpoint", err, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("endpoint %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
