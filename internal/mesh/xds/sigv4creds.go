package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/bulwarkd/bulwark/internal/clock"
	"google.golang.org/grpc/credentials"
)

var emptySHA256 = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// SigV4Credentials signs every gRPC call the way Envoy's
// envoy.grpc_credentials.aws_iam plugin (which App Mesh's Envoy image
// configures) does: a POST to the call's :authority (without ":443") and
// method path, the payload hash of an empty body, under the signing name
// (normally "appmesh"), with Authorization, X-Amz-Date,
// X-Amz-Content-Sha256 and any X-Amz-Security-Token sent as metadata.
// Go data planes and tests use it to speak to Bulwark as Envoy would.
type SigV4Credentials struct {
	Credentials aws.CredentialsProvider
	Region      string
	// Service is the signing name; "" means "appmesh".
	Service string
	// AllowInsecure lets the signature travel over plaintext (loopback
	// tests); the zero value requires TLS, as a signature is a bearer
	// token for its 15-minute window.
	AllowInsecure bool
	// Clock tells the signing time; nil means clock.Real.
	Clock clock.Clock
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c *SigV4Credentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	if len(uri) == 0 {
		return nil, errors.New("xds: no service URL to sign")
	}
	u, err := url.Parse(uri[0])
	if err != nil {
		return nil, err
	}
	path := u.Path
	if ri, ok := credentials.RequestInfoFromContext(ctx); ok && ri.Method != "" {
		path = ri.Method
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+strings.TrimSuffix(u.Host, ":443")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	svc := c.Service
	if svc == "" {
		svc = "appmesh"
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, svc, c.Region, clock.OrReal(c.Clock).Now().UTC()); err != nil {
		return nil, err
	}
	md := map[string]string{}
	for k, vs := range req.Header {
		if len(vs) > 0 {
			md[strings.ToLower(k)] = vs[0]
		}
	}
	return md, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (c *SigV4Credentials) RequireTransportSecurity() bool { return !c.AllowInsecure }
