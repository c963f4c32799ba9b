package awssource

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/bulwarkd/bulwark/internal/certsync"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// currentStage is the Secrets Manager staging label of the version in use.
const currentStage = "AWSCURRENT"

// SDSCertificate is an sds certificate: the four secrets under Prefix in
// the internal/certsync layout. The principal needs
// secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on them
// (and kms:Decrypt on their key when it is not the AWS-managed one).
type SDSCertificate struct {
	client SecretsAPI
	prefix string
	t      *throttle
}

// Version returns the AWSCURRENT version id of PREFIX/certificate, which
// an export writes last, so a new id means a complete new set.
func (s *SDSCertificate) Version(ctx context.Context) (string, error) {
	return currentVersion(ctx, s.client, s.t, certsync.NamesFor(s.prefix).Certificate)
}

// Load reads the four secrets at one version and decrypts the key in
// memory.
func (s *SDSCertificate) Load(ctx context.Context) (*certsource.Material, error) {
	b, err := certsync.Fetch(ctx, s.client, s.prefix)
	if err != nil {
		return nil, denied(err, "secretsmanager:GetSecretValue", s.prefix+"/*")
	}
	defer clear(b.KeyPEM)
	return certsource.Parse(append(append(append([]byte(nil), b.CertPEM...), '\n'), b.ChainPEM...), b.KeyPEM, nil)
}

// SDSTrust is an sds validation trust: one secret whose value is a PEM
// bundle of CA certificates (and optionally X509 CRL blocks). The
// principal needs secretsmanager:GetSecretValue and DescribeSecret on it.
type SDSTrust struct {
	client SecretsAPI
	name   string
	t      *throttle
}

// Version returns the secret's AWSCURRENT version id.
func (s *SDSTrust) Version(ctx context.Context) (string, error) {
	return currentVersion(ctx, s.client, s.t, s.name)
}

// Load reads the bundle.
func (s *SDSTrust) Load(ctx context.Context) (*certsource.Material, error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.name)})
	if err != nil {
		return nil, denied(err, "secretsmanager:GetSecretValue", s.name)
	}
	bundle := []byte(aws.ToString(out.SecretString))
	if len(bundle) == 0 {
		bundle = out.SecretBinary
	}
	return certsource.Parse(nil, nil, bundle)
}

func currentVersion(ctx context.Context, c SecretsAPI, t *throttle, name string) (string, error) {
	if v, ok := t.cached(); ok {
		return v, nil
	}
	out, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		return "", denied(err, "secretsmanager:DescribeSecret", name)
	}
	for id, stages := range out.VersionIdsToStages {
		if slices.Contains(stages, currentStage) {
			t.remember(id)
			return id, nil
		}
	}
	return "", errors.New("awssource: secret " + name + " has no AWSCURRENT version")
}
