package server_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestSecureTransportConditionKey: aws:SecureTransport is filled from the
// connection, so the usual "deny unless TLS" statement refuses plain HTTP
// and lets TLS through.
func TestSecureTransportConditionKey(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	if _, err := srv.IAM().CreateUser(ctx, "alice", "/", nil); err != nil {
		t.Fatal(err)
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"},
		{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	if err := srv.IAM().PutUserPolicy(ctx, "alice", "tls-only", doc); err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewTLSServer(srv.Server)
	t.Cleanup(tlsSrv.Close)
	plainCfg := srv.AWSConfigFor(key.AccessKeyID, secret)
	tlsCfg := srv.AWSConfigFor(key.AccessKeyID, secret)
	tlsCfg.BaseEndpoint = aws.String(tlsSrv.URL)
	tlsCfg.HTTPClient = tlsSrv.Client()
	tests := []struct {
		name       string
		cfg        aws.Config
		wantDenied bool
	}{
		{"plain HTTP is denied", plainCfg, true},
		{"TLS is allowed", tlsCfg, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kms.NewFromConfig(tc.cfg).ListKeys(ctx, &kms.ListKeysInput{})
			switch {
			case tc.wantDenied && (err == nil || apiCode(t, err) != "AccessDeniedException"):
				t.Errorf("want AccessDeniedException, got %v", err)
			case !tc.wantDenied && err != nil:
				t.Errorf("want success, got %v", err)
			}
		})
	}
}
