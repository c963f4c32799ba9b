package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// taggedService creates a resource with tag env=<env> as cfg's principal
// and describes one, in one AWS service.
type taggedService struct {
	name     string
	create   func(ctx context.Context, cfg aws.Config, env string) (string, error)
	describe func(ctx context.Context, cfg aws.Config, arn string) error
	// tag adds the tag key "owner" to the resource (aws:TagKeys).
	tag func(ctx context.Context, cfg aws.Config, arn string) error
}

func selfSignedPEM(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "tagged.example.com"},
		DNSNames: []string{"tagged.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func taggedServices(t *testing.T) []taggedService {
	certPEM, keyPEM := selfSignedPEM(t)
	n := 0
	next := func() string { n++; return time.Now().Format("150405") + "-" + string(rune('a'+n)) }
	return []taggedService{
		{"kms",
			func(ctx context.Context, cfg aws.Config, env string) (string, error) {
				out, err := kms.NewFromConfig(cfg).CreateKey(ctx, &kms.CreateKeyInput{Tags: []kmstypes.Tag{{TagKey: aws.String("env"), TagValue: aws.String(env)}}})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.KeyMetadata.Arn), nil
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &arn})
				return err
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := kms.NewFromConfig(cfg).TagResource(ctx, &kms.TagResourceInput{KeyId: &arn, Tags: []kmstypes.Tag{{TagKey: aws.String("owner"), TagValue: aws.String("x")}}})
				return err
			}},
		{"acm-pca",
			func(ctx context.Context, cfg aws.Config, env string) (string, error) {
				out, err := acmpca.NewFromConfig(cfg).CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
					CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
					CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
						KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
						Subject: &pcatypes.ASN1Subject{CommonName: aws.String("ca " + env)},
					},
					Tags: []pcatypes.Tag{{Key: aws.String("env"), Value: aws.String(env)}},
				})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.CertificateAuthorityArn), nil
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := acmpca.NewFromConfig(cfg).DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &arn})
				return err
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := acmpca.NewFromConfig(cfg).TagCertificateAuthority(ctx, &acmpca.TagCertificateAuthorityInput{CertificateAuthorityArn: &arn, Tags: []pcatypes.Tag{{Key: aws.String("owner"), Value: aws.String("x")}}})
				return err
			}},
		{"acm",
			func(ctx context.Context, cfg aws.Config, env string) (string, error) {
				out, err := acm.NewFromConfig(cfg).ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM,
					Tags: []acmtypes.Tag{{Key: aws.String("env"), Value: aws.String(env)}}})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.CertificateArn), nil
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := acm.NewFromConfig(cfg).DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: &arn})
				return err
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := acm.NewFromConfig(cfg).AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: []acmtypes.Tag{{Key: aws.String("owner"), Value: aws.String("x")}}})
				return err
			}},
		{"events",
			func(ctx context.Context, cfg aws.Config, env string) (string, error) {
				out, err := eventbridge.NewFromConfig(cfg).PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("rule-" + env + "-" + next()),
					EventPattern: aws.String(`{"source":["aws.acm"]}`), Tags: []ebtypes.Tag{{Key: aws.String("env"), Value: aws.String(env)}}})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.RuleArn), nil
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				name := arn[len("arn:aws:events:"+servertest.Region+":"+servertest.AccountID+":rule/"):]
				_, err := eventbridge.NewFromConfig(cfg).DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: &name})
				return err
			},
			nil}, // Bulwark's EventBridge has no TagResource
		{"secretsmanager",
			func(ctx context.Context, cfg aws.Config, env string) (string, error) {
				out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s-" + env + "-" + next()),
					SecretString: aws.String("v"), Tags: []smtypes.Tag{{Key: aws.String("env"), Value: aws.String(env)}}})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.ARN), nil
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := secretsmanager.NewFromConfig(cfg).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &arn})
				return err
			},
			func(ctx context.Context, cfg aws.Config, arn string) error {
				_, err := secretsmanager.NewFromConfig(cfg).TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: &arn, Tags: []smtypes.Tag{{Key: aws.String("owner"), Value: aws.String("x")}}})
				return err
			}},
	}
}

// userWithPolicy creates an IAM user with one inline policy and returns
// SDK configuration signing as that user.
func userWithPolicy(t *testing.T, srv *servertest.Server, name, doc string) aws.Config {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.IAM().CreateUser(ctx, name, "/", nil); err != nil {
		t.Fatal(err)
	}
	key, secret, err := srv.IAM().CreateAccessKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.IAM().PutUserPolicy(ctx, name, "p", doc); err != nil {
		t.Fatal(err)
	}
	return srv.AWSConfigFor(key.AccessKeyID, secret)
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want AccessDeniedException", what)
		return
	}
	if got := apiCode(t, err); got != "AccessDeniedException" {
		t.Errorf("%s: %s, want AccessDeniedException (%v)", what, got, err)
	}
}

// TestDenyByResourceTagInEveryService: a Deny conditioned on
// aws:ResourceTag applies to the tagged resources of every service with
// tags, and only to them (the server supplies the key in one place, from
// each service's tags).
func TestDenyByResourceTagInEveryService(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	user := userWithPolicy(t, srv, "tagged", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Env":"prod"}}}]}`)
	for _, svc := range taggedServices(t) {
		t.Run(svc.name, func(t *testing.T) {
			prod, err := svc.create(ctx, srv.AWSConfig(), "prod")
			if err != nil {
				t.Fatal(err)
			}
			dev, err := svc.create(ctx, srv.AWSConfig(), "dev")
			if err != nil {
				t.Fatal(err)
			}
			wantDenied(t, "describe the env=prod resource", svc.describe(ctx, user, prod))
			if err := svc.describe(ctx, user, dev); err != nil {
				t.Errorf("describe the env=dev resource: %v", err)
			}
			if err := svc.describe(ctx, srv.AWSConfig(), prod); err != nil {
				t.Errorf("root describing the env=prod resource: %v", err)
			}
		})
	}
}

// TestDenyByRequestTagInEveryService: aws:RequestTag/* comes from the
// Tags of a creating request, in every service.
func TestDenyByRequestTagInEveryService(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	user := userWithPolicy(t, srv, "creator", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/env":"prod"}}}]}`)
	for _, svc := range taggedServices(t) {
		t.Run(svc.name, func(t *testing.T) {
			_, err := svc.create(ctx, user, "prod")
			wantDenied(t, "create with env=prod", err)
			if _, err := svc.create(ctx, user, "dev"); err != nil {
				t.Errorf("create with env=dev: %v", err)
			}
		})
	}
}

// TestDenyByTagKeysInEveryService: aws:TagKeys comes from the keys a
// tagging request adds.
func TestDenyByTagKeysInEveryService(t *testing.T) {
	srv := servertest.Start(t)
	ctx := context.Background()
	user := userWithPolicy(t, srv, "tagger", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}}}]}`)
	for _, svc := range taggedServices(t) {
		if svc.tag == nil {
			continue
		}
		t.Run(svc.name, func(t *testing.T) {
			arn, err := svc.create(ctx, user, "dev")
			if err != nil {
				t.Fatal(err)
			}
			wantDenied(t, "add tag key owner", svc.tag(ctx, user, arn))
			if err := svc.tag(ctx, srv.AWSConfig(), arn); err != nil {
				t.Errorf("root adding tag key owner: %v", err)
			}
		})
	}
	t.Run("kms UntagResource", func(t *testing.T) {
		key, err := kms.NewFromConfig(srv.AWSConfig()).CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = kms.NewFromConfig(user).UntagResource(ctx, &kms.UntagResourceInput{KeyId: key.KeyMetadata.KeyId, TagKeys: []string{"owner"}})
		wantDenied(t, "remove tag key owner", err)
	})
}
