package certsync

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

// ACMAPI is the part of the ACM client Export uses
// (*acm.Client satisfies it).
type ACMAPI interface {
	DescribeCertificate(context.Context, *acm.DescribeCertificateInput, ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
	ExportCertificate(context.Context, *acm.ExportCertificateInput, ...func(*acm.Options)) (*acm.ExportCertificateOutput, error)
}

// SecretsWriter is the part of the Secrets Manager client Export uses
// (*secretsmanager.Client satisfies it). None of it reads a secret value,
// so an exporter can be denied secretsmanager:GetSecretValue.
type SecretsWriter interface {
	GetRandomPassword(context.Context, *secretsmanager.GetRandomPasswordInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetRandomPasswordOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// ExportInput names what to export and where.
type ExportInput struct {
	// CertificateARN is the ACM certificate (required).
	CertificateARN string
	// SecretPrefix is the prefix of the four secret names (required).
	SecretPrefix string
	// KMSKeyID encrypts secrets Export creates; empty means the
	// AWS-managed key aws/secretsmanager. Existing secrets keep theirs.
	KMSKeyID string
}

// ExportResult says what Export did.
type ExportResult struct {
	// Serial is the exported certificate's serial (colon hex, as ACM).
	Serial string
	// VersionID is the version id AWSCURRENT on all four secrets now.
	VersionID string
	// Written is false when the secrets already held this certificate and
	// nothing was exported or written.
	Written bool
}

// PassphraseExcluded are the characters ACM's ExportCertificate refuses
// in a passphrase; GetRandomPassword is asked to leave them out.
const PassphraseExcluded = "#$%"

// passphraseLength gives 190 bits from 62 symbols; ACM accepts 4 to 128.
const passphraseLength = 32

// Export exports the certificate into the four secrets of the prefix,
// creating them or adding a version to each. It is idempotent: when the
// certificate secret's AWSCURRENT version already belongs to the current
// serial it returns Written=false without calling ExportCertificate.
func Export(ctx context.Context, certs ACMAPI, sm SecretsWriter, in ExportInput) (*ExportResult, error) {
	if in.CertificateARN == "" || in.SecretPrefix == "" {
		return nil, errors.New("certsync: certificate ARN and secret prefix are required")
	}
	names := NamesFor(in.SecretPrefix)
	desc, err := certs.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(in.CertificateARN)})
	if err != nil {
		return nil, fmt.Errorf("describe certificate: %w", err)
	}
	if desc.Certificate == nil || desc.Certificate.Serial == nil {
		return nil, errors.New("certsync: DescribeCertificate returned no serial")
	}
	serial := aws.ToString(desc.Certificate.Serial)
	current, err := currentVersion(ctx, sm, names.Certificate)
	if err != nil {
		return nil, err
	}
	if current != "" && IsVersionOf(current, in.CertificateARN, serial) {
		return &ExportResult{Serial: serial, VersionID: current}, nil
	}

	pw, err := sm.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength:     aws.Int64(passphraseLength),
		ExcludePunctuation: aws.Bool(true),
		ExcludeCharacters:  aws.String(PassphraseExcluded),
	})
	if err != nil {
		return nil, fmt.Errorf("get random password: %w", err)
	}
	passphrase := aws.ToString(pw.RandomPassword)
	if len(passphrase) < 4 || len(passphrase) > 128 || strings.ContainsAny(passphrase, PassphraseExcluded) {
		return nil, errors.New("certsync: GetRandomPassword returned a passphrase ACM would refuse")
	}
	out, err := certs.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: aws.String(in.CertificateARN), Passphrase: []byte(passphrase)})
	if err != nil {
		return nil, fmt.Errorf("export certificate: %w", err)
	}
	// A renewal between DescribeCertificate and ExportCertificate changes
	// the serial: version ids follow what was actually exported.
	leaf, err := parseLeaf([]byte(aws.ToString(out.Certificate)))
	if err != nil {
		return nil, fmt.Errorf("exported certificate: %w", err)
	}
	serial = x509util.ColonSerial(leaf.SerialNumber)
	values := map[string]string{
		names.Certificate: aws.ToString(out.Certificate),
		names.Chain:       aws.ToString(out.CertificateChain),
		names.PrivateKey:  aws.ToString(out.PrivateKey),
		names.Passphrase:  passphrase,
	}
	for attempt := range maxAttempts {
		vid := VersionID(in.CertificateARN, serial, attempt)
		err := writeAll(ctx, sm, names, values, vid, in)
		if errors.Is(err, errAttemptTaken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &ExportResult{Serial: serial, VersionID: vid, Written: true}, nil
	}
	return nil, fmt.Errorf("certsync: %d export attempts of serial %s already used", maxAttempts, serial)
}

// errAttemptTaken: the private-key secret already has this version id with
// another value (an earlier export that stopped half-way, or a concurrent
// exporter), so the next attempt number is used.
var errAttemptTaken = errors.New("version id already used")

func writeAll(ctx context.Context, sm SecretsWriter, names Names, values map[string]string, vid string, in ExportInput) error {
	for i, name := range names.writeOrder() {
		err := putVersion(ctx, sm, name, values[name], vid, in)
		var exists *smtypes.ResourceExistsException
		if errors.As(err, &exists) && i == 0 {
			return errAttemptTaken
		}
		if err != nil {
			return fmt.Errorf("write secret %s: %w", name, err)
		}
	}
	return nil
}

// putVersion adds version vid to the secret, creating the secret if it
// does not exist. PutSecretValue attaches AWSCURRENT (moving AWSPREVIOUS).
func putVersion(ctx context.Context, sm SecretsWriter, name, value, vid string, in ExportInput) error {
	_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), ClientRequestToken: aws.String(vid), SecretString: aws.String(value),
	})
	var nf *smtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return err
	}
	create := &secretsmanager.CreateSecretInput{
		Name: aws.String(name), ClientRequestToken: aws.String(vid), SecretString: aws.String(value),
		Description: aws.String("Exported from " + in.CertificateARN + " by bulwark certs export-to-secrets"),
		Tags:        []smtypes.Tag{{Key: aws.String("bulwark:certificate-arn"), Value: aws.String(in.CertificateARN)}},
	}
	if in.KMSKeyID != "" {
		create.KmsKeyId = aws.String(in.KMSKeyID)
	}
	_, err = sm.CreateSecret(ctx, create)
	var exists *smtypes.ResourceExistsException
	if errors.As(err, &exists) {
		// Created by a concurrent exporter since: add our version instead.
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(name), ClientRequestToken: aws.String(vid), SecretString: aws.String(value),
		})
	}
	return err
}

// currentVersion returns the AWSCURRENT version id of a secret, "" if the
// secret does not exist. It reads metadata only (DescribeSecret).
func currentVersion(ctx context.Context, sm SecretsWriter, name string) (string, error) {
	out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("describe secret %s: %w", name, err)
	}
	for vid, stages := range out.VersionIdsToStages {
		for _, s := range stages {
			if s == "AWSCURRENT" {
				return vid, nil
			}
		}
	}
	return "", nil
}

// CurrentSerialVersion reports whether the secrets of prefix hold the
// certificate arn with serial as AWSCURRENT, reading only metadata. The
// renewer uses it to decide whether an export is due.
func CurrentSerialVersion(ctx context.Context, sm SecretsWriter, prefix, arn, serial string) (bool, error) {
	cur, err := currentVersion(ctx, sm, NamesFor(prefix).Certificate)
	if err != nil {
		return false, err
	}
	return cur != "" && IsVersionOf(cur, arn, serial), nil
}

// parseLeaf parses the first certificate of a PEM text.
func parseLeaf(pemText []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, pemText = pem.Decode(pemText)
		if b == nil {
			return nil, errors.New("no CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}
