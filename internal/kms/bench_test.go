package kms_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// benchClient is a plain SDK client (the wall-clock signer, no test
// middleware) with enough pooled connections for parallel benchmarks.
func benchClient(b *testing.B, opts ...servertest.Option) (*servertest.Server, *kms.Client) {
	b.Helper()
	srv := servertest.Start(b, opts...)
	cfg := srv.AWSConfig()
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}}
	return srv, kms.NewFromConfig(cfg)
}

// auditModes are the two audit settings benchmarks run under: the default
// (fsync after every audit batch, so an acknowledged call is on disk) and
// AuditNoSync, which shows what the rest of the path costs.
var auditModes = []struct {
	name string
	opt  servertest.Option
}{
	{"audit-fsync", func(*server.Config) {}},
	{"audit-nosync", func(c *server.Config) { c.AuditNoSync = true }},
}

// BenchmarkRSA2048Decrypt compares one RSA_2048 OAEP-SHA-256 Decrypt
// through the whole API path (SDK client, HTTP, SigV4, policy, audit) with
// the bare crypto/rsa private-key operation it wraps, in the same run.
func BenchmarkRSA2048Decrypt(b *testing.B) {
	for _, mode := range auditModes {
		srv, c := benchClient(b, mode.opt)
		ctx := context.Background()
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: "ENCRYPT_DECRYPT"})
		if err != nil {
			b.Fatal(err)
		}
		id := out.KeyMetadata.KeyId
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: make([]byte, 32), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
		if err != nil {
			b.Fatal(err)
		}
		in := &kms.DecryptInput{KeyId: id, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}
		b.Run("api/"+mode.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Decrypt(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Server: the signed request replayed straight into the server's
		// handler — SigV4, routing, key load, policy, RSA, audit — so the
		// client's own signing and HTTP costs are not counted. This is
		// the number to hold against "raw".
		body := []byte(`{"KeyId":"` + *id + `","EncryptionAlgorithm":"RSAES_OAEP_SHA_256","CiphertextBlob":"` + base64.StdEncoding.EncodeToString(enc.CiphertextBlob) + `"}`)
		req := srv.SignedJSONRequest(b, "kms", "TrentService.Decrypt", body)
		b.Run("server/"+mode.name, func(b *testing.B) {
			for b.Loop() {
				if rec := srv.Replay(req, body); rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
		// Parallel: per-call cost when the cores are kept busy, which
		// hides the round-trip latency the sequential loop pays.
		b.Run("api-parallel/"+mode.name, func(b *testing.B) {
			b.SetParallelism(2)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Decrypt(ctx, in); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := rsa.DecryptOAEP(sha256.New(), nil, priv, ct, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkSymmetric measures symmetric calls per second through the whole
// API path with concurrent clients.
func BenchmarkSymmetric(b *testing.B) {
	for _, mode := range auditModes {
		b.Run(mode.name, func(b *testing.B) { benchSymmetric(b, mode.opt) })
	}
}

func benchSymmetric(b *testing.B, opt servertest.Option) {
	_, c := benchClient(b, opt)
	ctx := context.Background()
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	encCtx := map[string]string{"purpose": "bench"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: make([]byte, 64), EncryptionContext: encCtx})
	if err != nil {
		b.Fatal(err)
	}
	ops := []struct {
		name string
		call func() error
	}{
		{"Encrypt", func() error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: make([]byte, 64), EncryptionContext: encCtx})
			return err
		}},
		{"Decrypt", func() error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
			return err
		}},
		{"GenerateDataKey", func() error {
			_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: id, KeySpec: "AES_256", EncryptionContext: encCtx})
			return err
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op.call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
