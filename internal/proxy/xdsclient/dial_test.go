package xdsclient

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// TestDialOptionsRefuses: no combination sends a signature or keys in the
// clear off loopback, or authenticates nobody by mistake.
func TestDialOptionsRefuses(t *testing.T) {
	creds := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	for _, tc := range []struct {
		name string
		c    DialConfig
		want string
	}{
		{"plaintext off loopback", DialConfig{Target: "10.1.2.3:15010", Plaintext: true, AWS: creds}, "loopback"},
		{"plaintext to a name", DialConfig{Target: "bulwark.internal:15010", Plaintext: true, AWS: creds}, "loopback"},
		{"mtls over plaintext", DialConfig{Target: "127.0.0.1:15010", Plaintext: true, Auth: AuthMTLS}, "needs TLS"},
		{"mtls without a certificate", DialConfig{Target: "127.0.0.1:15010", Auth: AuthMTLS}, "--xds-client-cert"},
		{"sigv4 without credentials", DialConfig{Target: "127.0.0.1:15010"}, "credentials"},
		{"unknown auth", DialConfig{Target: "127.0.0.1:15010", Auth: "token"}, "want sigv4"},
		{"no port", DialConfig{Target: "bulwark.internal", AWS: creds}, "HOST:PORT"},
		{"missing CA file", DialConfig{Target: "127.0.0.1:15010", CAFile: "/nonexistent/ca.pem", AWS: creds}, "--xds-ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DialOptions(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DialOptions = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if _, err := DialOptions(DialConfig{Target: "127.0.0.1:15010", Plaintext: true, AWS: creds}); err != nil {
		t.Errorf("sigv4 over loopback plaintext: %v", err)
	}
}
