package secrets_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// TestE2ERotationEndpointIsNoReadBackChannel: a caller allowed to rotate
// must not be able to use the endpoint to read internal URLs through the
// server: no answer body in the error, no redirects followed, no
// link-local (cloud metadata) targets.
func TestE2ERotationEndpointIsNoReadBackChannel(t *testing.T) {
	_, sm := start(t)
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: strp("ssrf"), SecretString: strp("v")}); err != nil {
		t.Fatal(err)
	}
	var redirectedTo atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectedTo.Add(1)
		_, _ = w.Write([]byte("internal-only-document"))
	}))
	t.Cleanup(internal.Close)
	chatty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal-only-document", http.StatusForbidden)
	}))
	t.Cleanup(chatty.Close)
	redirector := httptest.NewServer(http.RedirectHandler(internal.URL+"/admin", http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)

	tests := []struct {
		name      string
		endpoint  string
		immediate bool
		wantCode  string
		wantMsg   string
	}{
		{"link-local IPv4 metadata address", "http://169.254.169.254/latest/meta-data/", false, "InvalidParameterException", "link-local"},
		{"link-local IPv6 address", "http://[fe80::1]:8080/", false, "InvalidParameterException", "link-local"},
		{"error answer is not echoed", chatty.URL, true, "InvalidRequestException", "endpoint answered HTTP 403"},
		{"redirect is not followed", redirector.URL, true, "InvalidRequestException", "redirects are not followed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: strp("ssrf"), RotationLambdaARN: aws.String(tc.endpoint), RotateImmediately: aws.Bool(tc.immediate)})
			if errCode(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %s %q", err, tc.wantCode, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "internal-only-document") {
				t.Errorf("the endpoint's answer reached the caller: %v", err)
			}
		})
	}
	if n := redirectedTo.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}
