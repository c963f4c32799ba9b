package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// regionCalls makes one cheap call per protocol with cfg and returns the
// error of each.
func regionCalls(ctx context.Context, cfg aws.Config) map[string]error {
	out := map[string]error{}
	_, out["kms"] = kms.NewFromConfig(cfg).ListKeys(ctx, &kms.ListKeysInput{})
	_, out["secretsmanager"] = secretsmanager.NewFromConfig(cfg).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	_, out["sts"] = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	_, out["iam"] = iam.NewFromConfig(cfg).ListUsers(ctx, &iam.ListUsersInput{})
	return out
}

// TestCredentialScopeRegion: the server answers only for its own region.
// A signature scoped to another region is refused with the error AWS
// gives (InvalidSignatureException in JSON, SignatureDoesNotMatch in
// Query); IAM and STS also take us-east-1, the region of AWS's global
// endpoints.
func TestCredentialScopeRegion(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.Region = "eu-west-1" })
	ctx := context.Background()
	wantRefusal := map[string]string{"kms": "InvalidSignatureException", "secretsmanager": "InvalidSignatureException", "sts": "SignatureDoesNotMatch", "iam": "SignatureDoesNotMatch"}
	tests := []struct {
		region  string
		allowed map[string]bool
	}{
		{"eu-west-1", map[string]bool{"kms": true, "secretsmanager": true, "sts": true, "iam": true}},
		{"us-east-1", map[string]bool{"sts": true, "iam": true}},
		{"x", nil},
		{"us-west-2", nil},
		{"EU-WEST-1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.region, func(t *testing.T) {
			cfg := srv.AWSConfig()
			cfg.Region = tc.region
			for svc, err := range regionCalls(ctx, cfg) {
				switch {
				case tc.allowed[svc] && err != nil:
					t.Errorf("%s with scope %s refused: %v", svc, tc.region, err)
				case !tc.allowed[svc] && err == nil:
					t.Errorf("%s with scope %s accepted", svc, tc.region)
				case !tc.allowed[svc]:
					if got := apiCode(t, err); got != wantRefusal[svc] {
						t.Errorf("%s with scope %s: code %s, want %s (%v)", svc, tc.region, got, wantRefusal[svc], err)
					}
					if !strings.Contains(err.Error(), "Credential should be scoped to a valid region, not '"+tc.region+"'") {
						t.Errorf("%s: message does not name the region: %v", svc, err)
					}
				}
			}
		})
	}
}

// TestPresignedURLRegion: a presigned URL scoped to another region is
// refused like a signed header.
func TestPresignedURLRegion(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	for _, region := range []string{"x", "us-west-2"} {
		cfg := srv.AWSConfigWallClock(servertest.RootAccessKeyID, servertest.RootSecretAccessKey)
		cfg.Region = region
		req, err := sts.NewPresignClient(sts.NewFromConfig(cfg)).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(req.URL, "%2F"+region+"%2Fsts%2F") {
			t.Fatalf("presigned URL not scoped to %s: %s", region, req.URL)
		}
		resp, err := http.Get(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>SignatureDoesNotMatch</Code>") || !strings.Contains(string(body), "scoped to a valid region") {
			t.Errorf("presigned URL for region %s: %d %s", region, resp.StatusCode, body)
		}
	}
}

// TestSecurityTokenRefused: Bulwark issues no temporary credentials, so a
// request carrying X-Amz-Security-Token, whatever its value, is refused as
// AWS refuses a token it did not issue, not run with the token ignored.
func TestSecurityTokenRefused(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	for _, token := range []string{"garbage", "FwoGZXIvYXdzEBYaDKx" + strings.Repeat("A", 300)} {
		cfg := srv.AWSConfig()
		cfg.Credentials = credentials.NewStaticCredentialsProvider(servertest.RootAccessKeyID, servertest.RootSecretAccessKey, token)
		errs := regionCalls(ctx, cfg)
		want := map[string]string{"kms": "UnrecognizedClientException", "secretsmanager": "UnrecognizedClientException", "sts": "InvalidClientTokenId", "iam": "InvalidClientTokenId"}
		for svc, err := range errs {
			if err == nil {
				t.Errorf("%s accepted a request with security token %.10q…", svc, token)
				continue
			}
			if got := apiCode(t, err); got != want[svc] {
				t.Errorf("%s: code %s, want %s (%v)", svc, got, want[svc], err)
			}
			if !strings.Contains(err.Error(), "The security token included in the request is invalid.") {
				t.Errorf("%s: message %v", svc, err)
			}
		}
	}
}
