package acm

import (
	"context"
	"encoding/pem"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/x509util"
)

// Subscribe calls fn with a certificate's ARN after it was issued,
// renewed, re-imported, revoked, deleted or otherwise rewritten through
// this Service, until cancel is called. fn runs on the writer's goroutine
// after the write committed and must not block. Writes by another server
// sharing the database are not seen.
func (s *Service) Subscribe(fn func(arn string)) (cancel func()) {
	return s.watch.Subscribe(fn)
}

func (s *Service) changed(arn string) { s.watch.Notify(arn) }

// KeyPair returns a certificate's chain (leaf first, PEM) and its private
// key (unencrypted PKCS#8 PEM) for the server's own delivery to an
// authorized data plane over xDS. It is not an API operation: it needs no
// export right, does not mark the certificate exported, and its result
// must never be logged or stored. Only issued (or expired) certificates
// with a key are returned.
func (s *Service) KeyPair(ctx context.Context, arn string) (chainPEM, keyPEM []byte, err error) {
	id, err := s.parseARN(arn)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.getCert(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.Status != StatusIssued && c.Status != StatusExpired {
		return nil, nil, fmt.Errorf("%w: the certificate is %s", ErrInProgress, c.Status)
	}
	if len(c.key) == 0 || len(c.CertDER) == 0 {
		return nil, nil, fmt.Errorf("%w: the certificate has no private key here", ErrValidation)
	}
	chain := x509util.CertPEM(append([][]byte{c.CertDER}, c.ChainDER...)...)
	return []byte(chain), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: c.key}), nil
}
