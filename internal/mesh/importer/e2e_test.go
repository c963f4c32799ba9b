package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/mesh/importer"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

func parse(t *testing.T, file string, opt importer.Options) []importer.Resource {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := importer.ParseFiles([]importer.File{{Name: file, Data: b}}, importer.FormatAuto, opt)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func actions(p *importer.Plan) map[importer.Action]int {
	out := map[importer.Action]int{}
	for _, s := range p.Steps {
		out[s.Action]++
	}
	return out
}

var colorOpts = importer.Options{
	Region: servertest.Region, AccountID: servertest.AccountID,
	Values: map[string]string{"ColorTellerCertificateArn": "arn:aws:acm:us-east-1:111122223333:certificate/colorteller"},
}

// TestImportCloudFormationEndToEnd imports the Color App template into a
// real server over the App Mesh wire API, reads it back with the SDK,
// re-runs (all skip), then changes a spec (conflict, then update).
func TestImportCloudFormationEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := servertest.Start(t)
	c := appmesh.NewFromConfig(srv.AWSConfig())
	api := importer.SDK{Client: c}
	rs := parse(t, "cfn/colorapp.yaml", colorOpts)

	// Planning only reads: nothing exists afterwards.
	plan, err := importer.MakePlan(ctx, api, rs, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(plan); got[importer.ActionCreate] != len(rs) {
		t.Fatalf("first plan %v, want %d creates", got, len(rs))
	}
	if out, err := c.ListMeshes(ctx, &appmesh.ListMeshesInput{}); err != nil || len(out.Meshes) != 0 {
		t.Fatalf("planning created something: %v %v", out, err)
	}
	if n, err := importer.Apply(ctx, api, plan); err != nil || n != len(rs) {
		t.Fatalf("Apply: %d, %v", n, err)
	}

	// Read back through the typed SDK: the shapes arrived as the API's.
	node, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("colorteller-white")})
	if err != nil {
		t.Fatal(err)
	}
	l := node.VirtualNode.Spec.Listeners[0]
	if *l.PortMapping.Port != 9080 || l.Tls.Mode != types.ListenerTlsModeStrict || *l.HealthCheck.Path != "/ping" {
		t.Errorf("listener %+v", l)
	}
	if acm, ok := l.Tls.Certificate.(*types.ListenerTlsCertificateMemberAcm); !ok || *acm.Value.CertificateArn != colorOpts.Values["ColorTellerCertificateArn"] {
		t.Errorf("listener certificate %#v", l.Tls.Certificate)
	}
	if dns, ok := node.VirtualNode.Spec.ServiceDiscovery.(*types.ServiceDiscoveryMemberDns); !ok || *dns.Value.Hostname != "colorteller.mesh.local" {
		t.Errorf("service discovery %#v", node.VirtualNode.Spec.ServiceDiscovery)
	}
	route, err := c.DescribeRoute(ctx, &appmesh.DescribeRouteInput{MeshName: aws.String("color-mesh"), VirtualRouterName: aws.String("colorteller-router"), RouteName: aws.String("colorteller-route")})
	if err != nil {
		t.Fatal(err)
	}
	wt := route.Route.Spec.HttpRoute.Action.WeightedTargets
	if len(wt) != 2 || *wt[0].VirtualNode != "colorteller-white" || wt[0].Weight != 3 || *route.Route.Spec.Priority != 10 {
		t.Errorf("route %+v", route.Route.Spec.HttpRoute)
	}
	vs, err := c.DescribeVirtualService(ctx, &appmesh.DescribeVirtualServiceInput{MeshName: aws.String("color-mesh"), VirtualServiceName: aws.String("colorteller.mesh.local")})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := vs.VirtualService.Spec.Provider.(*types.VirtualServiceProviderMemberVirtualRouter); !ok || *p.Value.VirtualRouterName != "colorteller-router" {
		t.Errorf("provider %#v", vs.VirtualService.Spec.Provider)
	}
	gr, err := c.DescribeGatewayRoute(ctx, &appmesh.DescribeGatewayRouteInput{MeshName: aws.String("color-mesh"), VirtualGatewayName: aws.String("colorgateway"), GatewayRouteName: aws.String("colorteller-route")})
	if err != nil {
		t.Fatal(err)
	}
	if *gr.GatewayRoute.Spec.HttpRoute.Action.Target.VirtualService.VirtualServiceName != "colorteller.mesh.local" {
		t.Errorf("gateway route %+v", gr.GatewayRoute.Spec.HttpRoute.Action)
	}
	gw, err := c.DescribeVirtualGateway(ctx, &appmesh.DescribeVirtualGatewayInput{MeshName: aws.String("color-mesh"), VirtualGatewayName: aws.String("colorgateway")})
	if err != nil {
		t.Fatal(err)
	}
	if tls := gw.VirtualGateway.Spec.BackendDefaults.ClientPolicy.Tls; !*tls.Enforce || tls.Ports[0] != 9080 {
		t.Errorf("gateway client policy %+v", tls)
	}
	tags, err := c.ListTagsForResource(ctx, &appmesh.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:appmesh:us-east-1:111122223333:mesh/color-mesh")})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Key != "app" {
		t.Errorf("mesh tags %+v %v", tags, err)
	}

	// A re-run changes nothing.
	again, err := importer.MakePlan(ctx, api, rs, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(again); got[importer.ActionSkip] != len(rs) {
		t.Fatalf("re-run plan %v, want all %d skip", got, len(rs))
	}
	if _, err := importer.Apply(ctx, api, again); err != nil {
		t.Fatal(err)
	}
	node2, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("colorteller-white")})
	if err != nil || *node2.VirtualNode.Metadata.Version != 1 {
		t.Fatalf("re-run wrote: version %v, %v", node2.VirtualNode.Metadata.Version, err)
	}

	// A changed spec is a conflict that writes nothing, unless updates
	// are allowed.
	changed := append([]importer.Resource(nil), rs...)
	for i := range changed {
		if changed[i].Kind == importer.KindVirtualNode && changed[i].Name == "colorteller-black" {
			changed[i].Spec = json.RawMessage(strings.Replace(string(changed[i].Spec), `"value":15`, `"value":30`, 1))
		}
	}
	conflict, err := importer.MakePlan(ctx, api, changed, false)
	if err != nil {
		t.Fatal(err)
	}
	var diff string
	for _, s := range conflict.Steps {
		if s.Action == importer.ActionConflict {
			diff = s.Difference
		}
	}
	if got := actions(conflict); got[importer.ActionConflict] != 1 || !strings.Contains(diff, "spec.listeners[0].timeout.http.perRequest.value") {
		t.Fatalf("changed plan %v (difference %q), want one conflict naming the member", got, diff)
	}
	if _, err := importer.Apply(ctx, api, conflict); !errors.Is(err, importer.ErrConflicts) {
		t.Fatalf("Apply of a conflict: %v, want ErrConflicts", err)
	}
	upd, err := importer.MakePlan(ctx, api, changed, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(upd); got[importer.ActionUpdate] != 1 {
		t.Fatalf("update plan %v", got)
	}
	if _, err := importer.Apply(ctx, api, upd); err != nil {
		t.Fatal(err)
	}
	black, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("colorteller-black")})
	if err != nil {
		t.Fatal(err)
	}
	if v := *black.VirtualNode.Spec.Listeners[0].Timeout.(*types.ListenerTimeoutMemberHttp).Value.PerRequest.Value; v != 30 || *black.VirtualNode.Metadata.Version != 2 {
		t.Errorf("after update: perRequest %d, version %d", v, *black.VirtualNode.Metadata.Version)
	}
}

// TestImportKubernetesEndToEnd imports the controller's Color App
// resources and re-runs them.
func TestImportKubernetesEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := servertest.Start(t)
	c := appmesh.NewFromConfig(srv.AWSConfig())
	api := importer.SDK{Client: c}
	rs := parse(t, "k8s/colorapp.yaml", importer.Options{})
	plan, err := importer.MakePlan(ctx, api, rs, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := importer.Apply(ctx, api, plan); err != nil {
		t.Fatal(err)
	}
	routes, err := c.ListRoutes(ctx, &appmesh.ListRoutesInput{MeshName: aws.String("color-mesh"), VirtualRouterName: aws.String("colorteller-router_colorapp")})
	if err != nil || len(routes.Routes) != 1 || *routes.Routes[0].RouteName != "color-route" {
		t.Fatalf("routes %+v %v", routes, err)
	}
	front, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("color-mesh"), VirtualNodeName: aws.String("front_colorapp")})
	if err != nil {
		t.Fatal(err)
	}
	b := front.VirtualNode.Spec.Backends[0].(*types.BackendMemberVirtualService)
	if *b.Value.VirtualServiceName != "colorteller.colorapp.svc.cluster.local" {
		t.Errorf("backend %+v", b.Value)
	}
	again, err := importer.MakePlan(ctx, api, rs, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(again); got[importer.ActionSkip] != len(rs) {
		t.Fatalf("re-run plan %v, want all %d skip", got, len(rs))
	}
}
