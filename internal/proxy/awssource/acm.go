package awssource

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"

	"github.com/bulwarkd/bulwark/internal/pkcs8"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
	"github.com/bulwarkd/bulwark/internal/x509util"
)

// passphraseAlphabet leaves out everything ACM's ExportCertificate refuses
// (#, $, %) and everything a shell or JSON would need to quote.
const passphraseAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// passphraseLength gives about 190 bits; ACM accepts 4 to 128 bytes.
const passphraseLength = 32

// ACMCertificate is an acm certificate: exported with
// acm:ExportCertificate under a passphrase drawn here for that one call,
// decrypted in memory; the key never touches the disk. Renewals are
// detected with acm:DescribeCertificate (serial and NotAfter); without that
// permission the certificate is re-exported once per Config.Interval.
type ACMCertificate struct {
	client ACMAPI
	arn    string
	rand   io.Reader
	t      *throttle
}

// Version returns the certificate's serial and NotAfter.
func (s *ACMCertificate) Version(ctx context.Context) (string, error) {
	if v, ok := s.t.cached(); ok {
		return v, nil
	}
	out, err := s.client.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(s.arn)})
	var v string
	if err != nil || out.Certificate == nil {
		// Degrade to a time bucket: one export per interval instead of
		// one per poll, and still a working proxy.
		v = "unversioned:" + strconv.FormatInt(s.t.now().UnixNano()/int64(s.t.interval), 10)
	} else {
		v = aws.ToString(out.Certificate.Serial)
		if na := out.Certificate.NotAfter; na != nil {
			v += "@" + strconv.FormatInt(na.Unix(), 10)
		}
	}
	s.t.remember(v)
	return v, nil
}

// Load exports the certificate and decrypts its key.
func (s *ACMCertificate) Load(ctx context.Context) (*certsource.Material, error) {
	pass, err := passphrase(s.rand)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	out, err := s.client.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: aws.String(s.arn), Passphrase: pass})
	if err != nil {
		return nil, denied(err, "acm:ExportCertificate", s.arn)
	}
	key, err := pkcs8.DecryptPEM([]byte(aws.ToString(out.PrivateKey)), pass)
	if err != nil {
		return nil, fmt.Errorf("acm certificate %s: exported key does not decrypt: %w", s.arn, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("acm certificate %s: unsupported key type %T", s.arn, key)
	}
	certPEM := aws.ToString(out.Certificate) + "\n" + aws.ToString(out.CertificateChain)
	chain, err := x509util.ParseCertsPEM([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("acm certificate %s: %w", s.arn, err)
	}
	if !x509util.SamePublicKey(signer.Public(), chain[0].PublicKey) {
		return nil, fmt.Errorf("acm certificate %s: exported key does not match the certificate", s.arn)
	}
	tc := &tls.Certificate{PrivateKey: signer, Leaf: chain[0]}
	for _, c := range chain {
		// A self-signed root at the end is not sent: peers must already
		// trust it, and it only costs bytes in every handshake.
		if len(tc.Certificate) > 0 && c.CheckSignatureFrom(c) == nil {
			break
		}
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	h := sha256.Sum256([]byte(certPEM))
	return &certsource.Material{Certificate: tc, Version: hex.EncodeToString(h[:12])}, nil
}

// passphrase draws a one-time export passphrase.
func passphrase(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	out := make([]byte, passphraseLength)
	n := big.NewInt(int64(len(passphraseAlphabet)))
	for i := range out {
		x, err := rand.Int(r, n)
		if err != nil {
			return nil, fmt.Errorf("awssource: passphrase: %w", err)
		}
		out[i] = passphraseAlphabet[x.Int64()]
	}
	return out, nil
}

// PCATrust is an acm trust: the CA certificate and chain of each private
// CA, from acm-pca:GetCertificateAuthorityCertificate. The bundle's hash
// is its version; it is fetched at most once per Config.Interval.
type PCATrust struct {
	client PCAAPI
	arns   []string
	t      *throttle

	mu     sync.Mutex
	bundle []byte // the last fetched bundle, for Load after Version
}

// Version fetches the bundle and returns its hash.
func (s *PCATrust) Version(ctx context.Context) (string, error) {
	if v, ok := s.t.cached(); ok {
		return v, nil
	}
	b, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	v := hex.EncodeToString(h[:12])
	s.mu.Lock()
	s.bundle = b
	s.mu.Unlock()
	s.t.remember(v)
	return v, nil
}

// Load parses the bundle Version fetched, or fetches it.
func (s *PCATrust) Load(ctx context.Context) (*certsource.Material, error) {
	s.mu.Lock()
	b := s.bundle
	s.mu.Unlock()
	if _, fresh := s.t.cached(); b == nil || !fresh {
		var err error
		if b, err = s.fetch(ctx); err != nil {
			return nil, err
		}
	}
	return certsource.Parse(nil, nil, b)
}

func (s *PCATrust) fetch(ctx context.Context) ([]byte, error) {
	var b strings.Builder
	for _, arn := range s.arns {
		out, err := s.client.GetCertificateAuthorityCertificate(ctx, &acmpca.GetCertificateAuthorityCertificateInput{CertificateAuthorityArn: aws.String(arn)})
		if err != nil {
			return nil, denied(err, "acm-pca:GetCertificateAuthorityCertificate", arn)
		}
		if aws.ToString(out.Certificate) == "" {
			return nil, errors.New("awssource: certificate authority " + arn + " has no certificate (not ACTIVE yet?)")
		}
		for _, p := range []string{aws.ToString(out.Certificate), aws.ToString(out.CertificateChain)} {
			if p != "" {
				b.WriteString(strings.TrimSpace(p))
				b.WriteByte('\n')
			}
		}
	}
	return []byte(b.String()), nil
}
