package controlplane

import (
	"strings"
	"testing"
)

// TestARNRoundTrip checks that every kind's ARN parses back to its kind
// and key, and that near-misses do not parse.
func TestARNRoundTrip(t *testing.T) {
	s := New(Config{AccountID: "111122223333", Region: "eu-west-1"})
	cases := []struct {
		name string
		kind Kind
		key  Key
		arn  string
	}{
		{"mesh", KindMesh, Key{Mesh: "m"}, "mesh/m"},
		{"virtual node", KindVirtualNode, Key{Mesh: "m", Name: "n"}, "mesh/m/virtualNode/n"},
		{"virtual service", KindVirtualService, Key{Mesh: "m", Name: "a.b.local"}, "mesh/m/virtualService/a.b.local"},
		{"virtual router", KindVirtualRouter, Key{Mesh: "m", Name: "r"}, "mesh/m/virtualRouter/r"},
		{"route", KindRoute, Key{Mesh: "m", Parent: "r", Name: "x"}, "mesh/m/virtualRouter/r/route/x"},
		{"virtual gateway", KindVirtualGateway, Key{Mesh: "m", Name: "g"}, "mesh/m/virtualGateway/g"},
		{"gateway route", KindGatewayRoute, Key{Mesh: "m", Parent: "g", Name: "x"}, "mesh/m/virtualGateway/g/gatewayRoute/x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arn := s.ARN(tc.kind, tc.key)
			if want := "arn:aws:appmesh:eu-west-1:111122223333:" + tc.arn; arn != want {
				t.Fatalf("ARN %s, want %s", arn, want)
			}
			kind, key, err := s.Resolve(arn)
			if err != nil || kind != tc.kind || key != tc.key {
				t.Errorf("Resolve(%s) = %v %+v %v", arn, kind, key, err)
			}
		})
	}
	for _, bad := range []string{
		"arn:aws:appmesh:eu-west-1:111122223333:mesh/",
		"arn:aws:appmesh:eu-west-1:111122223333:mesh/m/virtualRouter/r/gatewayRoute/x",
		"arn:aws:appmesh:eu-west-1:111122223333:mesh/m/route/x",
		"arn:aws:appmesh:us-east-1:111122223333:mesh/m",
		"arn:aws:appmesh:eu-west-1:111122223333:mesh/m/virtualNode/n/extra",
		"arn:aws:appmesh:eu-west-1:111122223333:mesh/m//n",
		strings.Repeat("x", 10),
	} {
		if _, _, err := s.Resolve(bad); err == nil {
			t.Errorf("Resolve(%q) accepted", bad)
		}
	}
}

// TestOperationsMatchTheModel checks that the API has the 38 operations of
// appmesh 2019-01-25 with the model's methods and paths (spot-checked).
func TestOperationsMatchTheModel(t *testing.T) {
	svc := New(Config{AccountID: "111122223333", Region: "eu-west-1"}).API()
	if n := len(svc.Operations); n != 38 {
		t.Errorf("%d operations, want 38", n)
	}
	want := map[string]string{
		"CreateMesh":           "PUT /v20190125/meshes",
		"ListMeshes":           "GET /v20190125/meshes",
		"DeleteMesh":           "DELETE /v20190125/meshes/{meshName}",
		"CreateVirtualNode":    "PUT /v20190125/meshes/{meshName}/virtualNodes",
		"UpdateRoute":          "PUT /v20190125/meshes/{meshName}/virtualRouter/{virtualRouterName}/routes/{routeName}",
		"DescribeGatewayRoute": "GET /v20190125/meshes/{meshName}/virtualGateway/{virtualGatewayName}/gatewayRoutes/{gatewayRouteName}",
		"ListVirtualGateways":  "GET /v20190125/meshes/{meshName}/virtualGateways",
		"DeleteVirtualService": "DELETE /v20190125/meshes/{meshName}/virtualServices/{virtualServiceName}",
		"TagResource":          "PUT /v20190125/tag",
		"UntagResource":        "PUT /v20190125/untag",
		"ListTagsForResource":  "GET /v20190125/tags",
	}
	got := map[string]string{}
	for _, r := range svc.REST {
		got[r.Operation] = r.Method + " " + r.Path
		if _, ok := svc.Operations[r.Operation]; !ok {
			t.Errorf("route to missing operation %s", r.Operation)
		}
	}
	for op, w := range want {
		if got[op] != w {
			t.Errorf("%s: %q, want %q", op, got[op], w)
		}
	}
}
