package certsync

import (
	"crypto/sha256"
	"fmt"
	"strconv"
)

// Secret name suffixes under a prefix. The prefix names the workload (the
// seed's Lambda names its secret after the certificate's service, e.g.
// "colorgateway"); the suffixes name the four parts ACM's export returns.
const (
	SuffixCertificate = "certificate"
	SuffixChain       = "certificate-chain"
	SuffixPrivateKey  = "private-key"
	SuffixPassphrase  = "passphrase"
)

// maxAttempts bounds the attempt counter in version ids: an export that
// crashed half-way leaves versions under attempt n, and the next run uses
// n+1 (see VersionID).
const maxAttempts = 16

// Names are the four secret names of one prefix.
type Names struct {
	Certificate, Chain, PrivateKey, Passphrase string
}

// NamesFor returns the secret names under prefix: PREFIX/certificate,
// PREFIX/certificate-chain, PREFIX/private-key and PREFIX/passphrase.
func NamesFor(prefix string) Names {
	return Names{
		Certificate: prefix + "/" + SuffixCertificate,
		Chain:       prefix + "/" + SuffixChain,
		PrivateKey:  prefix + "/" + SuffixPrivateKey,
		Passphrase:  prefix + "/" + SuffixPassphrase,
	}
}

// writeOrder is the order Export writes the parts in. The private key is
// first, so that finding its version id taken tells an exporter that
// attempt is used up; the certificate is last, so that a version id that
// is AWSCURRENT on the certificate exists on all four secrets (Fetch
// relies on it).
func (n Names) writeOrder() []string {
	return []string{n.PrivateKey, n.Passphrase, n.Chain, n.Certificate}
}

// VersionID is the Secrets Manager version id (ClientRequestToken) of
// attempt n of exporting the certificate arn with serial: a UUID-shaped
// SHA-256 digest of the three, the same for all four secrets. Deriving it
// instead of drawing it makes a retried export find its own earlier
// writes, and a renewal (new serial) write new versions.
func VersionID(arn, serial string, attempt int) string {
	h := sha256.Sum256([]byte("bulwark-certsync\x00" + arn + "\x00" + serial + "\x00" + strconv.Itoa(attempt)))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 style: name-based, SHA digest
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IsVersionOf reports whether versionID is one of the ids Export derives
// for (arn, serial).
func IsVersionOf(versionID, arn, serial string) bool {
	for n := range maxAttempts {
		if VersionID(arn, serial, n) == versionID {
			return true
		}
	}
	return false
}
