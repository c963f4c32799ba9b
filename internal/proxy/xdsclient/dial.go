package xdsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwarkd/bulwark/internal/clock"
	"github.com/bulwarkd/bulwark/internal/mesh/xds"
)

// Stream authentication modes (`bulwark proxy --xds-auth`).
const (
	// AuthSigV4 signs the stream with SigV4 under the service name
	// "appmesh", as App Mesh's Envoy image does; the server authorizes
	// appmesh:StreamAggregatedResources on the node's ARN.
	AuthSigV4 = "sigv4"
	// AuthMTLS presents a client certificate whose URI SAN is the node's
	// ARN (server with xds.clientCAFile).
	AuthMTLS = "mtls"
	// AuthNone sends neither (server with allowUnsigned).
	AuthNone = "none"
)

// DialConfig says how to reach and authenticate to the management server.
type DialConfig struct {
	// Target is host:port.
	Target string
	// Auth is AuthSigV4 (""), AuthMTLS or AuthNone.
	Auth string
	// AWS gives SigV4's credentials and region.
	AWS aws.Config
	// CAFile holds the PEM roots the server's certificate must chain to;
	// "" means the system roots.
	CAFile string
	// ClientCert and ClientKey are the PEM files of AuthMTLS's
	// certificate; they are re-read on every connection, so a renewal on
	// disk is used at the next reconnection.
	ClientCert, ClientKey string
	// Plaintext speaks HTTP/2 without TLS; only to a loopback address, as
	// the server allows it only there.
	Plaintext bool
	// Clock tells SigV4's signing time; nil means clock.Real.
	Clock clock.Clock
}

// DialOptions returns the gRPC options for c, refusing combinations that
// would send credentials in the clear or authenticate nobody by mistake.
func DialOptions(c DialConfig) ([]grpc.DialOption, error) {
	host, _, err := net.SplitHostPort(c.Target)
	if err != nil {
		return nil, fmt.Errorf("--xds %q: want HOST:PORT: %w", c.Target, err)
	}
	var opts []grpc.DialOption
	if c.Plaintext {
		if !isLoopback(host) {
			return nil, fmt.Errorf("--xds-plaintext: %s is not a loopback address; the xDS stream carries private keys and must use TLS elsewhere", host)
		}
		if c.Auth == AuthMTLS {
			return nil, errors.New("--xds-auth mtls needs TLS; drop --xds-plaintext")
		}
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			b, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--xds-ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("--xds-ca-file %s: no PEM certificate", c.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.Auth == AuthMTLS {
			if c.ClientCert == "" || c.ClientKey == "" {
				return nil, errors.New("--xds-auth mtls needs --xds-client-cert and --xds-client-key")
			}
			if _, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey); err != nil {
				return nil, fmt.Errorf("--xds-client-cert/--xds-client-key: %w", err)
			}
			cert, key := c.ClientCert, c.ClientKey
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				kp, err := tls.LoadX509KeyPair(cert, key)
				if err != nil {
					return nil, err
				}
				return &kp, nil
			}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	switch c.Auth {
	case "", AuthSigV4:
		if c.AWS.Credentials == nil || c.AWS.Region == "" {
			return nil, errors.New("--xds-auth sigv4 needs AWS credentials and a region (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile, AWS_REGION)")
		}
		opts = append(opts, grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: c.AWS.Credentials, Region: c.AWS.Region, AllowInsecure: c.Plaintext, Clock: c.Clock}))
	case AuthMTLS, AuthNone:
	default:
		return nil, fmt.Errorf("--xds-auth %q: want sigv4, mtls or none", c.Auth)
	}
	return opts, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
