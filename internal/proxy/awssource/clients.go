package awssource

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// ACMAPI is the part of the ACM client the acm certificate source uses
// (*acm.Client satisfies it).
type ACMAPI interface {
	DescribeCertificate(context.Context, *acm.DescribeCertificateInput, ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
	ExportCertificate(context.Context, *acm.ExportCertificateInput, ...func(*acm.Options)) (*acm.ExportCertificateOutput, error)
}

// PCAAPI is the part of the ACM PCA client the acm trust source uses
// (*acmpca.Client satisfies it).
type PCAAPI interface {
	GetCertificateAuthorityCertificate(context.Context, *acmpca.GetCertificateAuthorityCertificateInput, ...func(*acmpca.Options)) (*acmpca.GetCertificateAuthorityCertificateOutput, error)
}

// SecretsAPI is the part of the Secrets Manager client the sds sources use
// (*secretsmanager.Client satisfies it).
type SecretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// ErrAccessDenied marks a refusal by the remote service; the message
// names the IAM action the proxy's principal lacks.
var ErrAccessDenied = errors.New("awssource: access denied")

// denied wraps err with the action the principal needs when the service
// refused it, so a misconfigured proxy says what to grant at start-up.
func denied(err error, action, resource string) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "AccessDenied", "UnauthorizedOperation":
			return fmt.Errorf("%w: the proxy's principal needs %s on %s: %w", ErrAccessDenied, action, resource, err)
		}
	}
	return fmt.Errorf("%s %s: %w", action, resource, err)
}
