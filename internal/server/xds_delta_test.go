package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsacm "github.com/aws/aws-sdk-go-v2/service/acm"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bulwarkd/bulwark/internal/mesh/xds"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// fixedPathSigner signs every call as if it were a call of method path
// (and region): a signature made for one stream replayed on another.
type fixedPathSigner struct {
	creds        aws.CredentialsProvider
	path, region string
	now          func() time.Time
}

func (s fixedPathSigner) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	u, err := url.Parse(uri[0])
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+u.Host+s.path, nil)
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", empty)
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, c, req, empty, "appmesh", s.region, s.now().UTC()); err != nil {
		return nil, err
	}
	md := map[string]string{}
	for k, vs := range req.Header {
		md[strings.ToLower(k)] = vs[0]
	}
	return md, nil
}

func (fixedPathSigner) RequireTransportSecurity() bool { return false }

// TestXDSDeltaStreamSignedAndAuthorized is TestXDSStreamWithRealServices
// for the incremental variant: the signature covers the delta method's
// path, the policy engine decides the node, the ACM certificate arrives
// over delta SDS and its renewal is pushed. A signature made for the
// state-of-the-world method (or another region) does not open a delta
// stream.
func TestXDSDeltaStreamSignedAndAuthorized(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	envoy := e.user(t, "teller-delta", streamExportPolicy(e.nodeARN, e.certARN))
	nobody := e.user(t, "nobody-delta", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := &corev3.Node{Id: e.nodeARN, Cluster: e.nodeARN}

	refused := []struct {
		name string
		opt  grpc.DialOption
		code codes.Code
	}{
		{"no permission", grpc.WithPerRPCCredentials(&xds.SigV4Credentials{Credentials: nobody, Region: servertest.Region, AllowInsecure: true, Clock: e.srv.Clock}), codes.PermissionDenied},
		{"signature of the SotW method", grpc.WithPerRPCCredentials(fixedPathSigner{envoy, xds.ADSMethod, servertest.Region, e.srv.Clock.Now}), codes.Unauthenticated},
		{"signed for another region", grpc.WithPerRPCCredentials(fixedPathSigner{envoy, xds.DeltaADSMethod, "eu-west-3", e.srv.Clock.Now}), codes.Unauthenticated},
	}
	for _, tc := range refused {
		conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != tc.code {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.code)
		}
		_ = conn.Close()
	}

	st, err := e.dial(t, envoy, "").DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.SecretType, ResourceNamesSubscribe: []string{e.certARN}}); err != nil {
		t.Fatal(err)
	}
	chainOf := func(r *discoveryv3.DeltaDiscoveryResponse) []byte {
		t.Helper()
		if len(r.Resources) != 1 || r.Resources[0].Name != e.certARN {
			t.Fatalf("delta secrets %v, want %s", r.Resources, e.certARN)
		}
		sec := &tlsv3.Secret{}
		if err := r.Resources[0].Resource.UnmarshalTo(sec); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(sec.GetTlsCertificate().GetPrivateKey().GetInlineBytes(), []byte("PRIVATE KEY")) {
			t.Fatal("the secret carries no private key")
		}
		return sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes()
	}
	r1, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	chain1 := chainOf(r1)
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.SecretType, ResponseNonce: r1.Nonce}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.acm.RenewCertificate(ctx, &awsacm.RenewCertificateInput{CertificateArn: &e.certARN}); err != nil {
		t.Fatal(err)
	}
	r2, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(chain1, chainOf(r2)) {
		t.Fatal("the renewal pushed the old certificate")
	}
}
