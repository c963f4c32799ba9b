package tagging_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	pcatypes "github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/tagging"
)

// ruleCase is one rule of AWS's tag restrictions; reason 0 means the
// tags are valid and the call must succeed.
type ruleCase struct {
	name   string
	tags   []tagging.Tag
	reason tagging.Reason
}

func many(n int) []tagging.Tag {
	out := make([]tagging.Tag, n)
	for i := range out {
		out[i] = tagging.Tag{Key: fmt.Sprintf("k%d", i), Value: "v"}
	}
	return out
}

func one(k, v string) []tagging.Tag { return []tagging.Tag{{Key: k, Value: v}} }

// ruleCases is the table every service runs: each rule, its edges, and
// the drift that prompted one shared check (a reserved prefix in another
// case; lengths counted in bytes instead of characters).
var ruleCases = []ruleCase{
	{"plain", one("env", "prod"), 0},
	{"every allowed character", one("a Z 9 + - = . _ : / @", "é ü 九 + - = . _ : / @"), 0},
	{"empty value", one("k", ""), 0},
	{"key of 128 two-byte characters", one(strings.Repeat("é", 128), "v"), 0},
	{"value of 256 two-byte characters", one("k", strings.Repeat("é", 256)), 0},
	{"50 tags", many(50), 0},
	{"aws inside a key", one("team-aws:x", "v"), 0},
	{"empty key", one("", "v"), tagging.KeyLength},
	{"key of 129 characters", one(strings.Repeat("k", 129), "v"), tagging.KeyLength},
	{"value of 257 characters", one("k", strings.Repeat("v", 257)), tagging.ValueLength},
	{"aws: prefix", one("aws:team", "v"), tagging.Reserved},
	{"AWS: prefix", one("AWS:team", "v"), tagging.Reserved},
	{"Aws: prefix", one("Aws:team", "v"), tagging.Reserved},
	{"disallowed character in key", one("team#1", "v"), tagging.Characters},
	{"disallowed character in value", one("k", "a$b"), tagging.Characters},
	{"control character in key", one("te\nam", "v"), tagging.Characters},
	{"duplicate key", []tagging.Tag{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}, tagging.Duplicate},
	{"51 tags", many(51), tagging.TooMany},
}

// service creates one resource with tags through the real API.
type service struct {
	name string
	// create makes resource number i with tags.
	create func(ctx context.Context, i int, tags []tagging.Tag) error
	// invalid and tooMany are the service's own error codes.
	invalid, tooMany string
}

func TestTagRulesEveryService(t *testing.T) {
	srv := servertest.Start(t)
	cfg := srv.AWSConfig()
	km, sm, am, pm, eb, ia := kms.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), acm.NewFromConfig(cfg),
		acmpca.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	certPEM, keyPEM := selfSigned(t)
	services := []service{
		{"kms", func(ctx context.Context, _ int, tags []tagging.Tag) error {
			var tt []kmstypes.Tag
			for _, x := range tags {
				tt = append(tt, kmstypes.Tag{TagKey: aws.String(x.Key), TagValue: aws.String(x.Value)})
			}
			_, err := km.CreateKey(ctx, &kms.CreateKeyInput{Tags: tt})
			return err
		}, "TagException", "TagException"},
		{"secretsmanager", func(ctx context.Context, i int, tags []tagging.Tag) error {
			var tt []smtypes.Tag
			for _, x := range tags {
				tt = append(tt, smtypes.Tag{Key: aws.String(x.Key), Value: aws.String(x.Value)})
			}
			_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("s%d", i)), SecretString: aws.String("x"), Tags: tt})
			return err
		}, "InvalidParameterException", "InvalidParameterException"},
		{"acm", func(ctx context.Context, _ int, tags []tagging.Tag) error {
			var tt []acmtypes.Tag
			for _, x := range tags {
				tt = append(tt, acmtypes.Tag{Key: aws.String(x.Key), Value: aws.String(x.Value)})
			}
			_, err := am.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM, Tags: tt})
			return err
		}, "InvalidTagException", "TooManyTagsException"},
		{"acm-pca", func(ctx context.Context, _ int, tags []tagging.Tag) error {
			var tt []pcatypes.Tag
			for _, x := range tags {
				tt = append(tt, pcatypes.Tag{Key: aws.String(x.Key), Value: aws.String(x.Value)})
			}
			_, err := pm.CreateCertificateAuthority(ctx, &acmpca.CreateCertificateAuthorityInput{
				CertificateAuthorityType: pcatypes.CertificateAuthorityTypeRoot,
				CertificateAuthorityConfiguration: &pcatypes.CertificateAuthorityConfiguration{
					KeyAlgorithm: pcatypes.KeyAlgorithmEcPrime256v1, SigningAlgorithm: pcatypes.SigningAlgorithmSha256withecdsa,
					Subject: &pcatypes.ASN1Subject{CommonName: aws.String("tag test")},
				},
				Tags: tt,
			})
			return err
		}, "InvalidTagException", "TooManyTagsException"},
		{"events", func(ctx context.Context, i int, tags []tagging.Tag) error {
			var tt []ebtypes.Tag
			for _, x := range tags {
				tt = append(tt, ebtypes.Tag{Key: aws.String(x.Key), Value: aws.String(x.Value)})
			}
			_, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(fmt.Sprintf("r%d", i)), EventPattern: aws.String(`{"source":["x"]}`), Tags: tt})
			return err
		}, "ValidationException", "ValidationException"},
		{"iam", func(ctx context.Context, i int, tags []tagging.Tag) error {
			var tt []iamtypes.Tag
			for _, x := range tags {
				tt = append(tt, iamtypes.Tag{Key: aws.String(x.Key), Value: aws.String(x.Value)})
			}
			_, err := ia.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(fmt.Sprintf("u%d", i)), Tags: tt})
			return err
		}, "InvalidInput", "LimitExceeded"},
	}
	for _, svc := range services {
		t.Run(svc.name, func(t *testing.T) {
			for i, tc := range ruleCases {
				t.Run(tc.name, func(t *testing.T) {
					err := svc.create(context.Background(), i, tc.tags)
					if tc.reason == 0 {
						if err != nil {
							t.Fatalf("valid tags refused: %v", err)
						}
						return
					}
					var ae smithy.APIError
					if !errors.As(err, &ae) {
						t.Fatalf("err = %v, want an API error", err)
					}
					want := svc.invalid
					if tc.reason == tagging.TooMany {
						want = svc.tooMany
					}
					if ae.ErrorCode() != want {
						t.Fatalf("code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), want)
					}
					var te *tagging.Error
					if !errors.As(tagging.Check(tc.tags, same), &te) || te.Reason != tc.reason {
						t.Fatalf("tagging.Check = %v, want reason %d", te, tc.reason)
					}
					if !strings.Contains(ae.ErrorMessage(), te.Message()) {
						t.Errorf("message %q does not say which rule (want %q)", ae.ErrorMessage(), te.Message())
					}
				})
			}
		})
	}
}

func same(t tagging.Tag) tagging.Tag { return t }

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tags.example"},
		DNSNames: []string{"tags.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}
