package awssource

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/proxy"
	"github.com/bulwarkd/bulwark/internal/proxy/certsource"
)

// DefaultInterval is how often a remote source asks its service whether
// its material changed when Config.Interval is zero.
const DefaultInterval = 30 * time.Second

// Config configures a Factory. A nil client makes the references that need
// it fail with a message naming the missing client.
type Config struct {
	// ACM serves acm certificates (certificateArn).
	ACM ACMAPI
	// PCA serves acm trust (certificateAuthorityArns).
	PCA PCAAPI
	// Secrets serves sds certificates and trust.
	Secrets SecretsAPI
	// Fallback resolves every other reference (file); nil means
	// proxy.FileSources.
	Fallback proxy.SourceFactory
	// Interval is the least time between two remote checks of one source
	// (DescribeCertificate, DescribeSecret, GetCertificateAuthorityCertificate);
	// zero means DefaultInterval. The proxy may poll more often: it is
	// answered from memory. Factory.Expire forces the next check.
	Interval time.Duration
	// Clock tells the time Interval is measured in; nil means
	// clock.Real.
	Clock clock.Clock
	// Rand draws export passphrases; nil means crypto/rand.
	Rand io.Reader
}

// Factory resolves sds and acm references to sources. It remembers the
// sources it made, so Expire reaches the ones in use.
type Factory struct {
	cfg Config

	mu      sync.Mutex
	sources map[string]certsource.Source
	ts      []*throttle
}

// New returns a Factory.
func New(cfg Config) *Factory {
	if cfg.Fallback == nil {
		cfg.Fallback = proxy.FileSources
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	return &Factory{cfg: cfg, sources: map[string]certsource.Source{}}
}

// Sources is a proxy.SourceFactory: pass it as proxy.Config.Sources.
// Names are "sds:NAME" (certificate), "sds-trust:NAME", "acm:ARN" and
// "acm-pca:ARN[,ARN...]"; file references get the fallback's names.
func (f *Factory) Sources(ref proxy.CertRef) (string, certsource.Source, error) {
	name, mk, err := f.resolve(ref)
	if err != nil {
		return "", nil, err
	}
	if mk == nil {
		return f.cfg.Fallback(ref)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sources[name]; ok {
		return name, s, nil
	}
	t := &throttle{interval: f.cfg.Interval, now: f.cfg.Clock.Now}
	s, err := mk(t)
	if err != nil {
		return "", nil, err
	}
	f.sources[name] = s
	f.ts = append(f.ts, t)
	return name, s, nil
}

type maker func(*throttle) (certsource.Source, error)

// resolve names a remote reference and says how to build its source; a
// nil maker means "not remote".
func (f *Factory) resolve(ref proxy.CertRef) (string, maker, error) {
	c := f.cfg
	switch {
	case ref.Certificate != nil && ref.Certificate.SDS != nil:
		n := ref.Certificate.SDS.SecretName
		return "sds:" + n, func(t *throttle) (certsource.Source, error) {
			if c.Secrets == nil {
				return nil, fmt.Errorf("sds secret %q: no Secrets Manager client configured", n)
			}
			return &SDSCertificate{client: c.Secrets, prefix: n, t: t}, nil
		}, nil
	case ref.Certificate != nil && ref.Certificate.ACM != nil:
		arn := ref.Certificate.ACM.CertificateArn
		return "acm:" + arn, func(t *throttle) (certsource.Source, error) {
			if c.ACM == nil {
				return nil, fmt.Errorf("acm certificate %q: no ACM client configured", arn)
			}
			return &ACMCertificate{client: c.ACM, arn: arn, rand: c.Rand, t: t}, nil
		}, nil
	case ref.Trust != nil && ref.Trust.SDS != nil:
		n := ref.Trust.SDS.SecretName
		return "sds-trust:" + n, func(t *throttle) (certsource.Source, error) {
			if c.Secrets == nil {
				return nil, fmt.Errorf("sds trust %q: no Secrets Manager client configured", n)
			}
			return &SDSTrust{client: c.Secrets, name: n, t: t}, nil
		}, nil
	case ref.Trust != nil && ref.Trust.ACM != nil:
		arns := ref.Trust.ACM.CertificateAuthorityArns
		if len(arns) == 0 {
			return "", nil, errors.New("acm trust without certificateAuthorityArns")
		}
		return "acm-pca:" + strings.Join(arns, ","), func(t *throttle) (certsource.Source, error) {
			if c.PCA == nil {
				return nil, fmt.Errorf("acm trust %v: no ACM PCA client configured", arns)
			}
			return &PCATrust{client: c.PCA, arns: append([]string(nil), arns...), t: t}, nil
		}, nil
	}
	return "", nil, nil
}

// Expire makes every source ask its service on the next poll instead of
// answering from memory (what SIGHUP does before
// proxy.ReloadCertificates).
func (f *Factory) Expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.ts {
		t.expire()
	}
}
