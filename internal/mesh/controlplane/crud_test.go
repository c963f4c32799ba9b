package controlplane_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"
	"github.com/aws/aws-sdk-go-v2/service/appmesh/types"

	"github.com/bulwarkd/bulwark/internal/server/servertest"
)

const arnPrefix = "arn:aws:appmesh:" + servertest.Region + ":" + servertest.AccountID + ":"

func checkMeta(t *testing.T, what string, m *types.ResourceMetadata, arn string, version int64) {
	t.Helper()
	if m == nil {
		t.Fatalf("%s: no metadata", what)
	}
	if aws.ToString(m.Arn) != arnPrefix+arn {
		t.Errorf("%s: arn %s, want %s", what, aws.ToString(m.Arn), arnPrefix+arn)
	}
	if aws.ToInt64(m.Version) != version {
		t.Errorf("%s: version %d, want %d", what, aws.ToInt64(m.Version), version)
	}
	if aws.ToString(m.MeshOwner) != servertest.AccountID || aws.ToString(m.ResourceOwner) != servertest.AccountID {
		t.Errorf("%s: owners %s/%s", what, aws.ToString(m.MeshOwner), aws.ToString(m.ResourceOwner))
	}
	if aws.ToString(m.Uid) == "" || m.CreatedAt == nil || m.LastUpdatedAt == nil || m.CreatedAt.IsZero() {
		t.Errorf("%s: incomplete metadata %+v", what, m)
	}
}

// TestEveryKindLifecycle creates, describes, updates, lists and deletes
// one resource of every kind, in the order App Mesh's references allow,
// and checks metadata (ARN, version 1 then 2, timestamps) and status.
func TestEveryKindLifecycle(t *testing.T) {
	srv, c := start(t)
	ctx := context.Background()

	mesh := mustCreateMesh(t, c, "m")
	checkMeta(t, "mesh", mesh.Metadata, "mesh/m", 1)
	if mesh.Status.Status != types.MeshStatusCodeActive {
		t.Errorf("mesh status %s", mesh.Status.Status)
	}
	if mesh.Spec == nil || mesh.Spec.EgressFilter == nil || mesh.Spec.EgressFilter.Type != types.EgressFilterTypeDropAll {
		t.Errorf("mesh spec default: %+v", mesh.Spec)
	}
	created := *mesh.Metadata.CreatedAt

	node := mustCreateNode(t, c, "m", "n1")
	checkMeta(t, "virtual node", node.Metadata, "mesh/m/virtualNode/n1", 1)
	mustCreateNode(t, c, "m", "n2")

	vr, err := c.CreateVirtualRouter(ctx, &appmesh.CreateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r"),
		Spec: &types.VirtualRouterSpec{Listeners: []types.VirtualRouterListener{{PortMapping: &types.PortMapping{Port: aws.Int32(9080), Protocol: types.PortProtocolHttp}}}}})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "virtual router", vr.VirtualRouter.Metadata, "mesh/m/virtualRouter/r", 1)

	rt, err := c.CreateRoute(ctx, routeTo("m", "r", "rt", map[string]int32{"n1": 100}))
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "route", rt.Route.Metadata, "mesh/m/virtualRouter/r/route/rt", 1)
	if aws.ToString(rt.Route.VirtualRouterName) != "r" || aws.ToString(rt.Route.RouteName) != "rt" {
		t.Errorf("route names: %+v", rt.Route)
	}

	vs, err := c.CreateVirtualService(ctx, &appmesh.CreateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.mesh.local"),
		Spec: &types.VirtualServiceSpec{Provider: &types.VirtualServiceProviderMemberVirtualRouter{Value: types.VirtualRouterServiceProvider{VirtualRouterName: aws.String("r")}}}})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "virtual service", vs.VirtualService.Metadata, "mesh/m/virtualService/svc.mesh.local", 1)

	gw, err := c.CreateVirtualGateway(ctx, &appmesh.CreateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec()})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "virtual gateway", gw.VirtualGateway.Metadata, "mesh/m/virtualGateway/gw", 1)

	gr, err := c.CreateGatewayRoute(ctx, gatewayRouteTo("m", "gw", "gr", "svc.mesh.local"))
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "gateway route", gr.GatewayRoute.Metadata, "mesh/m/virtualGateway/gw/gatewayRoute/gr", 1)

	// Updates: each adds one to the version and moves lastUpdatedAt.
	srv.Clock.Advance(time.Minute)
	um, err := c.UpdateMesh(ctx, &appmesh.UpdateMeshInput{MeshName: aws.String("m"), Spec: &types.MeshSpec{EgressFilter: &types.EgressFilter{Type: types.EgressFilterTypeAllowAll}}})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "updated mesh", um.Mesh.Metadata, "mesh/m", 2)
	if !um.Mesh.Metadata.LastUpdatedAt.After(created) || !um.Mesh.Metadata.CreatedAt.Equal(created) {
		t.Errorf("timestamps after update: created %v updated %v", um.Mesh.Metadata.CreatedAt, um.Mesh.Metadata.LastUpdatedAt)
	}
	if um.Mesh.Spec.EgressFilter.Type != types.EgressFilterTypeAllowAll {
		t.Errorf("mesh spec not updated: %+v", um.Mesh.Spec.EgressFilter)
	}
	for i := int64(2); i <= 3; i++ {
		un, err := c.UpdateVirtualNode(ctx, &appmesh.UpdateVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n1"),
			Spec: &types.VirtualNodeSpec{Listeners: []types.Listener{httpListener(int32(9080 + i))}}})
		if err != nil {
			t.Fatal(err)
		}
		checkMeta(t, "updated node", un.VirtualNode.Metadata, "mesh/m/virtualNode/n1", i)
		if p := aws.ToInt32(un.VirtualNode.Spec.Listeners[0].PortMapping.Port); p != int32(9080+i) {
			t.Errorf("node port %d after update %d", p, i)
		}
	}
	if _, err := c.UpdateVirtualRouter(ctx, &appmesh.UpdateVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r"),
		Spec: &types.VirtualRouterSpec{Listeners: []types.VirtualRouterListener{{PortMapping: &types.PortMapping{Port: aws.Int32(9081), Protocol: types.PortProtocolHttp}}}}}); err != nil {
		t.Fatal(err)
	}
	in := routeTo("m", "r", "rt", map[string]int32{"n1": 50, "n2": 50})
	urt, err := c.UpdateRoute(ctx, &appmesh.UpdateRouteInput{MeshName: in.MeshName, VirtualRouterName: in.VirtualRouterName, RouteName: in.RouteName, Spec: in.Spec})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "updated route", urt.Route.Metadata, "mesh/m/virtualRouter/r/route/rt", 2)
	if n := len(urt.Route.Spec.HttpRoute.Action.WeightedTargets); n != 2 {
		t.Errorf("route targets after update: %d", n)
	}
	if _, err := c.UpdateVirtualService(ctx, &appmesh.UpdateVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.mesh.local"),
		Spec: nodeService("m", "svc.mesh.local", "n2").Spec}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateVirtualGateway(ctx, &appmesh.UpdateVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), Spec: gatewaySpec()}); err != nil {
		t.Fatal(err)
	}
	gin := gatewayRouteTo("m", "gw", "gr", "svc.mesh.local")
	if _, err := c.UpdateGatewayRoute(ctx, &appmesh.UpdateGatewayRouteInput{MeshName: gin.MeshName, VirtualGatewayName: gin.VirtualGatewayName, GatewayRouteName: gin.GatewayRouteName, Spec: gin.Spec}); err != nil {
		t.Fatal(err)
	}

	// Describe sees the latest version of each.
	dn, err := c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n1")})
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "described node", dn.VirtualNode.Metadata, "mesh/m/virtualNode/n1", 3)
	dvs, err := c.DescribeVirtualService(ctx, &appmesh.DescribeVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.mesh.local")})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := dvs.VirtualService.Spec.Provider.(*types.VirtualServiceProviderMemberVirtualNode); !ok || aws.ToString(p.Value.VirtualNodeName) != "n2" {
		t.Errorf("virtual service provider after update: %#v", dvs.VirtualService.Spec.Provider)
	}
	checkMeta(t, "described service", dvs.VirtualService.Metadata, "mesh/m/virtualService/svc.mesh.local", 2)
	for _, d := range []struct {
		name string
		call func() (*types.ResourceMetadata, error)
		arn  string
	}{
		{"mesh", func() (*types.ResourceMetadata, error) {
			o, err := c.DescribeMesh(ctx, &appmesh.DescribeMeshInput{MeshName: aws.String("m")})
			if err != nil {
				return nil, err
			}
			return o.Mesh.Metadata, nil
		}, "mesh/m"},
		{"router", func() (*types.ResourceMetadata, error) {
			o, err := c.DescribeVirtualRouter(ctx, &appmesh.DescribeVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r")})
			if err != nil {
				return nil, err
			}
			return o.VirtualRouter.Metadata, nil
		}, "mesh/m/virtualRouter/r"},
		{"route", func() (*types.ResourceMetadata, error) {
			o, err := c.DescribeRoute(ctx, &appmesh.DescribeRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r"), RouteName: aws.String("rt")})
			if err != nil {
				return nil, err
			}
			return o.Route.Metadata, nil
		}, "mesh/m/virtualRouter/r/route/rt"},
		{"gateway", func() (*types.ResourceMetadata, error) {
			o, err := c.DescribeVirtualGateway(ctx, &appmesh.DescribeVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")})
			if err != nil {
				return nil, err
			}
			return o.VirtualGateway.Metadata, nil
		}, "mesh/m/virtualGateway/gw"},
		{"gateway route", func() (*types.ResourceMetadata, error) {
			o, err := c.DescribeGatewayRoute(ctx, &appmesh.DescribeGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("gr")})
			if err != nil {
				return nil, err
			}
			return o.GatewayRoute.Metadata, nil
		}, "mesh/m/virtualGateway/gw/gatewayRoute/gr"},
	} {
		m, err := d.call()
		if err != nil {
			t.Fatalf("describe %s: %v", d.name, err)
		}
		checkMeta(t, "described "+d.name, m, d.arn, 2)
	}

	// Lists carry every resource's version: the poll a proxy makes.
	ln, err := c.ListVirtualNodes(ctx, &appmesh.ListVirtualNodesInput{MeshName: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ln.VirtualNodes) != 2 || aws.ToString(ln.VirtualNodes[0].VirtualNodeName) != "n1" || aws.ToInt64(ln.VirtualNodes[0].Version) != 3 || aws.ToInt64(ln.VirtualNodes[1].Version) != 1 {
		t.Errorf("ListVirtualNodes: %+v", ln.VirtualNodes)
	}
	counts := map[string]func() (int, error){
		"meshes": func() (int, error) {
			o, err := c.ListMeshes(ctx, &appmesh.ListMeshesInput{})
			return lenOr(o, err, func() int { return len(o.Meshes) })
		},
		"services": func() (int, error) {
			o, err := c.ListVirtualServices(ctx, &appmesh.ListVirtualServicesInput{MeshName: aws.String("m")})
			return lenOr(o, err, func() int { return len(o.VirtualServices) })
		},
		"routers": func() (int, error) {
			o, err := c.ListVirtualRouters(ctx, &appmesh.ListVirtualRoutersInput{MeshName: aws.String("m")})
			return lenOr(o, err, func() int { return len(o.VirtualRouters) })
		},
		"routes": func() (int, error) {
			o, err := c.ListRoutes(ctx, &appmesh.ListRoutesInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r")})
			return lenOr(o, err, func() int { return len(o.Routes) })
		},
		"gateways": func() (int, error) {
			o, err := c.ListVirtualGateways(ctx, &appmesh.ListVirtualGatewaysInput{MeshName: aws.String("m")})
			return lenOr(o, err, func() int { return len(o.VirtualGateways) })
		},
		"gateway routes": func() (int, error) {
			o, err := c.ListGatewayRoutes(ctx, &appmesh.ListGatewayRoutesInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")})
			return lenOr(o, err, func() int { return len(o.GatewayRoutes) })
		},
	}
	for name, f := range counts {
		if n, err := f(); err != nil || n != 1 {
			t.Errorf("list %s: %d, %v", name, n, err)
		}
	}

	// Deletes, children first; each answers the resource with DELETED.
	dgr, err := c.DeleteGatewayRoute(ctx, &appmesh.DeleteGatewayRouteInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw"), GatewayRouteName: aws.String("gr")})
	if err != nil {
		t.Fatal(err)
	}
	if dgr.GatewayRoute.Status.Status != types.GatewayRouteStatusCodeDeleted {
		t.Errorf("deleted gateway route status %s", dgr.GatewayRoute.Status.Status)
	}
	steps := []func() error{
		func() error {
			_, err := c.DeleteVirtualGateway(ctx, &appmesh.DeleteVirtualGatewayInput{MeshName: aws.String("m"), VirtualGatewayName: aws.String("gw")})
			return err
		},
		func() error {
			_, err := c.DeleteVirtualService(ctx, &appmesh.DeleteVirtualServiceInput{MeshName: aws.String("m"), VirtualServiceName: aws.String("svc.mesh.local")})
			return err
		},
		func() error {
			_, err := c.DeleteRoute(ctx, &appmesh.DeleteRouteInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r"), RouteName: aws.String("rt")})
			return err
		},
		func() error {
			_, err := c.DeleteVirtualRouter(ctx, &appmesh.DeleteVirtualRouterInput{MeshName: aws.String("m"), VirtualRouterName: aws.String("r")})
			return err
		},
		func() error {
			_, err := c.DeleteVirtualNode(ctx, &appmesh.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n2")})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("delete step %d: %v", i, err)
		}
	}
	dvn, err := c.DeleteVirtualNode(ctx, &appmesh.DeleteVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n1")})
	if err != nil {
		t.Fatal(err)
	}
	if dvn.VirtualNode.Status.Status != types.VirtualNodeStatusCodeDeleted || aws.ToInt64(dvn.VirtualNode.Metadata.Version) != 3 {
		t.Errorf("deleted node: %+v %+v", dvn.VirtualNode.Status, dvn.VirtualNode.Metadata)
	}
	_, err = c.DescribeVirtualNode(ctx, &appmesh.DescribeVirtualNodeInput{MeshName: aws.String("m"), VirtualNodeName: aws.String("n1")})
	wantErr(t, err, "NotFoundException", http.StatusNotFound, "n1")
	dm, err := c.DeleteMesh(ctx, &appmesh.DeleteMeshInput{MeshName: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	if dm.Mesh.Status.Status != types.MeshStatusCodeDeleted {
		t.Errorf("deleted mesh status %s", dm.Mesh.Status.Status)
	}
	_, err = c.ListVirtualNodes(ctx, &appmesh.ListVirtualNodesInput{MeshName: aws.String("m")})
	wantErr(t, err, "NotFoundException", http.StatusNotFound, "Mesh m")

	// Every call is in the audit log under App Mesh's event source.
	log, err := os.ReadFile(filepath.Join(srv.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"eventSource":"appmesh.amazonaws.com"`, `"eventName":"CreateVirtualNode"`, `"eventName":"DeleteMesh"`, `"virtualNodeName":"n1"`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}

func lenOr(o any, err error, n func() int) (int, error) {
	if err != nil {
		return 0, err
	}
	return n(), nil
}

// TestPagination pages through virtual nodes and meshes with limit and
// nextToken, in name order, and refuses a forged token.
func TestPagination(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	mustCreateMesh(t, c, "m")
	mustCreateMesh(t, c, "m2")
	for i := range 5 {
		mustCreateNode(t, c, "m", fmt.Sprintf("node-%d", 4-i))
	}
	mustCreateNode(t, c, "m2", "other")
	var got []string
	var token *string
	pages := 0
	for {
		out, err := c.ListVirtualNodes(ctx, &appmesh.ListVirtualNodesInput{MeshName: aws.String("m"), Limit: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.VirtualNodes) > 2 {
			t.Fatalf("page of %d with limit 2", len(out.VirtualNodes))
		}
		for _, n := range out.VirtualNodes {
			got = append(got, aws.ToString(n.VirtualNodeName))
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	want := "[node-0 node-1 node-2 node-3 node-4]"
	if fmt.Sprint(got) != want || pages != 3 {
		t.Errorf("pages %d, names %v, want 3 pages of %s", pages, got, want)
	}
	// The SDK paginator drives the same tokens.
	p := appmesh.NewListMeshesPaginator(c, &appmesh.ListMeshesInput{Limit: aws.Int32(1)})
	var meshes []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Meshes {
			meshes = append(meshes, aws.ToString(m.MeshName))
		}
	}
	if fmt.Sprint(meshes) != "[m m2]" {
		t.Errorf("meshes %v", meshes)
	}
	for name, in := range map[string]*appmesh.ListVirtualNodesInput{
		"forged token":        {MeshName: aws.String("m"), NextToken: aws.String("!!not-a-token")},
		"token of other mesh": {MeshName: aws.String("m"), NextToken: aws.String("bTIvb3RoZXI")},
		"limit above 100":     {MeshName: aws.String("m"), Limit: aws.Int32(101)},
		"limit below 1":       {MeshName: aws.String("m"), Limit: aws.Int32(-1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ListVirtualNodes(ctx, in)
			wantErr(t, err, "BadRequestException", http.StatusBadRequest)
		})
	}
}
