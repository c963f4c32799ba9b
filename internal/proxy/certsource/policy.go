package certsource

import (
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// Policy says what new material must satisfy before it replaces the old.
// The zero value checks key/certificate match (done by Parse), chain
// linkage, the validity window of every certificate in the chain and CRL
// signatures, at the real clock's time.
type Policy struct {
	// Clock tells the time validity is checked at; nil means clock.Real
	// (a Reloader fills it with its own Clock).
	Clock clock.Clock
	// Roots, when set, must verify the certificate's chain (for instance
	// the mesh CA the proxy expects its own certificate from). Nil skips
	// that check; chain linkage is still checked.
	Roots *x509.CertPool
	// SANs, when set, must all appear among the leaf's DNS, URI, IP or
	// email SANs, so a certificate for the wrong service is refused.
	SANs []string
}

func (p Policy) now() time.Time { return clock.OrReal(p.Clock).Now() }

// Validate checks m against the policy; a nil error means m may be used.
func (p Policy) Validate(m *Material) error {
	now := p.now()
	if m.Certificate != nil {
		chain := make([]*x509.Certificate, 0, len(m.Certificate.Certificate))
		for i, der := range m.Certificate.Certificate {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("certificate %d: %w", i, err)
			}
			chain = append(chain, c)
		}
		leaf := chain[0]
		if now.After(leaf.NotAfter) {
			return fmt.Errorf("certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if now.Before(leaf.NotBefore) {
			return fmt.Errorf("certificate not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
		}
		// Connections must not outlive any certificate of the chain
		// (Material.NotAfter), so an expired or not-yet-valid intermediate
		// would drain the listener at once: refuse it and keep the old.
		for i, c := range chain[1:] {
			if now.After(c.NotAfter) {
				return fmt.Errorf("chain: certificate %d expired at %s", i+1, c.NotAfter.UTC().Format(time.RFC3339))
			}
			if now.Before(c.NotBefore) {
				return fmt.Errorf("chain: certificate %d not valid before %s", i+1, c.NotBefore.UTC().Format(time.RFC3339))
			}
		}
		for i := 0; i+1 < len(chain); i++ {
			if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
				return fmt.Errorf("chain: certificate %d is not signed by certificate %d: %w", i, i+1, err)
			}
		}
		if p.Roots != nil {
			inter := x509.NewCertPool()
			for _, c := range chain[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.Roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return fmt.Errorf("chain does not verify to the configured roots: %w", err)
			}
		}
		have := SANs(leaf)
		for _, want := range p.SANs {
			if !slices.Contains(have, want) {
				return fmt.Errorf("certificate lacks expected SAN %q", want)
			}
		}
		if m.Certificate.Leaf == nil {
			// Only fill in a missing Leaf: material a Source hands out
			// twice may already be serving handshakes that read it.
			m.Certificate.Leaf = leaf
		}
	}
	if m.Pool != nil {
		valid := 0
		for _, c := range m.Roots {
			if !now.After(c.NotAfter) && !now.Before(c.NotBefore) {
				valid++
			}
		}
		if valid == 0 {
			return fmt.Errorf("trust bundle: no CA certificate is currently valid")
		}
		for i, crl := range m.CRLs {
			signed := false
			for _, ca := range m.Roots {
				if crl.CheckSignatureFrom(ca) == nil {
					signed = true
					break
				}
			}
			if !signed {
				return fmt.Errorf("trust bundle: CRL %d is not signed by a CA in the bundle", i)
			}
			if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
				return fmt.Errorf("trust bundle: CRL %d is stale (nextUpdate %s)", i, crl.NextUpdate.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// SANs returns every subject alternative name of c as text: DNS names,
// URIs, IP addresses and email addresses.
func SANs(c *x509.Certificate) []string {
	out := append([]string(nil), c.DNSNames...)
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return append(out, c.EmailAddresses...)
}
