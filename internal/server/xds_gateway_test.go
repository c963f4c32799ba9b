package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	mt "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

// TestXDSGatewayThroughRouter builds, through the App Mesh API, a gateway
// whose route targets a router-provided service with two weighted nodes,
// and checks the gateway's streamed route configuration: the control
// plane's ProxySnapshot follows gateway route → service → router → routes
// → nodes, and the translation keeps the weights.
func TestXDSGatewayThroughRouter(t *testing.T) {
	t.Parallel()
	e := startXDSEnv(t)
	ctx := context.Background()
	m, mesh := e.mesh, aws.String("color-mesh")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"white", "black"} {
		must(m.CreateVirtualNode(ctx, &appmesh.CreateVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String(n), Spec: &mt.VirtualNodeSpec{
			Listeners:        []mt.Listener{{PortMapping: &mt.PortMapping{Port: aws.Int32(9080), Protocol: mt.PortProtocolHttp}}},
			ServiceDiscovery: &mt.ServiceDiscoveryMemberDns{Value: mt.DnsServiceDiscovery{Hostname: aws.String(n + ".mesh.local")}},
		}}))
	}
	must(m.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: mesh, VirtualRouterName: aws.String("router"), Spec: &mt.VirtualRouterSpec{
		Listeners: []mt.VirtualRouterListener{{PortMapping: &mt.PortMapping{Port: aws.Int32(9080), Protocol: mt.PortProtocolHttp}}}}}))
	must(m.CreateRoute(ctx, &appmesh.CreateRouteInput{MeshName: mesh, VirtualRouterName: aws.String("router"), RouteName: aws.String("split"), Spec: &mt.RouteSpec{
		HttpRoute: &mt.HttpRoute{Match: &mt.HttpRouteMatch{Prefix: aws.String("/")}, Action: &mt.HttpRouteAction{WeightedTargets: []mt.WeightedTarget{
			{VirtualNode: aws.String("white"), Weight: 3}, {VirtualNode: aws.String("black"), Weight: 1}}}}}}))
	must(m.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("teller.mesh.local"), Spec: &mt.VirtualServiceSpec{
		Provider: &mt.VirtualServiceProviderMemberVirtualRouter{Value: mt.VirtualRouterServiceProvider{VirtualRouterName: aws.String("router")}}}}))
	must(m.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: mesh, VirtualGatewayName: aws.String("gw"), Spec: &mt.VirtualGatewaySpec{
		Listeners: []mt.VirtualGatewayListener{{PortMapping: &mt.VirtualGatewayPortMapping{Port: aws.Int32(8080), Protocol: mt.VirtualGatewayPortProtocolHttp}}}}}))
	must(m.CreateGatewayRoute(ctx, &appmesh.CreateGatewayRouteInput{MeshName: mesh, VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("to-teller"), Spec: &mt.GatewayRouteSpec{
		HttpRoute: &mt.HttpGatewayRoute{Match: &mt.HttpGatewayRouteMatch{Prefix: aws.String("/")}, Action: &mt.HttpGatewayRouteAction{
			Target: &mt.GatewayRouteTarget{VirtualService: &mt.GatewayRouteVirtualService{VirtualServiceName: aws.String("teller.mesh.local")}}}}}}))

	gwARN := fmt.Sprintf("arn:aws:appmesh:%s:%s:mesh/color-mesh/virtualGateway/gw", servertest.Region, servertest.AccountID)
	creds := e.user(t, "gw-envoy", streamPolicy(gwARN))
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := e.dial(t, creds, "").StreamAggregatedResources(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: gwARN}, TypeUrl: resourcev3.RouteType, ResourceNames: []string{"rds_ingress_http_8080"}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	rc := &routev3.RouteConfiguration{}
	if err := r.Resources[0].UnmarshalTo(rc); err != nil {
		t.Fatal(err)
	}
	routes := rc.GetVirtualHosts()[0].GetRoutes()
	if len(routes) != 1 {
		t.Fatalf("%d routes", len(routes))
	}
	got := map[string]uint32{}
	for _, c := range routes[0].GetRoute().GetWeightedClusters().GetClusters() {
		got[c.Name] = c.GetWeight().GetValue()
	}
	want := map[string]uint32{"cds_egress_color-mesh_white_http_9080": 3, "cds_egress_color-mesh_black_http_9080": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("weighted clusters %v, want %v", got, want)
	}
	if routes[0].GetRoute().GetHostRewriteLiteral() != "teller.mesh.local" {
		t.Fatalf("host rewrite %q", routes[0].GetRoute().GetHostRewriteLiteral())
	}
}
