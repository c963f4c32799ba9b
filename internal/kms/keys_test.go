package kms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestCreateKeySpecsAndUsages(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	tests := []struct {
		name      string
		spec      types.KeySpec
		usage     types.KeyUsageType
		wantErr   string
		wantUsage types.KeyUsageType
		wantEnc   []types.EncryptionAlgorithmSpec
		wantSign  []types.SigningAlgorithmSpec
		wantMac   []types.MacAlgorithmSpec
	}{
		{"default is symmetric", "", "", "", types.KeyUsageTypeEncryptDecrypt, []types.EncryptionAlgorithmSpec{"SYMMETRIC_DEFAULT"}, nil, nil},
		{"rsa encrypt", "RSA_2048", "ENCRYPT_DECRYPT", "", "ENCRYPT_DECRYPT", []types.EncryptionAlgorithmSpec{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}, nil, nil},
		{"rsa sign", "RSA_3072", "SIGN_VERIFY", "", "SIGN_VERIFY", nil, []types.SigningAlgorithmSpec{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}, nil},
		{"p256 sign", "ECC_NIST_P256", "SIGN_VERIFY", "", "SIGN_VERIFY", nil, []types.SigningAlgorithmSpec{"ECDSA_SHA_256"}, nil},
		{"p384 sign", "ECC_NIST_P384", "SIGN_VERIFY", "", "SIGN_VERIFY", nil, []types.SigningAlgorithmSpec{"ECDSA_SHA_384"}, nil},
		{"p521 sign", "ECC_NIST_P521", "SIGN_VERIFY", "", "SIGN_VERIFY", nil, []types.SigningAlgorithmSpec{"ECDSA_SHA_512"}, nil},
		{"hmac", "HMAC_256", "GENERATE_VERIFY_MAC", "", "GENERATE_VERIFY_MAC", nil, nil, []types.MacAlgorithmSpec{"HMAC_SHA_256"}},
		{"symmetric cannot sign", "SYMMETRIC_DEFAULT", "SIGN_VERIFY", "ValidationException", "", nil, nil, nil},
		{"ecc cannot encrypt", "ECC_NIST_P256", "ENCRYPT_DECRYPT", "ValidationException", "", nil, nil, nil},
		{"hmac cannot encrypt", "HMAC_256", "ENCRYPT_DECRYPT", "ValidationException", "", nil, nil, nil},
		{"rsa cannot mac", "RSA_2048", "GENERATE_VERIFY_MAC", "ValidationException", "", nil, nil, nil},
		{"unknown spec", "RSA_1024", "", "ValidationException", "", nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage, Description: aws.String(tc.name)})
			if tc.wantErr != "" {
				wantCode(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: out.KeyMetadata.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			m := d.KeyMetadata
			if m.KeyUsage != tc.wantUsage || m.KeyState != types.KeyStateEnabled || !m.Enabled || aws.ToString(m.Description) != tc.name ||
				m.KeyManager != types.KeyManagerTypeCustomer || aws.ToString(m.AWSAccountId) != acct || m.Origin != types.OriginTypeAwsKms {
				t.Errorf("metadata = %+v", m)
			}
			if !strings.HasPrefix(aws.ToString(m.Arn), "arn:aws:kms:us-east-1:"+acct+":key/") || m.CreationDate == nil {
				t.Errorf("Arn %s CreationDate %v", aws.ToString(m.Arn), m.CreationDate)
			}
			if !slices.Equal(m.EncryptionAlgorithms, tc.wantEnc) || !slices.Equal(m.SigningAlgorithms, tc.wantSign) || !slices.Equal(m.MacAlgorithms, tc.wantMac) {
				t.Errorf("algorithms enc=%v sign=%v mac=%v", m.EncryptionAlgorithms, m.SigningAlgorithms, m.MacAlgorithms)
			}
		})
	}
}

func TestListKeysAndDescription(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		ids = append(ids, createKey(t, c, "", ""))
	}
	var got []string
	var marker *string
	for {
		out, err := c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.Keys {
			got = append(got, aws.ToString(k.KeyId))
			if aws.ToString(k.KeyArn) != "arn:aws:kms:us-east-1:"+acct+":key/"+aws.ToString(k.KeyId) {
				t.Errorf("KeyArn = %s", aws.ToString(k.KeyArn))
			}
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("ListKeys = %v, want %v", got, ids)
	}
	if _, err := c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: &ids[0], Description: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ids[0]})
	if aws.ToString(d.KeyMetadata.Description) != "new" {
		t.Errorf("Description = %q", aws.ToString(d.KeyMetadata.Description))
	}
	_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("00000000-0000-4000-8000-000000000000")})
	wantCode(t, err, "NotFoundException")
	_, err = c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1001)})
	wantCode(t, err, "ValidationException")
}

func TestAliases(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	k1 := createKey(t, c, "", "")
	k2 := createKey(t, c, "", "")
	rsaKey := createKey(t, c, "RSA_2048", "ENCRYPT_DECRYPT")
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &k1}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:kms:us-east-1:" + acct + ":key/" + k1
	for _, form := range []string{k1, arn, "alias/app", "arn:aws:kms:us-east-1:" + acct + ":alias/app"} {
		t.Run("KeyId form "+form, func(t *testing.T) {
			d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(form)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(d.KeyMetadata.KeyId) != k1 {
				t.Errorf("resolved to %s", aws.ToString(d.KeyMetadata.KeyId))
			}
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(form), Plaintext: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(enc.KeyId) != arn {
				t.Errorf("Encrypt KeyId = %s", aws.ToString(enc.KeyId))
			}
		})
	}
	errTests := []struct {
		name, alias, target, code string
	}{
		{"duplicate", "alias/app", k2, "AlreadyExistsException"},
		{"reserved prefix", "alias/aws/mine", k2, "InvalidAliasNameException"},
		{"no prefix", "app2", k2, "ValidationException"},
		{"bad character", "alias/a b", k2, "ValidationException"},
		{"unknown key", "alias/x", "00000000-0000-4000-8000-000000000000", "NotFoundException"},
		{"alias as target", "alias/y", "alias/app", "ValidationException"},
		{"other account ARN", "alias/z", "arn:aws:kms:us-east-1:999999999999:key/" + k2, "NotFoundException"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &tc.alias, TargetKeyId: &tc.target})
			wantCode(t, err, tc.code)
		})
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/other"), TargetKeyId: &k2}); err != nil {
		t.Fatal(err)
	}
	// UpdateAlias re-points; a key of another spec is refused.
	if _, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &k2}); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: &rsaKey})
	wantCode(t, err, "ValidationException")
	la, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: &k2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range la.Aliases {
		names = append(names, aws.ToString(a.AliasName))
		if aws.ToString(a.TargetKeyId) != k2 || aws.ToString(a.AliasArn) != "arn:aws:kms:us-east-1:"+acct+":"+aws.ToString(a.AliasName) {
			t.Errorf("alias entry %+v", a)
		}
	}
	if !slices.Equal(names, []string{"alias/app", "alias/other"}) {
		t.Errorf("ListAliases(k2) = %v", names)
	}
	page, err := c.ListAliases(ctx, &kms.ListAliasesInput{Limit: aws.Int32(1)})
	if err != nil || len(page.Aliases) != 1 || !page.Truncated {
		t.Fatalf("ListAliases limit 1 = %+v, %v", page, err)
	}
	rest, err := c.ListAliases(ctx, &kms.ListAliasesInput{Marker: page.NextMarker})
	if err != nil || len(rest.Aliases) != 1 || rest.Truncated {
		t.Fatalf("ListAliases page 2 = %+v, %v", rest, err)
	}
	if _, err := c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/app")})
	wantCode(t, err, "NotFoundException")
	_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	wantCode(t, err, "NotFoundException")
}

func TestKeyPoliciesAndTags(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	id := createKey(t, c, "", "")

	gp, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect    string
			Principal struct{ AWS string }
			Action    string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(gp.Policy)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 || doc.Statement[0].Principal.AWS != "arn:aws:iam::"+acct+":root" || doc.Statement[0].Action != "kms:*" || doc.Statement[0].Effect != "Allow" {
		t.Errorf("default policy = %s", aws.ToString(gp.Policy))
	}
	lp, err := c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: &id})
	if err != nil || !slices.Equal(lp.PolicyNames, []string{"default"}) {
		t.Fatalf("ListKeyPolicies = %+v, %v", lp, err)
	}

	root := "arn:aws:iam::" + acct + ":root"
	keepsAdmin := `{"Version":"2012-10-17","Statement":[{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:*","Resource":"*"},{"Sid":"Extra","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:Decrypt","Resource":"*"}]}`
	locksOut := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:Encrypt","Resource":"*"}]}`
	tests := []struct {
		name   string
		policy string
		bypass bool
		code   string
	}{
		{"valid", keepsAdmin, false, ""},
		{"not JSON", "{", false, "MalformedPolicyDocumentException"},
		{"missing principal", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, false, "MalformedPolicyDocumentException"},
		{"lockout refused", locksOut, false, "MalformedPolicyDocumentException"},
		{"lockout bypassed", locksOut, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := createKey(t, c, "", "")
			_, err := c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &k, Policy: &tc.policy, BypassPolicyLockoutSafetyCheck: tc.bypass})
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &k})
			if err != nil && !tc.bypass {
				t.Fatal(err)
			}
			if !tc.bypass && aws.ToString(got.Policy) != tc.policy {
				t.Errorf("GetKeyPolicy = %s", aws.ToString(got.Policy))
			}
			if tc.bypass {
				// The key is now locked: even root may no longer read or change its policy.
				wantCode(t, err, "AccessDeniedException")
			}
		})
	}
	t.Run("CreateKey lockout check", func(t *testing.T) {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{Policy: &locksOut})
		wantCode(t, err, "MalformedPolicyDocumentException")
		if _, err := c.CreateKey(ctx, &kms.CreateKeyInput{Policy: &locksOut, BypassPolicyLockoutSafetyCheck: true}); err != nil {
			t.Fatal(err)
		}
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Policy: &keepsAdmin})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: out.KeyMetadata.KeyId})
		if aws.ToString(got.Policy) != keepsAdmin {
			t.Errorf("policy = %s", aws.ToString(got.Policy))
		}
	})

	t.Run("tags", func(t *testing.T) {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("dev")}}})
		if err != nil {
			t.Fatal(err)
		}
		k := out.KeyMetadata.KeyId
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: k, Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("a")}, {TagKey: aws.String("env"), TagValue: aws.String("prod")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: k, TagKeys: []string{"team"}}); err != nil {
			t.Fatal(err)
		}
		lt, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k})
		if err != nil {
			t.Fatal(err)
		}
		if len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].TagKey) != "env" || aws.ToString(lt.Tags[0].TagValue) != "prod" {
			t.Errorf("tags = %+v", lt.Tags)
		}
		_, err = c.TagResource(ctx, &kms.TagResourceInput{KeyId: k, Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("v")}}})
		wantCode(t, err, "TagException")
	})
}

func TestKeyMaterialOnlyInSealedSecret(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	ctx := context.Background()
	for _, spec := range []types.KeySpec{"SYMMETRIC_DEFAULT", "RSA_2048", "ECC_NIST_P256", "HMAC_256"} {
		id := createKey(t, c, spec, "")
		rec, err := srv.Store().Get(ctx, "kms/key", id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Secret) < 32 {
			t.Fatalf("%s: no key material in Record.Secret", spec)
		}
		var sec struct {
			Sym   [][]byte
			PKCS8 []byte
		}
		if err := json.Unmarshal(rec.Secret, &sec); err != nil {
			t.Fatal(err)
		}
		material := sec.PKCS8
		if material == nil {
			material = sec.Sym[0]
		}
		if len(material) == 0 || strings.Contains(string(rec.Data), string(material)) ||
			strings.Contains(string(rec.Data), base64.StdEncoding.EncodeToString(material)) ||
			strings.Contains(auditLog(t, srv), base64.StdEncoding.EncodeToString(material)) {
			t.Errorf("%s: key material outside the sealed secret", spec)
		}
	}
}
