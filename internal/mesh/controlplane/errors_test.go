package controlplane_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	"github.com/aws/smithy-go/middleware"
)

func tlsListener(tls *types.ListenerTls) types.Listener {
	l := httpListener(9080)
	l.Tls = tls
	return l
}

var fileCert = &types.ListenerTlsCertificateMemberFile{Value: types.ListenerTlsFileCertificate{CertificateChain: aws.String("/certs/chain.pem"), PrivateKey: aws.String("/certs/key.pem")}}

// TestSpecValidation sends bad specs through the SDK and expects
// BadRequestException naming the offending member.
func TestSpecValidation(t *testing.T) {
	srv, _ := start(t)
	// Without the SDK's own required-member checks, so the server's are
	// what answers (the AWS CLI and other SDKs do not all check).
	c := appmesh.NewFromConfig(srv.AWSConfig(), func(o *appmesh.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			_, err := s.Initialize.Remove("OperationInputValidation")
			return err
		})
	})
	ctx := context.Background()
	mustCreateMesh(t, c, "m")
	node := func(spec *types.VirtualNodeSpec) func() error {
		return func() error {
			_, err := c.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("bad"), Spec: spec})
			return err
		}
	}
	gateway := func(spec *types.VirtualGatewaySpec) func() error {
		return func() error {
			_, err := c.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("bad"), Spec: spec})
			return err
		}
	}
	clientTLS := func(tls *types.ClientPolicyTls) *types.VirtualGatewaySpec {
		s := gatewaySpec()
		gtls := &types.VirtualGatewayClientPolicyTls{Enforce: tls.Enforce, Ports: tls.Ports}
		if tls.Validation != nil {
			gtls.Validation = &types.VirtualGatewayTlsValidationContext{}
			if tr, ok := tls.Validation.Trust.(*types.TlsValidationContextTrustMemberAcm); ok {
				gtls.Validation.Trust = &types.VirtualGatewayTlsValidationContextTrustMemberAcm{Value: types.VirtualGatewayTlsValidationContextAcmTrust{CertificateAuthorityArns: tr.Value.CertificateAuthorityArns}}
			}
		}
		s.BackendDefaults = &types.VirtualGatewayBackendDefaults{ClientPolicy: &types.VirtualGatewayClientPolicy{Tls: gtls}}
		return s
	}
	cases := []struct {
		name   string
		call   func() error
		member string
	}{
		{"port 0", node(&types.VirtualNodeSpec{Listeners: []types.Listener{httpListener(0)}}), "spec.listeners[0].portMapping.port"},
		{"port above 65535", node(&types.VirtualNodeSpec{Listeners: []types.Listener{httpListener(70000)}}), "spec.listeners[0].portMapping.port"},
		{"unknown protocol", node(&types.VirtualNodeSpec{Listeners: []types.Listener{{PortMapping: &types.PortMapping{Port: aws.Int32(1), Protocol: "udp"}}}}), "spec.listeners[0].portMapping.protocol"},
		{"duplicate listener port", node(&types.VirtualNodeSpec{Listeners: []types.Listener{httpListener(80), httpListener(80)}}), "spec.listeners[1].portMapping.port"},
		{"bad TLS mode", node(&types.VirtualNodeSpec{Listeners: []types.Listener{tlsListener(&types.ListenerTls{Mode: "SOMETIMES", Certificate: fileCert})}}), "spec.listeners[0].tls.mode"},
		{"TLS without certificate", node(&types.VirtualNodeSpec{Listeners: []types.Listener{tlsListener(&types.ListenerTls{Mode: types.ListenerTlsModeStrict})}}), "spec.listeners[0].tls.certificate"},
		{"file certificate without key", node(&types.VirtualNodeSpec{Listeners: []types.Listener{tlsListener(&types.ListenerTls{Mode: types.ListenerTlsModeStrict,
			Certificate: &types.ListenerTlsCertificateMemberFile{Value: types.ListenerTlsFileCertificate{CertificateChain: aws.String("/c.pem"), PrivateKey: aws.String("")}}})}}), "spec.listeners[0].tls.certificate.file.privateKey"},
		{"acm certificate not an ARN", node(&types.VirtualNodeSpec{Listeners: []types.Listener{tlsListener(&types.ListenerTls{Mode: types.ListenerTlsModeStrict,
			Certificate: &types.ListenerTlsCertificateMemberAcm{Value: types.ListenerTlsAcmCertificate{CertificateArn: aws.String("colorteller")}}})}}), "spec.listeners[0].tls.certificate.acm.certificateArn"},
		{"mTLS validation without trust", node(&types.VirtualNodeSpec{Listeners: []types.Listener{tlsListener(&types.ListenerTls{Mode: types.ListenerTlsModeStrict, Certificate: fileCert,
			Validation: &types.ListenerTlsValidationContext{}})}}), "spec.listeners[0].tls.validation.trust"},
		{"SAN match without names", node(&types.VirtualNodeSpec{Listeners: []types.Listener{tlsListener(&types.ListenerTls{Mode: types.ListenerTlsModeStrict, Certificate: fileCert,
			Validation: &types.ListenerTlsValidationContext{Trust: &types.ListenerTlsValidationContextTrustMemberFile{Value: types.TlsValidationContextFileTrust{CertificateChain: aws.String("/ca.pem")}},
				SubjectAlternativeNames: &types.SubjectAlternativeNames{Match: &types.SubjectAlternativeNameMatchers{Exact: []string{}}}}})}}), "spec.listeners[0].tls.validation.subjectAlternativeNames.match.exact"},
		{"client policy without validation", node(&types.VirtualNodeSpec{BackendDefaults: &types.BackendDefaults{ClientPolicy: &types.ClientPolicy{Tls: &types.ClientPolicyTls{Enforce: aws.Bool(true)}}}}), "spec.backendDefaults.clientPolicy.tls.validation"},
		{"client policy bad port", node(&types.VirtualNodeSpec{BackendDefaults: &types.BackendDefaults{ClientPolicy: &types.ClientPolicy{Tls: &types.ClientPolicyTls{Ports: []int32{0},
			Validation: &types.TlsValidationContext{Trust: &types.TlsValidationContextTrustMemberFile{Value: types.TlsValidationContextFileTrust{CertificateChain: aws.String("/ca.pem")}}}}}}}), "spec.backendDefaults.clientPolicy.tls.ports[0]"},
		{"four CA ARNs", gateway(clientTLS(&types.ClientPolicyTls{Validation: &types.TlsValidationContext{Trust: &types.TlsValidationContextTrustMemberAcm{Value: types.TlsValidationContextAcmTrust{
			CertificateAuthorityArns: []string{"arn:a", "arn:b", "arn:c", "arn:d"}}}}})), "spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns"},
		{"gateway without listeners", gateway(&types.VirtualGatewaySpec{}), "spec.listeners"},
		{"gateway tcp listener", gateway(&types.VirtualGatewaySpec{Listeners: []types.VirtualGatewayListener{{PortMapping: &types.VirtualGatewayPortMapping{Port: aws.Int32(80), Protocol: "tcp"}}}}), "spec.listeners[0].portMapping.protocol"},
		{"health check interval", node(&types.VirtualNodeSpec{Listeners: []types.Listener{{PortMapping: &types.PortMapping{Port: aws.Int32(80), Protocol: types.PortProtocolHttp},
			HealthCheck: &types.HealthCheckPolicy{HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(2), IntervalMillis: aws.Int64(10), TimeoutMillis: aws.Int64(2000), Protocol: types.PortProtocolHttp}}}}), "spec.listeners[0].healthCheck.intervalMillis"},
		{"node without spec", node(nil), "spec"},
		{"gateway route without match", func() error {
			in := gatewayRouteTo("m", "gw", "gr", "x")
			in.Spec.HttpRoute.Match = nil
			_, err := c.CreateGatewayRoute(ctx, in)
			return err
		}, "spec.httpRoute.match"},
		{"route weight above 100", func() error {
			_, err := c.CreateRoute(ctx, routeTo("m", "r", "rt", map[string]int32{"n": 101}))
			return err
		}, "spec.httpRoute.action.weightedTargets[0].weight"},
		{"mesh egress filter", func() error {
			_, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("bad"), Spec: &types.MeshSpec{EgressFilter: &types.EgressFilter{Type: "SOME"}}})
			return err
		}, "spec.egressFilter.type"},
		{"name with slash", func() error {
			_, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("a/b")})
			return err
		}, "meshName"},
		{"name too long", node2(c, fmt.Sprintf("%0256d", 0)), "virtualNodeName"},
		{"too many tags", func() error {
			tags := make([]types.TagRef, 51)
			for i := range tags {
				tags[i] = types.TagRef{Key: aws.String(fmt.Sprint(i)), Value: aws.String("v")}
			}
			_, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("tags"), Tags: tags})
			return err
		}, "tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), "BadRequestException", http.StatusBadRequest, tc.member)
		})
	}
	// Nothing invalid was stored.
	out, err := c.ListVirtualNodes(ctx, &appmesh.ListVirtualNodesInput{MeshName: aws.String("m")})
	if err != nil || len(out.VirtualNodes) != 0 {
		t.Errorf("after refusals: %v nodes, %v", out, err)
	}
}

func node2(c *appmesh.Client, name string) func() error {
	return func() error {
		_, err := c.CreateVirtualNode(context.Background(), &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String(name), Spec: &types.VirtualNodeSpec{}})
		return err
	}
}

// TestConflictsAndReferences covers ConflictException (existing names,
// clientToken replays), NotFoundException for missing parents and
// references, and ResourceInUseException for every dependency App Mesh
// guards.
func TestConflictsAndReferences(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	mustCreateMesh(t, c, "m")

	t.Run("mesh exists", func(t *testing.T) {
		_, err := c.CreateMesh(ctx, &appmesh.CreateMeshInput{MeshName: aws.String("m")})
		wantErr(t, err, "ConflictException", http.StatusConflict, "m")
	})
	t.Run("clientToken replay", func(t *testing.T) {
		in := &appmesh.CreateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("tok"), ClientToken: aws.String("token-1"), Spec: &types.VirtualNodeSpec{}}
		a, err := c.CreateVirtualNode(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.CreateVirtualNode(ctx, in)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if aws.ToString(a.VirtualNode.Metadata.Uid) != aws.ToString(b.VirtualNode.Metadata.Uid) {
			t.Error("replay made a new resource")
		}
		in.Spec = &types.VirtualNodeSpec{Listeners: []types.Listener{httpListener(1)}}
		_, err = c.CreateVirtualNode(ctx, in)
		wantErr(t, err, "ConflictException", http.StatusConflict, "token-1")
		up := &appmesh.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("tok"), ClientToken: aws.String("u-1"), Spec: &types.VirtualNodeSpec{}}
		for range 2 {
			o, err := c.UpdateVirtualNode(ctx, up)
			if err != nil {
				t.Fatal(err)
			}
			if v := aws.ToInt64(o.VirtualNode.Metadata.Version); v != 2 {
				t.Errorf("update replay: version %d, want 2", v)
			}
		}
		up.Spec = in.Spec
		_, err = c.UpdateVirtualNode(ctx, up)
		wantErr(t, err, "ConflictException", http.StatusConflict, "u-1")
	})
	t.Run("missing mesh", func(t *testing.T) {
		_, err := c.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: aws.String("nope"), VirtualNodeName: aws.String("n"), Spec: &types.VirtualNodeSpec{}})
		wantErr(t, err, "NotFoundException", http.StatusNotFound, "nope")
	})
	t.Run("missing router", func(t *testing.T) {
		_, err := c.CreateRoute(ctx, routeTo("m", "no-router", "rt", map[string]int32{"n": 1}))
		wantErr(t, err, "NotFoundException", http.StatusNotFound, "no-router")
	})
	t.Run("missing provider", func(t *testing.T) {
		_, err := c.CreateVirtualService(ctx, nodeService("m", "svc", "ghost"))
		wantErr(t, err, "NotFoundException", http.StatusNotFound, "spec.provider.virtualNode.virtualNodeName", "ghost")
	})
	t.Run("missing gateway route target", func(t *testing.T) {
		if _, err := c.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw0"), Spec: gatewaySpec()}); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateGatewayRoute(ctx, gatewayRouteTo("m", "gw0", "gr", "ghost.svc"))
		wantErr(t, err, "NotFoundException", http.StatusNotFound, "ghost.svc")
	})

	mustCreateNode(t, c, "m", "n")
	if _, err := c.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r"), Spec: &types.VirtualRouterSpec{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRoute(ctx, routeTo("m", "r", "rt", map[string]int32{"n": 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVirtualService(ctx, nodeService("m", "svc", "n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateGatewayRoute(ctx, gatewayRouteTo("m", "gw", "gr", "svc")); err != nil {
		t.Fatal(err)
	}
	inUse := []struct {
		name string
		call func() error
		want string
	}{
		{"mesh with resources", func() error {
			_, err := c.DeleteMesh(ctx, &appmesh.DeleteMeshInput{MeshName: aws.String("m")})
			return err
		}, "m"},
		{"node providing a service", func() error {
			_, err := c.DeleteVirtualNode(ctx, &appmesh.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n")})
			return err
		}, "svc"},
		{"router with routes", func() error {
			_, err := c.DeleteVirtualRouter(ctx, &appmesh.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r")})
			return err
		}, "route"},
		{"gateway with gateway routes", func() error {
			_, err := c.DeleteVirtualGateway(ctx, &appmesh.DeleteVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")})
			return err
		}, "gatewayRoute"},
		{"service targeted by a gateway route", func() error {
			_, err := c.DeleteVirtualService(ctx, &appmesh.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc")})
			return err
		}, "gr"},
	}
	for _, tc := range inUse {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), "ResourceInUseException", http.StatusConflict, tc.want)
		})
	}
	// Once the service moves to the router, the node is still a route
	// target and stays in use.
	if _, err := c.UpdateVirtualService(ctx, &appmesh.UpdateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc"),
		Spec: &types.VirtualServiceSpec{Provider: &types.VirtualServiceProviderMemberVirtualRouter{Value: types.VirtualRouterServiceProvider{VirtualRouterName: aws.String("r")}}}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DeleteVirtualNode(ctx, &appmesh.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n")})
	wantErr(t, err, "ResourceInUseException", http.StatusConflict, "rt")
}

// TestLimits applies the per-router route quota.
func TestLimits(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	mustCreateMesh(t, c, "m")
	mustCreateNode(t, c, "m", "n")
	if _, err := c.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r"), Spec: &types.VirtualRouterSpec{}}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := c.CreateRoute(ctx, routeTo("m", "r", fmt.Sprintf("rt%02d", i), map[string]int32{"n": 1})); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CreateRoute(ctx, routeTo("m", "r", "one-too-many", map[string]int32{"n": 1}))
	wantErr(t, err, "LimitExceededException", http.StatusBadRequest, "50")
}
