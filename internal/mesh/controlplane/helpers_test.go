package controlplane_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/smithy-go"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func start(t *testing.T) (*servertest.Server, *appmesh.Client) {
	t.Helper()
	srv := servertest.Start(t)
	return srv, appmesh.NewFromConfig(srv.AWSConfig())
}

// userClient creates an IAM user with an inline policy and returns an
// appmesh client signed with its key.
func userClient(t *testing.T, srv *servertest.Server, name, doc string) *appmesh.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.IAM().CreateUser(ctx, name, "/", nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.IAM().PutUserPolicy(ctx, name, "inline", doc); err != nil {
		t.Fatal(err)
	}
	k, secret, err := srv.IAM().CreateAccessKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return appmesh.NewFromConfig(srv.AWSConfigFor(k.AccessKeyID, secret))
}

// wantErr checks an SDK error's code, HTTP status and that its message
// mentions each of contains.
func wantErr(t *testing.T, err error, code string, status int, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want an API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got code %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Errorf("%s: got HTTP %d, want %d", code, re.HTTPStatusCode(), status)
	}
	for _, c := range contains {
		if !strings.Contains(ae.ErrorMessage(), c) {
			t.Errorf("%s message %q does not mention %q", code, ae.ErrorMessage(), c)
		}
	}
}

func mustCreateMesh(t *testing.T, c *appmesh.Client, name string) *types.MeshData {
	t.Helper()
	out, err := c.CreateMesh(context.Background(), &appmesh.CreateMeshInput{MeshName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateMesh %s: %v", name, err)
	}
	return out.Mesh
}

func httpListener(port int32) types.Listener {
	return types.Listener{PortMapping: &types.PortMapping{Port: aws.Int32(port), Protocol: types.PortProtocolHttp}}
}

func mustCreateNode(t *testing.T, c *appmesh.Client, mesh, name string) *types.VirtualNodeData {
	t.Helper()
	out, err := c.CreateVirtualNode(context.Background(), &appmesh.CreateVirtualNodeInput{
		MeshName: aws.String(mesh), VirtualNodeName: aws.String(name),
		Spec: &types.VirtualNodeSpec{
			Listeners:        []types.Listener{httpListener(9080)},
			ServiceDiscovery: &types.ServiceDiscoveryMemberDns{Value: types.DnsServiceDiscovery{Hostname: aws.String(name + ".mesh.local")}},
		},
	})
	if err != nil {
		t.Fatalf("CreateVirtualNode %s: %v", name, err)
	}
	return out.VirtualNode
}

func nodeService(mesh, name, node string) *appmesh.CreateVirtualServiceInput {
	return &appmesh.CreateVirtualServiceInput{MeshName: aws.String(mesh), VirtualServiceName: aws.String(name),
		Spec: &types.VirtualServiceSpec{Provider: &types.VirtualServiceProviderMemberVirtualNode{Value: types.VirtualNodeServiceProvider{VirtualNodeName: aws.String(node)}}}}
}

func gatewaySpec() *types.VirtualGatewaySpec {
	return &types.VirtualGatewaySpec{Listeners: []types.VirtualGatewayListener{{PortMapping: &types.VirtualGatewayPortMapping{Port: aws.Int32(8080), Protocol: types.VirtualGatewayPortProtocolHttp}}}}
}

func gatewayRouteTo(mesh, gw, name, service string) *appmesh.CreateGatewayRouteInput {
	return &appmesh.CreateGatewayRouteInput{MeshName: aws.String(mesh), VirtualGatewayName: aws.String(gw), GatewayRouteName: aws.String(name),
		Spec: &types.GatewayRouteSpec{HttpRoute: &types.HttpGatewayRoute{
			Match:  &types.HttpGatewayRouteMatch{Prefix: aws.String("/")},
			Action: &types.HttpGatewayRouteAction{Target: &types.GatewayRouteTarget{VirtualService: &types.GatewayRouteVirtualService{VirtualServiceName: aws.String(service)}}},
		}}}
}

func routeTo(mesh, router, name string, weights map[string]int32) *appmesh.CreateRouteInput {
	var targets []types.WeightedTarget
	for node, w := range weights {
		targets = append(targets, types.WeightedTarget{VirtualNode: aws.String(node), Weight: w})
	}
	return &appmesh.CreateRouteInput{MeshName: aws.String(mesh), VirtualRouterName: aws.String(router), RouteName: aws.String(name),
		Spec: &types.RouteSpec{HttpRoute: &types.HttpRoute{Match: &types.HttpRouteMatch{Prefix: aws.String("/")}, Action: &types.HttpRouteAction{WeightedTargets: targets}}}}
}

func nodeSpecForBench() *types.VirtualNodeSpec {
	return &types.VirtualNodeSpec{
		Listeners: []types.Listener{{
			PortMapping: &types.PortMapping{Port: aws.Int32(9080), Protocol: types.PortProtocolHttp},
			Tls: &types.ListenerTls{Mode: types.ListenerTlsModeStrict,
				Certificate: &types.ListenerTlsCertificateMemberFile{Value: types.ListenerTlsFileCertificate{CertificateChain: aws.String("/certs/chain.pem"), PrivateKey: aws.String("/certs/key.pem")}},
				Validation: &types.ListenerTlsValidationContext{Trust: &types.ListenerTlsValidationContextTrustMemberFile{Value: types.TlsValidationContextFileTrust{CertificateChain: aws.String("/certs/ca.pem")}},
					SubjectAlternativeNames: &types.SubjectAlternativeNames{Match: &types.SubjectAlternativeNameMatchers{Exact: []string{"colorgateway.mesh.local"}}}}},
		}},
		ServiceDiscovery: &types.ServiceDiscoveryMemberDns{Value: types.DnsServiceDiscovery{Hostname: aws.String("colorteller.mesh.local")}},
	}
}
