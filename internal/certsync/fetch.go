package certsync

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/bulwarkd/bulwark/internal/pkcs8"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// SecretsReader is the part of the Secrets Manager client Fetch uses
// (*secretsmanager.Client satisfies it): GetSecretValue only, so a proxy's
// principal needs nothing else (docs/lifecycle.md).
type SecretsReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Bundle is a fetched certificate with its decrypted key. KeyPEM is
// sensitive: never log it, and drop the Bundle once written.
type Bundle struct {
	// CertPEM is the leaf certificate; ChainPEM the issuing chain.
	CertPEM, ChainPEM []byte
	// KeyPEM is the private key as unencrypted PKCS#8 PEM ("PRIVATE KEY").
	KeyPEM []byte
	// Key is the private key.
	Key crypto.Signer
	// Leaf is the parsed certificate.
	Leaf *x509.Certificate
	// Serial is Leaf's serial in colon hex, as ACM prints it.
	Serial string
	// VersionID is the secret version the four parts were read at.
	VersionID string
}

// ErrMismatch is returned when the key does not match the certificate or
// the certificate is not signed by the chain.
var ErrMismatch = errors.New("certsync: key and certificate do not belong together")

// fetchRetries is how often Fetch re-reads when it caught an export
// half-way (only possible for secrets not written by Export's scheme).
const fetchRetries = 3

// Fetch reads the four secrets of prefix at one version: the
// certificate's AWSCURRENT version id, which Export writes to the other
// three parts before the certificate. If those parts lack that version
// (secrets written by another tool), it falls back to their AWSCURRENT
// values and relies on the key check, re-reading a few times. The key is
// decrypted with the passphrase and must match the certificate.
func Fetch(ctx context.Context, sm SecretsReader, prefix string) (*Bundle, error) {
	var lastErr error
	for try := range fetchRetries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(try) * 200 * time.Millisecond):
			}
		}
		b, err := fetchOnce(ctx, sm, NamesFor(prefix))
		if err == nil || !errors.Is(err, ErrMismatch) {
			return b, err
		}
		lastErr = err
	}
	return nil, lastErr
}

func fetchOnce(ctx context.Context, sm SecretsReader, names Names) (*Bundle, error) {
	cert, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(names.Certificate)})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", names.Certificate, err)
	}
	vid := aws.ToString(cert.VersionId)
	parts := map[string]string{}
	for _, name := range []string{names.Chain, names.PrivateKey, names.Passphrase} {
		v, err := readAt(ctx, sm, name, vid)
		if err != nil {
			return nil, err
		}
		parts[name] = v
	}
	b, err := assemble([]byte(aws.ToString(cert.SecretString)), []byte(parts[names.Chain]), []byte(parts[names.PrivateKey]), []byte(parts[names.Passphrase]))
	if err != nil {
		return nil, err
	}
	b.VersionID = vid
	return b, nil
}

// readAt reads the secret at version vid, or at AWSCURRENT if it has no
// such version.
func readAt(ctx context.Context, sm SecretsReader, name, vid string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(vid)})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		out, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return aws.ToString(out.SecretString), nil
}

// assemble decrypts and checks the parts. Its errors never quote them.
func assemble(certPEM, chainPEM, encKeyPEM, passphrase []byte) (*Bundle, error) {
	leaf, err := parseLeaf(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate secret: %w", err)
	}
	key, err := pkcs8.DecryptPEM(encKeyPEM, passphrase)
	if err != nil {
		// The pair was written by two different exports, or corrupted.
		return nil, fmt.Errorf("%w: the private key does not decrypt with the passphrase", ErrMismatch)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key secret: unsupported key type %T", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: the private key is not the certificate's", ErrMismatch)
	}
	chain, err := parseAll(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate chain secret: %w", err)
	}
	if len(chain) > 0 && leaf.CheckSignatureFrom(chain[0]) != nil {
		return nil, fmt.Errorf("%w: the certificate is not signed by the chain's first certificate", ErrMismatch)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return &Bundle{
		CertPEM:  certPEM,
		ChainPEM: chainPEM,
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		Key:      signer,
		Leaf:     leaf,
		Serial:   x509util.ColonSerial(leaf.SerialNumber),
	}, nil
}

func parseAll(pemText []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, pemText = pem.Decode(pemText)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}
