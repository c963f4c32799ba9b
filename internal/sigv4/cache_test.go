package sigv4

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func signedKMS(t testing.TB, creds aws.Credentials) (*http.Request, []byte) {
	t.Helper()
	body := []byte(kmsBody)
	r, err := http.NewRequest("POST", "https://kms.example.com/", strings.NewReader(kmsBody))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	signHeader(t, r, creds, hashHex(body), "kms", testNow)
	return r, body
}

func TestCacheRejectsRotatedSecret(t *testing.T) {
	t.Parallel()
	k := newKeyring()
	v := newTestVerifier(k)
	oldCreds := testCreds
	newCreds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "rotated-secret-0123456789"}
	steps := []struct {
		name   string
		secret string // what the Lookup returns at this step
		creds  aws.Credentials
		want   Kind
	}{
		{"old secret accepted and cached", testSecret, oldCreds, 0},
		{"old secret accepted from cache", testSecret, oldCreds, 0},
		{"old secret refused after rotation", newCreds.SecretAccessKey, oldCreds, KindBadSignature},
		{"new secret accepted", newCreds.SecretAccessKey, newCreds, 0},
		{"old secret still refused", newCreds.SecretAccessKey, oldCreds, KindBadSignature},
		{"rollback to old secret accepted", testSecret, oldCreds, 0},
		{"new secret refused after rollback", testSecret, newCreds, KindBadSignature},
	}
	for _, s := range steps {
		k.set(testAKID, Credential{SecretAccessKey: s.secret, Active: true})
		r, body := signedKMS(t, s.creds)
		res, err := v.Verify(context.Background(), r, body)
		t.Run(s.name, func(t *testing.T) { checkOutcome(t, res, err, s.want, "") })
	}
	if n := v.cache.len(); n != 1 {
		t.Errorf("cache holds %d entries for one scope, want 1", n)
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		size    int
		maxLen  int
		minLen  int
		keyIDs  int
		rounds  int
		workers int
	}{
		{name: "bounded", size: 4, maxLen: 4, minLen: 1, keyIDs: 20, rounds: 2, workers: 1},
		{name: "concurrent", size: 8, maxLen: 8, minLen: 1, keyIDs: 12, rounds: 20, workers: 8},
		{name: "disabled", size: -1, maxLen: 0, minLen: 0, keyIDs: 5, rounds: 2, workers: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := newKeyring()
			reqs := make([]*http.Request, tc.keyIDs)
			bodies := make([][]byte, tc.keyIDs)
			for i := range reqs {
				id := fmt.Sprintf("AKIDN%03d", i)
				secret := fmt.Sprintf("secret-%d", i)
				k.set(id, Credential{SecretAccessKey: secret, Active: true})
				reqs[i], bodies[i] = signedKMS(t, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret})
			}
			v := newTestVerifier(k)
			v.CacheSize = tc.size
			var wg sync.WaitGroup
			errs := make(chan error, tc.workers*tc.rounds*tc.keyIDs)
			for w := 0; w < tc.workers; w++ {
				wg.Go(func() {
					for range tc.rounds {
						for i, r := range reqs {
							if _, err := v.Verify(context.Background(), r, bodies[i]); err != nil {
								errs <- err
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("Verify: %v", err)
			}
			if n := v.cache.len(); n > tc.maxLen || n < tc.minLen {
				t.Errorf("cache holds %d entries, want %d..%d", n, tc.minLen, tc.maxLen)
			}
		})
	}
}
