package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/sigv4"
)

func ExampleVerifier_Verify() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	keys := map[string]string{"AKIDEXAMPLE": "example-secret"}
	clk := clock.NewFake(now)
	v := &sigv4.Verifier{
		Lookup: func(_ context.Context, id string) (sigv4.Credential, error) {
			secret, ok := keys[id]
			if !ok {
				return sigv4.Credential{}, fmt.Errorf("key %s: %w", id, sigv4.ErrUnknownKey)
			}
			return sigv4.Credential{SecretAccessKey: secret, Active: true}, nil
		},
		Clock:  clk,
		Region: "eu-west-1", // the one region this server answers for
	}

	// A client signs a KMS call exactly as the AWS SDK does.
	body := []byte(`{"KeyId":"alias/app"}`)
	r, _ := http.NewRequest("POST", "https://bulwark.example.com/", strings.NewReader(string(body)))
	r.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "example-secret"}
	_ = v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kms", "eu-west-1", now)

	// The server routes on the scope, then verifies.
	scope, _ := sigv4.ParseScope(r)
	fmt.Println("service:", scope.Service)
	res, err := v.Verify(context.Background(), r, body)
	fmt.Println("verified:", err == nil, res.Scope.AccessKeyID, res.Scope.Region)

	// The same request replayed an hour later is refused.
	clk.Add(time.Hour)
	_, err = v.Verify(context.Background(), r, body)
	var e *sigv4.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, "-", e.Msg)
	}
	// Output:
	// service: kms
	// verified: true AKIDEXAMPLE eu-west-1
	// expired - Signature expired: 20260101T120000Z is now earlier than 20260101T124500Z (20260101T130000Z - 15 min.)
}
