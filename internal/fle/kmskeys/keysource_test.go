package kmskeys_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/fle/kmskeys"
	"github.com/bulwarkd/bulwark/internal/fle/token"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// fakeKMS answers GetPublicKey with an RSA key, or with err.
type fakeKMS struct {
	mu    sync.Mutex
	der   []byte
	err   error
	calls int
}

func (f *fakeKMS) GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &kms.GetPublicKeyOutput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt, PublicKey: f.der,
		EncryptionAlgorithms: []types.EncryptionAlgorithmSpec{"RSAES_OAEP_SHA_256"}}, nil
}

func (f *fakeKMS) Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	return nil, errors.New("not used")
}

func (f *fakeKMS) set(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

type apiErr struct{ code string }

func (e apiErr) Error() string                 { return e.code }
func (e apiErr) ErrorCode() string             { return e.code }
func (e apiErr) ErrorMessage() string          { return e.code }
func (e apiErr) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

// TestKeySource: cached keys serve while refreshes fail for transport
// reasons (until MaxStale), a KMS refusal drops the key at once, and
// unconfigured markers are unknown.
func TestKeySource(t *testing.T) {
	t.Parallel()
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	f := &fakeKMS{der: der}
	fc := clock.NewFake(time.Unix(1e9, 0))
	advance := fc.Add
	c := kmskeys.New(aws.Config{Region: "us-east-1"}, kmskeys.Options{KMS: f})
	ks := c.KeySource(kmskeys.KeySourceOptions{Keys: kmskeys.KeyMap{"01": "alias/pii"}, Refresh: time.Minute, MaxStale: time.Hour, Clock: fc})
	ctx := context.Background()

	if err := ks.Load(ctx); err != nil {
		t.Fatal(err)
	}
	enc, err := ks.Encrypter(ctx, "01")
	if err != nil || enc.Format() != token.FormatRSA || enc.MaxPlaintext() != 190 {
		t.Fatalf("Encrypter = %v, %v", enc, err)
	}
	if _, err := ks.Encrypter(ctx, "02"); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("unconfigured marker: %v", err)
	}

	// Transport failure: the cached key keeps serving until MaxStale.
	f.set(errors.New("dial tcp: connection refused"))
	advance(30 * time.Minute)
	if _, err := ks.Encrypter(ctx, "01"); err != nil {
		t.Errorf("stale key within MaxStale refused: %v", err)
	}
	advance(31 * time.Minute)
	if _, err := ks.Encrypter(ctx, "01"); err == nil {
		t.Error("key past MaxStale still served with the KMS unreachable")
	}

	// Recovery, then a KMS refusal (disabled key) drops the key.
	f.set(nil)
	if _, err := ks.Encrypter(ctx, "01"); err != nil {
		t.Fatal(err)
	}
	f.set(apiErr{"DisabledException"})
	advance(2 * time.Minute)
	_, _ = ks.Encrypter(ctx, "01") // triggers the background refresh
	testwait.For(t, 5*time.Second, "a key the KMS refuses to stop being served", func() bool {
		_, err := ks.Encrypter(ctx, "01")
		return err != nil
	})
}

func TestParseKeyMap(t *testing.T) {
	t.Parallel()
	m, err := kmskeys.ParseKeyMap([]string{"01=alias/pii", "02=arn:aws:kms:us-east-1:1:key/x"})
	if err != nil || m.KeyID("01") != "alias/pii" || m.KeyID("07") != "alias/fle-07" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"01", "01=", "0 1=x", "=x"} {
		if _, err := kmskeys.ParseKeyMap([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := kmskeys.ParseKeyMap([]string{"01=a", "01=b"}); err == nil {
		t.Error("duplicate accepted")
	}
}
