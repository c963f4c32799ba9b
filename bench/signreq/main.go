// Command signreq prints a wrk Lua script that replays one SigV4-signed
// sts:GetCallerIdentity request. SigV4 lets a signed request be replayed
// within its 15-minute window, so the load generator spends nothing on
// signing and the numbers are the server's alone.
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
	flag.Parse()
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	req, err := http.NewRequest(http.MethodPost, *endpoint+"/", strings.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: *id, SecretAccessKey: *secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("wrk.method = %q\nwrk.body = %q\n", req.Method, body)
	for _, h := range []string{"Content-Type", "Authorization", "X-Amz-Date"} {
		fmt.Printf("wrk.headers[%q] = %q\n", h, req.Header.Get(h))
	}
}
