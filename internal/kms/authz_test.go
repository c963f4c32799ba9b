package kms_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	kmssvc "github.com/bulwarkd/bulwark/internal/kms"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// keyWithPolicy creates a key of spec/usage whose policy keeps the root
// as administrator and adds userStatements.
func keyWithPolicy(t *testing.T, c *kms.Client, spec, usage string, userStatements ...string) string {
	t.Helper()
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"}`
	for _, s := range userStatements {
		doc += "," + s
	}
	doc += "]}"
	in := &kms.CreateKeyInput{Policy: &doc}
	in.KeySpec, in.KeyUsage = "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"
	if spec != "" {
		in.KeySpec = kmsKeySpec(spec)
		in.KeyUsage = kmsKeyUsage(usage)
	}
	out, err := c.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

func TestKeyPolicyAuthorization(t *testing.T) {
	t.Parallel()
	srv, root := start(t)
	ctx := context.Background()
	// alice has no identity policy at all: only key policies grant her anything.
	alice, aliceARN := newUser(t, srv, "alice", "")
	// bob's identity policy allows everything, but the key policy's
	// delegation to the account is what lets that count.
	bob, _ := newUser(t, srv, "bob", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)

	encOnly := keyWithPolicy(t, root, "", "", `{"Sid":"AliceEncrypt","Effect":"Allow","Principal":{"AWS":"`+aliceARN+`"},"Action":"kms:Encrypt","Resource":"*"}`)
	ct, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &encOnly, Plaintext: []byte("p")})
	if err != nil {
		t.Fatalf("alice Encrypt: %v", err)
	}
	_, err = alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "AccessDeniedException")
	if !strings.Contains(err.Error(), "kms:Decrypt") || !strings.Contains(err.Error(), aliceARN) {
		t.Errorf("refusal does not name action and principal: %v", err)
	}
	lines := auditLines(t, srv, `"Decrypt"`, aliceARN, "AccessDenied")
	if len(lines) != 1 {
		t.Fatalf("audit log has %d refused Decrypt events for alice, want 1", len(lines))
	}
	if !strings.Contains(lines[0], encOnly) {
		t.Errorf("audit event does not name the key: %s", lines[0])
	}
	// Root is allowed through the key policy.
	if _, err := root.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob}); err != nil {
		t.Errorf("root Decrypt: %v", err)
	}
	// bob: the default key policy delegates to IAM, whose policy allows.
	def := createKey(t, root, "", "")
	if _, err := bob.Encrypt(ctx, &kms.EncryptInput{KeyId: &def, Plaintext: []byte("p")}); err != nil {
		t.Errorf("bob Encrypt via delegation: %v", err)
	}
	// alice on the same key: delegation, but no identity policy.
	_, err = alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &def, Plaintext: []byte("p")})
	wantCode(t, err, "AccessDeniedException")
	// bob on a key whose policy names only root and alice: delegation via
	// the account root is there, so his identity policy counts.
	if _, err := bob.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob}); err != nil {
		t.Errorf("bob Decrypt: %v", err)
	}
	// A key whose policy does not delegate to the account refuses bob.
	noDelegation := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"kms:*","Resource":"*"}]}`
	k, err := root.CreateKey(ctx, &kms.CreateKeyInput{Policy: &noDelegation, BypassPolicyLockoutSafetyCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
	wantCode(t, err, "AccessDeniedException")
	if _, err := alice.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Errorf("alice DescribeKey: %v", err)
	}
	// alice may not create keys: no identity policy.
	_, err = alice.CreateKey(ctx, &kms.CreateKeyInput{})
	wantCode(t, err, "AccessDeniedException")
}

func TestConditionKeys(t *testing.T) {
	t.Parallel()
	srv, root := start(t)
	ctx := context.Background()
	alice, aliceARN := newUser(t, srv, "alice", "")
	principal := `"Principal":{"AWS":"` + aliceARN + `"}`

	rsaKey := keyWithPolicy(t, root, "RSA_2048", "ENCRYPT_DECRYPT",
		`{"Sid":"OnlySHA256","Effect":"Allow",`+principal+`,"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}}`)
	symKey := keyWithPolicy(t, root, "", "",
		`{"Sid":"Tenant","Effect":"Allow",`+principal+`,"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"a"}}}`,
		`{"Sid":"Account","Effect":"Allow",`+principal+`,"Action":"kms:GenerateDataKey","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"`+acct+`"}}}`)

	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"SHA-256 allowed", func() error {
			_, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &rsaKey, Plaintext: []byte("p"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
			return err
		}, ""},
		{"SHA-1 refused", func() error {
			_, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &rsaKey, Plaintext: []byte("p"), EncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
			return err
		}, "AccessDeniedException"},
		{"SHA-1 decrypt refused", func() error {
			ct, err := root.Encrypt(ctx, &kms.EncryptInput{KeyId: &rsaKey, Plaintext: []byte("p"), EncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
			if err != nil {
				return err
			}
			_, err = alice.Decrypt(ctx, &kms.DecryptInput{KeyId: &rsaKey, CiphertextBlob: ct.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_1"})
			return err
		}, "AccessDeniedException"},
		{"matching encryption context", func() error {
			ct, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &symKey, Plaintext: []byte("p"), EncryptionContext: map[string]string{"tenant": "a"}})
			if err != nil {
				return err
			}
			_, err = alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "a"}})
			return err
		}, ""},
		{"other encryption context", func() error {
			_, err := alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &symKey, Plaintext: []byte("p"), EncryptionContext: map[string]string{"tenant": "b"}})
			return err
		}, "AccessDeniedException"},
		{"caller account", func() error {
			_, err := alice.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &symKey, KeySpec: "AES_256"})
			return err
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestCrossServiceDataKeys(t *testing.T) {
	t.Parallel()
	srv, root := start(t)
	ctx := context.Background()
	_, aliceARN := newUser(t, srv, "alice", "")
	svc := kmssvc.New(kmssvc.Config{Store: srv.Store(), AccountID: acct, Region: servertest.Region, Clock: srv.Clock})
	call := func(arn, user string) *api.Call {
		c := api.NewCall(srv.Server)
		c.Principal = api.Principal{Type: api.IAMUser, ARN: arn, AccountID: acct, UserName: user}
		c.AccountID, c.Region, c.Time = acct, servertest.Region, srv.Clock.Now()
		return c
	}
	const via = "secretsmanager.us-east-1.amazonaws.com"
	encCtx := map[string]string{"SecretARN": "arn:aws:secretsmanager:us-east-1:" + acct + ":secret:s"}
	alice := call(aliceARN, "alice")

	keyARN, pt, blob, err := svc.GenerateDataKeyFor(ctx, alice, "", encCtx, via)
	if err != nil {
		t.Fatalf("GenerateDataKeyFor managed key: %v", err)
	}
	if len(pt) != 32 {
		t.Errorf("data key is %d bytes", len(pt))
	}
	d, err := root.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/secretsmanager")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.KeyMetadata.Arn) != keyARN || d.KeyMetadata.KeyManager != "AWS" {
		t.Errorf("managed key = %+v, want %s", d.KeyMetadata, keyARN)
	}
	// Second use reuses the same key.
	again, _, _, err := svc.GenerateDataKeyFor(ctx, alice, "", nil, via)
	if err != nil || again != keyARN {
		t.Errorf("second GenerateDataKeyFor = %s, %v", again, err)
	}
	gotARN, got, err := svc.DecryptFor(ctx, alice, blob, encCtx, via)
	if err != nil || gotARN != keyARN || string(got) != string(pt) {
		t.Fatalf("DecryptFor = %s, %v", gotARN, err)
	}
	// The managed key's policy only allows use through the service.
	_, _, err = svc.DecryptFor(ctx, alice, blob, encCtx, "")
	var denied *awsproto.AccessDenied
	if !errors.As(err, &denied) {
		t.Errorf("DecryptFor without ViaService = %v, want *awsproto.AccessDenied", err)
	}
	_, err = root.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx})
	wantCode(t, err, "AccessDeniedException")
	// Errors are wire errors the caller passes through.
	_, _, err = svc.DecryptFor(ctx, alice, blob, map[string]string{"SecretARN": "other"}, via)
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "InvalidCiphertextException" {
		t.Errorf("DecryptFor wrong context = %v", err)
	}
	_, _, _, err = svc.GenerateDataKeyFor(ctx, alice, "alias/missing", nil, via)
	if !errors.As(err, &ae) || ae.Code != "NotFoundException" {
		t.Errorf("GenerateDataKeyFor missing key = %v", err)
	}
	// A customer key whose policy requires the service.
	cmk := keyWithPolicy(t, root, "", "", `{"Sid":"ViaSM","Effect":"Allow","Principal":{"AWS":"`+aliceARN+`"},"Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"`+via+`"}}}`)
	if _, _, _, err := svc.GenerateDataKeyFor(ctx, alice, cmk, nil, via); err != nil {
		t.Errorf("GenerateDataKeyFor customer key via service: %v", err)
	}
	if _, _, _, err := svc.GenerateDataKeyFor(ctx, alice, cmk, nil, "ec2.us-east-1.amazonaws.com"); !errors.As(err, &denied) {
		t.Errorf("GenerateDataKeyFor via another service = %v, want AccessDenied", err)
	}
}
