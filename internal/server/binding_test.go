package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestPresignedURLCannotBeReplayedForAnotherOperation: a presigned STS
// GetCallerIdentity URL signs only the host, so the server must not let it
// run a KMS operation chosen by an unsigned X-Amz-Target.
func TestPresignedURLCannotBeReplayedForAnotherOperation(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	// The wall-clock configuration: the server-clock re-signing middleware
	// is for sent requests, not presigned URLs.
	cfg := srv.AWSConfigWallClock(servertest.RootAccessKeyID, servertest.RootSecretAccessKey)
	p, err := sts.NewPresignClient(sts.NewFromConfig(cfg)).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, target string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(p.Method, p.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range p.SignedHeader {
			req.Header[k] = vs
		}
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := send(t, ""); code != http.StatusOK || !strings.Contains(body, "GetCallerIdentityResult") {
		t.Fatalf("the presigned URL itself no longer works: %d %s", code, body)
	}
	code, body := send(t, "TrentService.CreateKey")
	if code != http.StatusForbidden || !strings.Contains(body, `"__type":"InvalidSignatureException"`) ||
		!strings.Contains(body, "names service sts but the request is for kms") {
		t.Errorf("replayed presigned URL: %d %s", code, body)
	}
	keys, err := kms.NewFromConfig(srv.AWSConfig()).ListKeys(ctx, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 0 {
		t.Errorf("the replay created %d keys", len(keys.Keys))
	}
}

// TestSignatureMustCoverTheRoute: the signature must name the routed
// service, and for JSON 1.1 cover X-Amz-Target and use POST; the RPC v2
// path is signed, but its scope must still name the service.
func TestSignatureMustCoverTheRoute(t *testing.T) {
	srv := servertest.Start(t)
	creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
	empty := sha256.Sum256(nil)
	tests := []struct {
		name    string
		method  string
		path    string
		service string
		// target is set before signing, lateTarget after it (unsigned).
		target, lateTarget string
		cbor               bool
		wantStatus         int
		wantType, wantMsg  string
	}{
		{"JSON signed for another service", http.MethodPost, "/", "secretsmanager", "TrentService.ListKeys", "", false,
			403, "InvalidSignatureException", "names service secretsmanager but the request is for kms"},
		{"JSON target not signed", http.MethodPost, "/", "kms", "", "TrentService.ListKeys", false,
			400, "IncompleteSignatureException", "X-Amz-Target header names the operation, so it must be among the SignedHeaders"},
		{"JSON over GET", http.MethodGet, "/", "kms", "TrentService.ListKeys", "", false,
			400, "IncompleteSignatureException", "must be POST, not GET"},
		{"RPC v2 signed for another service", http.MethodPost, "/service/TrentService/operation/ListKeys", "sts", "", "", true,
			403, "InvalidSignatureException", "names service sts but the request is for kms"},
		{"JSON signed for its service", http.MethodPost, "/", "kms", "TrentService.ListKeys", "", false,
			200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, bytes.NewReader(nil))
			if err != nil {
				t.Fatal(err)
			}
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			}
			if tc.cbor {
				req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
				req.Header.Set("Content-Type", "application/cbor")
			}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), tc.service, servertest.Region, time.Now()); err != nil {
				t.Fatal(err)
			}
			if tc.lateTarget != "" {
				req.Header.Set("X-Amz-Target", tc.lateTarget)
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantType == "" {
				return
			}
			got := string(b)
			if tc.cbor {
				got = resp.Header.Get("Smithy-Protocol") + " " + got
			}
			if !strings.Contains(got, tc.wantType) || !strings.Contains(got, tc.wantMsg) {
				t.Errorf("got %s, want %s %q", got, tc.wantType, tc.wantMsg)
			}
		})
	}
}
