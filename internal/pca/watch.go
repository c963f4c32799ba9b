package pca

import (
	"context"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

// Subscribe calls fn with a CA's ARN after the CA was rewritten through
// this Service (certificate installed, status or configuration changed),
// until cancel is called. fn runs on the writer's goroutine after the
// write committed and must not block. Writes by another server sharing the
// database are not seen.
func (s *Service) Subscribe(fn func(arn string)) (cancel func()) {
	return s.watch.Subscribe(fn)
}

func (s *Service) changed(arn string) { s.watch.Notify(arn) }

// CACertificate returns a CA's certificate followed by its chain (PEM), the
// bundle a data plane trusts to validate certificates the CA issued. A CA
// without a certificate yet (PENDING_CERTIFICATE) is an error.
func (s *Service) CACertificate(ctx context.Context, arn string) ([]byte, error) {
	id, err := s.parseCAARN(arn)
	if err != nil {
		return nil, err
	}
	l, err := s.loadCA(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(l.rec.CertDER) == 0 {
		return nil, fmt.Errorf("%w: certificate authority %s has no certificate yet", ErrInvalidState, arn)
	}
	return []byte(x509util.CertPEM(append([][]byte{l.rec.CertDER}, l.rec.ChainDER...)...)), nil
}
