// Command signreq prints a wrk Lua script that replays one SigV4-signed
// Bulwark API request. SigV4 lets a signed request be replayed within its
// 15-minute window, so the load generator spends nothing on signing and
// the numbers are the server's alone. Only replay-safe (read or
// idempotent) operations make sense here.
//
//	signreq -service sts                                  # sts:GetCallerIdentity (Query)
//	signreq -service secretsmanager -target secretsmanager.GetSecretValue -body '{"SecretId":"bench"}'
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:4566", "server URL")
	id := flag.String("access-key-id", os.Getenv("AWS_ACCESS_KEY_ID"), "access key id")
	secret := flag.String("secret-access-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret access key")
	service := flag.String("service", "sts", "signing name (sts, kms, secretsmanager, ...)")
	target := flag.String("target", "", "X-Amz-Target for a JSON 1.1 call (empty: sts GetCallerIdentity in the Query protocol)")
	body := flag.String("body", "", "JSON body for a JSON 1.1 call")
	flag.Parse()
	payload, ctype := "Action=GetCallerIdentity&Version=2011-06-15", "application/x-www-form-urlencoded; charset=utf-8"
	if *target != "" {
		payload, ctype = *body, "application/x-amz-json-1.1"
	}
	req, err := http.NewRequest(http.MethodPost, *endpoint+"/", strings.NewReader(payload))
	if err != nil {
		fail(err)
	}
	req.Header.Set("Content-Type", ctype)
	if *target != "" {
		req.Header.Set("X-Amz-Target", *target)
	}
	sum := sha256.Sum256([]byte(payload))
	creds := aws.Credentials{AccessKeyID: *id, SecretAccessKey: *secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), *service, "us-east-1", time.Now()); err != nil {
		fail(err)
	}
	fmt.Printf("wrk.method = %q\nwrk.body = %q\n", req.Method, payload)
	for _, h := range []string{"Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date"} {
		if v := req.Header.Get(h); v != "" {
			fmt.Printf("wrk.headers[%q] = %q\n", h, v)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "signreq:", err)
	os.Exit(1)
}
