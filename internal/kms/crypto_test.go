package kms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"hash"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestSymmetricEncryptDecrypt(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	id := createKey(t, c, "", "")
	other := createKey(t, c, "", "")
	encCtx := map[string]string{"tenant": "a", "purpose": "test"}
	plaintext := []byte("attack at dawn")
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: plaintext, EncryptionContext: encCtx})
	if err != nil {
		t.Fatal(err)
	}
	if enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("EncryptionAlgorithm = %s", enc.EncryptionAlgorithm)
	}
	tampered := bytes.Clone(enc.CiphertextBlob)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name   string
		blob   []byte
		keyID  *string
		encCtx map[string]string
		code   string
	}{
		{"no KeyId: the blob names the key", enc.CiphertextBlob, nil, encCtx, ""},
		{"matching KeyId", enc.CiphertextBlob, &id, encCtx, ""},
		{"context order does not matter", enc.CiphertextBlob, nil, map[string]string{"purpose": "test", "tenant": "a"}, ""},
		{"wrong context value", enc.CiphertextBlob, nil, map[string]string{"tenant": "b", "purpose": "test"}, "InvalidCiphertextException"},
		{"missing context", enc.CiphertextBlob, nil, nil, "InvalidCiphertextException"},
		{"extra context pair", enc.CiphertextBlob, nil, map[string]string{"tenant": "a", "purpose": "test", "x": "y"}, "InvalidCiphertextException"},
		{"other KeyId", enc.CiphertextBlob, &other, encCtx, "IncorrectKeyException"},
		{"tampered tag", tampered, nil, encCtx, "InvalidCiphertextException"},
		{"garbage", []byte("not a blob at all, really not"), nil, nil, "InvalidCiphertextException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: tc.blob, KeyId: tc.keyID, EncryptionContext: tc.encCtx})
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.Plaintext, plaintext) || aws.ToString(dec.KeyId) != "arn:aws:kms:us-east-1:"+acct+":key/"+id {
				t.Errorf("Decrypt = %q, %s", dec.Plaintext, aws.ToString(dec.KeyId))
			}
		})
	}
	t.Run("plaintext limits", func(t *testing.T) {
		t.Parallel()
		if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: make([]byte, 4096)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: make([]byte, 4097)})
		wantCode(t, err, "ValidationException")
	})
	t.Run("ReEncrypt", func(t *testing.T) {
		t.Parallel()
		re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: encCtx,
			DestinationKeyId: &other, DestinationEncryptionContext: map[string]string{"new": "ctx"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(aws.ToString(re.SourceKeyId), id) || !strings.HasSuffix(aws.ToString(re.KeyId), other) {
			t.Errorf("ReEncrypt keys = %s -> %s", aws.ToString(re.SourceKeyId), aws.ToString(re.KeyId))
		}
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"new": "ctx"}})
		if err != nil || !bytes.Equal(dec.Plaintext, plaintext) || !strings.HasSuffix(aws.ToString(dec.KeyId), other) {
			t.Fatalf("Decrypt(ReEncrypt) = %v, %v", dec, err)
		}
	})
	t.Run("GenerateDataKey", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			in   kms.GenerateDataKeyInput
			size int
			code string
		}{
			{"AES_256", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32, ""},
			{"AES_128", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16, ""},
			{"NumberOfBytes", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(7)}, 7, ""},
			{"neither", kms.GenerateDataKeyInput{}, 0, "ValidationException"},
			{"both", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)}, 0, "ValidationException"},
		} {
			in := tc.in
			in.KeyId, in.EncryptionContext = &id, encCtx
			out, err := c.GenerateDataKey(ctx, &in)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if len(out.Plaintext) != tc.size {
				t.Errorf("%s: %d bytes", tc.name, len(out.Plaintext))
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: encCtx})
			if err != nil || !bytes.Equal(dec.Plaintext, out.Plaintext) {
				t.Errorf("%s: Decrypt = %v, %v", tc.name, dec, err)
			}
		}
		wp, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &id, KeySpec: types.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		if dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob}); err != nil || len(dec.Plaintext) != 32 {
			t.Errorf("Decrypt(WithoutPlaintext) = %v, %v", dec, err)
		}
	})
	t.Run("GenerateDataKeyPair", func(t *testing.T) {
		t.Parallel()
		for _, spec := range []types.DataKeyPairSpec{"RSA_2048", "ECC_NIST_P256"} {
			out, err := c.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: &id, KeyPairSpec: spec, EncryptionContext: encCtx})
			if err != nil {
				t.Fatal(err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(priv.(crypto.Signer).Public()) {
				t.Errorf("%s: public key does not match private key", spec)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: encCtx})
			if err != nil || !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) {
				t.Errorf("%s: Decrypt(private key blob) = %v", spec, err)
			}
			// The private key must not reach the audit log.
			if strings.Contains(auditLog(t, srv), base64.StdEncoding.EncodeToString(out.PrivateKeyPlaintext)[:40]) {
				t.Errorf("%s: private key plaintext is in the audit log", spec)
			}
		}
		wp, err := c.GenerateDataKeyPairWithoutPlaintext(ctx, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: &id, KeyPairSpec: "ECC_NIST_P384"})
		if err != nil || len(wp.PublicKey) == 0 || len(wp.PrivateKeyCiphertextBlob) == 0 {
			t.Fatalf("GenerateDataKeyPairWithoutPlaintext = %+v, %v", wp, err)
		}
	})
	t.Run("GenerateRandom", func(t *testing.T) {
		t.Parallel()
		out, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(64)})
		if err != nil || len(out.Plaintext) != 64 || bytes.Equal(out.Plaintext, make([]byte, 64)) {
			t.Fatalf("GenerateRandom = %v, %v", out, err)
		}
		_, err = c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
		wantCode(t, err, "ValidationException")
	})
	t.Run("plaintext never in the audit log", func(t *testing.T) {
		t.Parallel()
		secret := []byte("very-secret-plaintext-0123456789")
		if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: secret}); err != nil {
			t.Fatal(err)
		}
		log := auditLog(t, srv)
		if strings.Contains(log, base64.StdEncoding.EncodeToString(secret)) || strings.Contains(log, string(secret)) {
			t.Error("plaintext found in the audit log")
		}
		if len(auditLines(t, srv, `"Encrypt"`, "HIDDEN_DUE_TO_SECURITY_REASONS")) == 0 {
			t.Error("no redacted Encrypt event in the audit log")
		}
	})
}

func oaepHashFor(alg types.EncryptionAlgorithmSpec) hash.Hash {
	if alg == types.EncryptionAlgorithmSpecRsaesOaepSha1 {
		return sha1.New()
	}
	return sha256.New()
}

func TestRSAEncryptDecrypt(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	tests := []struct {
		spec types.KeySpec
		alg  types.EncryptionAlgorithmSpec
		max  int
	}{
		{"RSA_2048", "RSAES_OAEP_SHA_1", 214},
		{"RSA_2048", "RSAES_OAEP_SHA_256", 190},
		{"RSA_3072", "RSAES_OAEP_SHA_1", 342},
		{"RSA_3072", "RSAES_OAEP_SHA_256", 318},
		{"RSA_4096", "RSAES_OAEP_SHA_1", 470},
		{"RSA_4096", "RSAES_OAEP_SHA_256", 446},
	}
	keys := map[types.KeySpec]string{}
	for _, spec := range []types.KeySpec{"RSA_2048", "RSA_3072", "RSA_4096"} {
		keys[spec] = createKey(t, c, spec, "ENCRYPT_DECRYPT")
	}
	for _, tc := range tests {
		t.Run(string(tc.spec)+"/"+string(tc.alg), func(t *testing.T) {
			t.Parallel()
			id := keys[tc.spec]
			pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id})
			if err != nil {
				t.Fatal(err)
			}
			if pk.KeySpec != tc.spec || pk.KeyUsage != types.KeyUsageTypeEncryptDecrypt || len(pk.EncryptionAlgorithms) != 2 || pk.SigningAlgorithms != nil {
				t.Errorf("GetPublicKey = %+v", pk)
			}
			pubAny, err := x509.ParsePKIXPublicKey(pk.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			pub := pubAny.(*rsa.PublicKey)
			msg := bytes.Repeat([]byte{'m'}, tc.max)
			// Made outside the service with the public key.
			local, err := rsa.EncryptOAEP(oaepHashFor(tc.alg), rand.Reader, pub, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: msg, EncryptionAlgorithm: tc.alg})
			if err != nil {
				t.Fatalf("Encrypt at the %d-byte limit: %v", tc.max, err)
			}
			for name, ct := range map[string][]byte{"local": local, "service": enc.CiphertextBlob} {
				dec, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: &id, CiphertextBlob: ct, EncryptionAlgorithm: tc.alg})
				if err != nil || !bytes.Equal(dec.Plaintext, msg) || dec.EncryptionAlgorithm != tc.alg {
					t.Errorf("Decrypt(%s ciphertext) = %v, %v", name, dec, err)
				}
			}
			_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: append(msg, 'x'), EncryptionAlgorithm: tc.alg})
			wantCode(t, err, "ValidationException")
			wrong := types.EncryptionAlgorithmSpecRsaesOaepSha256
			if tc.alg == wrong {
				wrong = types.EncryptionAlgorithmSpecRsaesOaepSha1
			}
			_, err = c.Decrypt(ctx, &kms.DecryptInput{KeyId: &id, CiphertextBlob: local, EncryptionAlgorithm: wrong})
			wantCode(t, err, "InvalidCiphertextException")
		})
	}
	t.Run("errors", func(t *testing.T) {
		id := keys["RSA_2048"]
		ct, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
		if err != nil {
			t.Fatal(err)
		}
		sym := createKey(t, c, "", "")
		for _, tc := range []struct {
			name string
			in   kms.DecryptInput
			code string
		}{
			{"no KeyId", kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}, "ValidationException"},
			{"no KeyId nor algorithm", kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob}, "InvalidCiphertextException"},
			{"no algorithm", kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, KeyId: &id}, "InvalidKeyUsageException"},
			{"RSA algorithm on a symmetric key", kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, KeyId: &sym, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}, "InvalidKeyUsageException"},
		} {
			_, err := c.Decrypt(ctx, &tc.in)
			if err == nil {
				t.Errorf("%s: no error", tc.name)
				continue
			}
			t.Run(tc.name, func(t *testing.T) { wantCode(t, err, tc.code) })
		}
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
		wantCode(t, err, "InvalidKeyUsageException")
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256", EncryptionContext: map[string]string{"a": "b"}})
		wantCode(t, err, "ValidationException")
		_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &id, KeySpec: "AES_256"})
		wantCode(t, err, "InvalidKeyUsageException")
		_, err = c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &sym})
		wantCode(t, err, "UnsupportedOperationException")
	})
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	keys := map[types.KeySpec]string{}
	for _, spec := range []types.KeySpec{"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"} {
		keys[spec] = createKey(t, c, spec, "SIGN_VERIFY")
	}
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	tests := []struct {
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{"RSA_2048", "RSASSA_PSS_SHA_256"}, {"RSA_2048", "RSASSA_PSS_SHA_384"}, {"RSA_2048", "RSASSA_PSS_SHA_512"},
		{"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"}, {"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"}, {"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"},
		{"ECC_NIST_P256", "ECDSA_SHA_256"}, {"ECC_NIST_P384", "ECDSA_SHA_384"}, {"ECC_NIST_P521", "ECDSA_SHA_512"},
	}
	msg := []byte("the message")
	for _, tc := range tests {
		for _, mt := range []types.MessageType{"RAW", "DIGEST"} {
			t.Run(string(tc.alg)+"/"+string(mt), func(t *testing.T) {
				t.Parallel()
				id := keys[tc.spec]
				h := hashes[string(tc.alg)[len(tc.alg)-3:]]
				hh := h.New()
				hh.Write(msg)
				digest := hh.Sum(nil)
				in := msg
				if mt == "DIGEST" {
					in = digest
				}
				sig, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: in, MessageType: mt, SigningAlgorithm: tc.alg})
				if err != nil {
					t.Fatal(err)
				}
				pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id})
				if err != nil {
					t.Fatal(err)
				}
				pub, _ := x509.ParsePKIXPublicKey(pk.PublicKey)
				var ok bool
				switch p := pub.(type) {
				case *rsa.PublicKey:
					if strings.Contains(string(tc.alg), "PSS") {
						ok = rsa.VerifyPSS(p, h, digest, sig.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
					} else {
						ok = rsa.VerifyPKCS1v15(p, h, digest, sig.Signature) == nil
					}
				case *ecdsa.PublicKey:
					ok = ecdsa.VerifyASN1(p, digest, sig.Signature)
				}
				if !ok {
					t.Error("signature does not verify locally")
				}
				v, err := c.Verify(ctx, &kms.VerifyInput{KeyId: &id, Message: in, MessageType: mt, SigningAlgorithm: tc.alg, Signature: sig.Signature})
				if err != nil || !v.SignatureValid {
					t.Errorf("Verify = %v, %v", v, err)
				}
				bad := bytes.Clone(sig.Signature)
				bad[len(bad)/2] ^= 0x40
				_, err = c.Verify(ctx, &kms.VerifyInput{KeyId: &id, Message: in, MessageType: mt, SigningAlgorithm: tc.alg, Signature: bad})
				wantCode(t, err, "KMSInvalidSignatureException")
			})
		}
	}
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		rsaKey, ecKey := keys["RSA_2048"], keys["ECC_NIST_P256"]
		for _, tc := range []struct {
			name string
			in   kms.SignInput
			code string
		}{
			{"wrong digest length", kms.SignInput{KeyId: &rsaKey, Message: []byte("short"), MessageType: "DIGEST", SigningAlgorithm: "RSASSA_PSS_SHA_256"}, "ValidationException"},
			{"algorithm of another key type", kms.SignInput{KeyId: &ecKey, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"}, "InvalidKeyUsageException"},
			{"curve mismatch", kms.SignInput{KeyId: &ecKey, Message: msg, SigningAlgorithm: "ECDSA_SHA_384"}, "InvalidKeyUsageException"},
			{"message too long", kms.SignInput{KeyId: &rsaKey, Message: make([]byte, 4097), SigningAlgorithm: "RSASSA_PSS_SHA_256"}, "ValidationException"},
		} {
			_, err := c.Sign(ctx, &tc.in)
			if err == nil {
				t.Errorf("%s: no error", tc.name)
				continue
			}
			wantCode(t, err, tc.code)
		}
		encKey := createKey(t, c, "RSA_2048", "ENCRYPT_DECRYPT")
		_, err := c.Sign(ctx, &kms.SignInput{KeyId: &encKey, Message: msg, SigningAlgorithm: "RSASSA_PSS_SHA_256"})
		wantCode(t, err, "InvalidKeyUsageException")
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: &rsaKey, Plaintext: msg, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
		wantCode(t, err, "InvalidKeyUsageException")
	})
}

func TestMac(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	tests := []struct {
		spec types.KeySpec
		alg  types.MacAlgorithmSpec
		size int
		newH func() hash.Hash
	}{
		{"HMAC_224", "HMAC_SHA_224", 28, sha256.New224},
		{"HMAC_256", "HMAC_SHA_256", 32, sha256.New},
		{"HMAC_384", "HMAC_SHA_384", 48, sha512.New384},
		{"HMAC_512", "HMAC_SHA_512", 64, sha512.New},
	}
	for _, tc := range tests {
		t.Run(string(tc.spec), func(t *testing.T) {
			t.Parallel()
			id := createKey(t, c, tc.spec, "GENERATE_VERIFY_MAC")
			msg := []byte("mac me")
			m, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &id, Message: msg, MacAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Mac) != tc.newH().Size() {
				t.Errorf("MAC is %d bytes", len(m.Mac))
			}
			m2, _ := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &id, Message: msg, MacAlgorithm: tc.alg})
			if !hmac.Equal(m.Mac, m2.Mac) {
				t.Error("MAC is not deterministic")
			}
			v, err := c.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: &id, Message: msg, MacAlgorithm: tc.alg, Mac: m.Mac})
			if err != nil || !v.MacValid {
				t.Fatalf("VerifyMac = %v, %v", v, err)
			}
			_, err = c.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: &id, Message: []byte("other"), MacAlgorithm: tc.alg, Mac: m.Mac})
			wantCode(t, err, "KMSInvalidMacException")
			_, err = c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &id, Message: msg, MacAlgorithm: "HMAC_SHA_1"})
			wantCode(t, err, "InvalidKeyUsageException")
		})
	}
	sym := createKey(t, c, "", "")
	_, err := c.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: &sym, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
	wantCode(t, err, "InvalidKeyUsageException")
}
