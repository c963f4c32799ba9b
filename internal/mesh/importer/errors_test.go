package importer

import (
	"strings"
	"testing"
)

const cfnHead = "AWSTemplateFormatVersion: '2010-09-09'\n"

// TestCloudFormationRefusals: every template the importer cannot turn
// into exactly what CloudFormation would create is an error naming the
// resource and property and saying what to do.
func TestCloudFormationRefusals(t *testing.T) {
	t.Parallel()
	mesh := "  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: m\n"
	for _, tc := range []struct {
		name, body string
		opt        Options
		want       []string
	}{
		{"parameter without default", "Parameters:\n  Cert: {Type: String}\nResources:\n" + mesh +
			"  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      Spec:\n        Listeners:\n          - TLS: {Certificate: {ACM: {CertificateArn: !Ref Cert}}}\n",
			Options{}, []string{"resource N", "Spec.Listeners[0].TLS.Certificate.ACM.CertificateArn", "--parameter Cert=VALUE"}},
		{"ref to resource outside app mesh", "Resources:\n" + mesh + "  C:\n    Type: AWS::CertificateManager::Certificate\n" +
			"  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      Spec: {Listeners: [{TLS: {Certificate: {ACM: {CertificateArn: !Ref C}}}}]}\n",
			Options{}, []string{"resource N", "Ref C", "outside App Mesh", "--parameter C=VALUE"}},
		{"getatt outside app mesh", "Resources:\n" + mesh + "  NS:\n    Type: AWS::ServiceDiscovery::PrivateDnsNamespace\n" +
			"  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      Spec: {ServiceDiscovery: {AWSCloudMap: {NamespaceName: !GetAtt NS.Name, ServiceName: s}}}\n",
			Options{}, []string{"GetAtt NS.Name", "--parameter NS.Name=VALUE"}},
		{"getatt of missing resource", "Resources:\n  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: !GetAtt Nope.MeshName\n      Spec: {}\n",
			Options{}, []string{"resource N", "property MeshName", "GetAtt Nope.MeshName", "no such resource"}},
		{"getatt unknown attribute", "Resources:\n" + mesh + "  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: !GetAtt M.Uid\n      Spec: {}\n",
			Options{}, []string{"GetAtt M.Uid", "no such attribute"}},
		{"arn without account", "Resources:\n" + mesh + "  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      Spec: {Logging: {AccessLog: {File: {Path: !Ref M}}}}\n",
			Options{Region: "us-east-1"}, []string{"ARN of M", "--account-id"}},
		{"pseudo parameter unknown", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: !Sub '${AWS::StackName}-mesh'\n",
			Options{}, []string{"resource M", "AWS::StackName", "--stack-name"}},
		{"unsupported function", "Conditions: {C: !Equals [a, a]}\nResources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: !If [C, a, b]\n",
			Options{}, []string{"resource M", "Fn::If", "not supported"}},
		{"unknown short tag", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: !Bogus x\n",
			Options{}, []string{"Fn::Bogus", "not supported"}},
		{"condition on resource", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Condition: C\n    Properties: {MeshName: m}\n",
			Options{}, []string{"resource M", "Condition is not supported"}},
		{"unknown property", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: m, Colour: red}\n",
			Options{}, []string{"resource M", "property Colour", "unknown property"}},
		{"unknown app mesh type", "Resources:\n  M:\n    Type: AWS::AppMesh::Teleporter\n", Options{}, []string{"resource M", "unknown App Mesh type"}},
		{"missing spec", "Resources:\n" + mesh + "  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties: {MeshName: m}\n",
			Options{}, []string{"resource N", "Spec is required"}},
		{"missing mesh name", "Resources:\n  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties: {Spec: {}}\n",
			Options{}, []string{"resource N", "property MeshName", "required"}},
		{"route without router", "Resources:\n" + mesh + "  R:\n    Type: AWS::AppMesh::Route\n    Properties: {MeshName: m, Spec: {}}\n",
			Options{}, []string{"resource R", "property VirtualRouterName", "required"}},
		{"slash in name", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: a/b}\n",
			Options{}, []string{"resource M", "property MeshName", "'/'"}},
		{"name too long", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: " + strings.Repeat("a", 256) + "}\n",
			Options{}, []string{"resource M", "longer than 255"}},
		{"name from a list", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: [a]}\n",
			Options{}, []string{"resource M", "not a string"}},
		{"names depend on each other", "Resources:\n  A:\n    Type: AWS::AppMesh::VirtualNode\n    Properties: {MeshName: !GetAtt B.MeshName, Spec: {}}\n" +
			"  B:\n    Type: AWS::AppMesh::VirtualNode\n    Properties: {MeshName: !GetAtt A.MeshName, Spec: {}}\n",
			Options{}, []string{"depends on itself"}},
		{"sub unterminated", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: !Sub 'a-${Name'}\n",
			Options{}, []string{"resource M", "unterminated"}},
		{"join of a map", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: !Join ['-', [a, {b: c}]]}\n",
			Options{}, []string{"resource M", "Fn::Join", "every value must be a string"}},
		{"select out of range", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: !Select [3, [a, b]]}\n",
			Options{}, []string{"resource M", "out of range"}},
		{"getatt without attribute", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: !GetAtt M}\n",
			Options{}, []string{"LogicalId.Attribute"}},
		{"ref to nothing", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: !Ref Nothing}\n",
			Options{}, []string{"Ref Nothing", "no such parameter or resource"}},
		{"duplicate key", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: a, MeshName: b}\n",
			Options{}, []string{"appears twice"}},
		{"merge key", "Base: &b {MeshName: a}\nResources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      <<: *b\n",
			Options{}, []string{"merge keys"}},
		{"alias bomb", aliasBomb(), Options{}, []string{"too large"}},
		{"two resources one name", "Resources:\n" + mesh + "  M2:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: m}\n",
			Options{}, []string{"Mesh m is defined twice", "M2"}},
		{"properties that collide", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: m, Spec: {EgressFilter: {Type: DROP_ALL}, egressFilter: {type: ALLOW_ALL}}}\n",
			Options{}, []string{"resource M", "property Spec", "egressFilter"}},
		{"tags without value", "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: {MeshName: m, Tags: [{Key: a}]}\n",
			Options{}, []string{"Tags[0]", "Key and Value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFiles([]File{{Name: "t.yaml", Data: []byte(cfnHead + tc.body)}}, FormatCloudFormation, tc.opt)
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// aliasBomb is a billion-laughs document: a few lines that expand to
// 10^9 nodes through aliases.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("Resources: {M: {Type: AWS::AppMesh::Mesh, Properties: {MeshName: m, Spec: {X: *a9}}}}\n")
	return b.String()
}

// TestCloudFormationResolves covers the intrinsic forms the Color App
// does not use.
func TestCloudFormationResolves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, meshName string
		opt            Options
		want           string
	}{
		{"sub with variables", `!Sub ['${A}-${B}', {A: x, B: !Ref P}]`, Options{}, "x-p"},
		{"sub literal", `!Sub 'a${!Literal}'`, Options{}, "a${Literal}"},
		{"sub long form getatt", `{"Fn::Sub": "${N.VirtualNodeName}-mesh"}`, Options{}, "node-mesh"},
		{"select", `!Select [1, [a, b]]`, Options{}, "b"},
		{"parameter override", `!Ref P`, Options{Values: map[string]string{"P": "over"}}, "over"},
		{"numeric default", `!Ref Num`, Options{}, "7"},
		{"pseudo parameters", `!Sub '${AWS::StackName}-${AWS::Region}-${AWS::AccountId}'`, Options{StackName: "s", Region: "eu-west-1", AccountID: "1"}, "s-eu-west-1-1"},
		{"getatt long form", `{"Fn::GetAtt": [N, VirtualNodeName]}`, Options{}, "node"},
		{"getatt value given", `!GetAtt Ext.Name`, Options{Values: map[string]string{"Ext.Name": "ext"}}, "ext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := cfnHead + "Parameters: {P: {Type: String, Default: p}, Num: {Type: Number, Default: 7}}\nResources:\n" +
				"  Ext: {Type: AWS::Foo::Bar}\n" +
				"  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: " + tc.meshName + "\n" +
				"  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties: {MeshName: m, VirtualNodeName: node, Spec: {}}\n"
			rs, err := ParseCloudFormation("t.yaml", []byte(body), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Kind != KindMesh || rs[0].Name != tc.want {
				t.Errorf("mesh name %q, want %q", rs[0].Name, tc.want)
			}
		})
	}
}

func TestCloudFormationNoValueAndARN(t *testing.T) {
	t.Parallel()
	body := cfnHead + "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: m\n      Spec: {EgressFilter: {Type: ALLOW_ALL}, ServiceDiscovery: !Ref AWS::NoValue}\n" +
		"  R:\n    Type: AWS::AppMesh::Route\n    Properties:\n      MeshName: m\n      VirtualRouterName: r\n      RouteName: x\n      Spec: {HttpRoute: {Match: {Prefix: !Ref R}}, Priority: !Ref AWS::NoValue}\n" +
		"  G:\n    Type: AWS::AppMesh::VirtualGateway\n    Properties: {MeshName: m, Spec: {}}\n"
	rs, err := ParseCloudFormation("t.yaml", []byte(body), Options{Region: "cn-north-1", AccountID: "123"})
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[Kind]Resource{}
	for _, r := range rs {
		byKind[r.Kind] = r
	}
	if got := string(byKind[KindMesh].Spec); got != `{"egressFilter":{"type":"ALLOW_ALL"}}` {
		t.Errorf("mesh spec %s: AWS::NoValue must remove the member", got)
	}
	if got := string(byKind[KindRoute].Spec); got != `{"httpRoute":{"match":{"prefix":"arn:aws-cn:appmesh:cn-north-1:123:mesh/m/virtualRouter/r/route/x"}}}` {
		t.Errorf("route spec %s", got)
	}
	if g := byKind[KindVirtualGateway]; g.Name != "G" || len(g.Notes) == 0 || !strings.Contains(g.Notes[0], "logical ID") {
		t.Errorf("unnamed gateway: name %q notes %q; want the logical ID and a note", g.Name, g.Notes)
	}
}

func TestCamelKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"PortMapping": "portMapping", "DNS": "dns", "TLS": "tls", "HTTP2": "http2", "GRPC": "grpc", "TCP": "tcp",
		"ACM": "acm", "SDS": "sds", "AWSCloudMap": "awsCloudMap", "Http2Route": "http2Route", "IpPreference": "ipPreference",
		"CertificateAuthorityArns": "certificateAuthorityArns", "X": "x", "already": "already", "": "",
	} {
		if got := camelKey(in); got != want {
			t.Errorf("camelKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKubernetesRefusals: controller resources the importer cannot map
// exactly are errors naming the object and field.
func TestKubernetesRefusals(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: appmesh.k8s.aws/v1beta2\n"
	mesh := head + "kind: Mesh\nmetadata: {name: a}\n---\n"
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"v1beta1", "apiVersion: appmesh.k8s.aws/v1beta1\nkind: Mesh\nmetadata: {name: m}\n", []string{"v1beta1 is not supported"}},
		{"unknown kind", head + "kind: Teleporter\nmetadata: {name: m}\n", []string{"unknown", "Teleporter"}},
		{"no name", head + "kind: Mesh\nmetadata: {}\n", []string{"without metadata.name"}},
		{"two meshes no meshRef", mesh + head + "kind: Mesh\nmetadata: {name: b}\n---\n" + head + "kind: VirtualNode\nmetadata: {name: n, namespace: x}\nspec: {}\n",
			[]string{"VirtualNode x/n", "2 meshes", "--mesh"}},
		{"no mesh at all", head + "kind: VirtualNode\nmetadata: {name: n, namespace: x}\nspec: {}\n", []string{"VirtualNode x/n", "0 meshes"}},
		{"ref without name", mesh + head + "kind: VirtualService\nmetadata: {name: s, namespace: x}\nspec: {provider: {virtualNode: {virtualNodeRef: {namespace: x}}}}\n",
			[]string{"VirtualService x/s", "spec.provider.virtualNode", "without a name"}},
		{"provider without ref", mesh + head + "kind: VirtualService\nmetadata: {name: s, namespace: x}\nspec: {provider: {virtualRouter: {}}}\n",
			[]string{"spec.provider.virtualRouter", "virtualRouterRef or virtualRouterARN"}},
		{"arn of another mesh", mesh + head + "kind: VirtualService\nmetadata: {name: s, namespace: x}\nspec: {provider: {virtualNode: {virtualNodeARN: 'arn:aws:appmesh:us-east-1:1:mesh/other/virtualNode/n'}}}\n",
			[]string{"in mesh \"other\"", "across meshes"}},
		{"arn of another kind", mesh + head + "kind: VirtualService\nmetadata: {name: s, namespace: x}\nspec: {provider: {virtualNode: {virtualNodeARN: 'arn:aws:appmesh:us-east-1:1:mesh/a/virtualRouter/n'}}}\n",
			[]string{"not the ARN of a VirtualNode"}},
		{"not an arn", mesh + head + "kind: VirtualNode\nmetadata: {name: n, namespace: x}\nspec: {backends: [{virtualService: {virtualServiceARN: 'x'}}]}\n",
			[]string{"spec.backends[0].virtualService", "not an App Mesh ARN"}},
		{"backend without virtualService", mesh + head + "kind: VirtualNode\nmetadata: {name: n, namespace: x}\nspec: {backends: [{}]}\n",
			[]string{"spec.backends[0]", "needs virtualService"}},
		{"route without name", mesh + head + "kind: VirtualRouter\nmetadata: {name: r, namespace: x}\nspec: {routes: [{httpRoute: {}}]}\n",
			[]string{"VirtualRouter x/r", "spec.routes[0]", "needs a name"}},
		{"gateway route without gateway", mesh + head + "kind: VirtualGateway\nmetadata: {name: g1, namespace: x}\n---\n" +
			head + "kind: VirtualGateway\nmetadata: {name: g2, namespace: x}\n---\n" + head + "kind: GatewayRoute\nmetadata: {name: gr, namespace: x}\nspec: {}\n",
			[]string{"GatewayRoute x/gr", "2 virtual gateways", "virtualGatewayRef"}},
		{"defined twice", mesh + head + "kind: Mesh\nmetadata: {name: a}\n", []string{"Mesh a", "defined twice"}},
		{"cloudformation tag", head + "kind: Mesh\nmetadata: {name: !Ref X}\n", []string{"unknown YAML tag !Ref"}},
		{"same app mesh name twice", mesh + head + "kind: VirtualNode\nmetadata: {name: n, namespace: x}\nspec: {awsName: same}\n---\n" +
			head + "kind: VirtualNode\nmetadata: {name: o, namespace: x}\nspec: {awsName: same}\n", []string{"VirtualNode a/same is defined twice"}},
		{"slash in awsName", mesh + head + "kind: VirtualNode\nmetadata: {name: n, namespace: x}\nspec: {awsName: 'a/b'}\n", []string{"'/'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseFiles([]File{{Name: "k.yaml", Data: []byte(tc.body)}}, FormatKubernetes, Options{})
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestKubernetesNamingAndRefs(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: appmesh.k8s.aws/v1beta2\n"
	body := head + "kind: Mesh\nmetadata: {name: k8s-mesh}\nspec: {awsName: real-mesh, meshServiceDiscovery: {ipPreference: IPv4_ONLY}}\n---\n" +
		"apiVersion: v1\nkind: List\nitems:\n" +
		"- " + strings.ReplaceAll(head, "\n", "") + "\n  kind: VirtualService\n  metadata: {name: svc, namespace: ns}\n  spec:\n    meshRef: {name: k8s-mesh, uid: x}\n    provider: {virtualNode: {virtualNodeRef: {name: missing, namespace: other}}}\n" +
		"---\n" + head + "kind: VirtualNode\nmetadata: {name: n}\nspec: {backendGroups: [{name: g}], backends: [{virtualService: {virtualServiceARN: 'arn:aws:appmesh:us-east-1:1:mesh/real-mesh/virtualService/by-arn'}}]}\n"
	rs, err := ParseFiles([]File{{Name: "k.yaml", Data: []byte(body)}}, FormatKubernetes, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[Kind]Resource{}
	for _, r := range rs {
		got[r.Kind] = r
	}
	if m := got[KindMesh]; m.Name != "real-mesh" || string(m.Spec) != `{"serviceDiscovery":{"ipPreference":"IPv4_ONLY"}}` {
		t.Errorf("mesh %q %s", m.Name, m.Spec)
	}
	vs := got[KindVirtualService]
	if vs.Name != "svc.ns" || vs.Mesh != "real-mesh" || string(vs.Spec) != `{"provider":{"virtualNode":{"virtualNodeName":"missing_other"}}}` {
		t.Errorf("virtual service %q in %q: %s", vs.Name, vs.Mesh, vs.Spec)
	}
	if len(vs.Notes) != 1 || !strings.Contains(vs.Notes[0], "not in the input") {
		t.Errorf("virtual service notes %q: want one about the missing node", vs.Notes)
	}
	vn := got[KindVirtualNode]
	if vn.Name != "n_default" || string(vn.Spec) != `{"backends":[{"virtualService":{"virtualServiceName":"by-arn"}}]}` {
		t.Errorf("virtual node %q: %s", vn.Name, vn.Spec)
	}
	if len(vn.Notes) != 1 || !strings.Contains(vn.Notes[0], "backendGroups") {
		t.Errorf("virtual node notes %q", vn.Notes)
	}
	// --mesh wins over the input's only mesh.
	one := head + "kind: Mesh\nmetadata: {name: only}\n---\n" + head + "kind: VirtualNode\nmetadata: {name: n}\n"
	rs, err = ParseFiles([]File{{Name: "k.yaml", Data: []byte(one)}}, FormatKubernetes, Options{DefaultMesh: "chosen"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Kind == KindVirtualNode && r.Mesh != "chosen" {
			t.Errorf("with DefaultMesh, node in %q", r.Mesh)
		}
	}
}
